"""The `wg` command: run the service in its embedded or production shapes, and admin tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from app.core import logs
from app.core.config import Settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _settings(*, console_on_terminal: bool = True) -> Settings:
    """The settings, with logging configured for them. `console_on_terminal`: without
    WG_LOG_FORMAT, a terminal gets console lines (`wg api` and `wg worker` pass False: JSON
    wherever they run, as their collectors expect)."""
    try:
        settings = Settings()
    except ValueError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    logs.configure(settings.log_level, _log_format(settings, console_on_terminal))
    return settings


def _log_format(settings: Settings, console_on_terminal: bool) -> logs.LogFormat:
    return settings.log_format or logs.default_format(console_on_terminal=console_on_terminal)


def _embedded_secret(data_dir: Path) -> str:
    """A random secret kept in the data directory, so `wg serve` is secure with no setup."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written to a file readable by the owner only from its creation, then linked into
        # place in one step: nobody ever sees it world-readable or half-written, and of two
        # processes starting at once the first one's secret stays.
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text().strip()


def _uvicorn_options(settings: Settings, *, console_on_terminal: bool) -> dict[str, Any]:
    return {
        "log_level": settings.log_level,
        # Our formatter for uvicorn's lines too, applied again in each `--workers` process.
        "log_config": logs.logging_config(
            settings.log_level, _log_format(settings, console_on_terminal)
        ),
        # Compression costs ~100 KiB of zlib state per websocket; our frames are small JSON.
        "ws_per_message_deflate": False,
        # The sans-I/O implementation keeps less state per idle connection than the legacy one.
        "ws": "websockets-sansio",
        # Clients only send small control messages (the endpoint refuses > 4 KiB anyway).
        "ws_max_size": 64 * 1024,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default (any local process
        # could then pick its address); the app applies WG_FORWARDED_ALLOW_IPS itself.
        "proxy_headers": False,
    }


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo data (idempotent)")] = False,
) -> None:
    """Everything in one process: SQLite (unless WG_DATABASE_URL), embedded Redis (unless
    WG_REDIS_URL), migrations, the API and the worker."""
    import uvicorn

    from app.core.redis import EmbeddedRedis

    data_dir = Path(os.environ.get("WG_DATA_DIR", "./var"))
    os.environ.setdefault("WG_SECRET_KEY", _embedded_secret(data_dir))
    embedded = None
    if not os.environ.get("WG_REDIS_URL"):
        embedded = EmbeddedRedis(data_dir)
        os.environ["WG_REDIS_URL"] = embedded.url
        typer.echo(f"embedded Redis on {embedded.url}")
    settings = _settings().model_copy(update={"run_worker_in_process": True})
    _migrate(settings)
    if demo:
        _seed_demo(settings)
    from app.main import create_app

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again so the exit status
    # tells; with the default action that would end the process before the `finally` below
    # stops the embedded Redis (a daemon, not our child: it would be left running). Ending
    # with SystemExit instead lets the clean-up run.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        options = _uvicorn_options(settings, console_on_terminal=True)
        uvicorn.run(create_app(settings), host=host, port=port, **options)
    finally:
        if embedded is not None:
            embedded.stop()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@cli.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """The API only (one replica); needs WG_DATABASE_URL, WG_REDIS_URL and WG_SECRET_KEY."""
    import uvicorn

    settings = _settings(console_on_terminal=False)
    settings.effective_redis_url  # noqa: B018  (fail early with a clear message)
    with _multiprocess_metrics(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **_uvicorn_options(settings, console_on_terminal=False),
        )


@contextlib.contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[None]:
    """Several API processes: prometheus-client's multiprocess mode (app/core/metrics.py), in
    the operator's PROMETHEUS_MULTIPROC_DIR or else a temporary directory, which the worker
    processes (started afresh by uvicorn) inherit. Emptied first: files of an earlier run
    would be counted again."""
    from app.core.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
    elif workers > 1:
        with tempfile.TemporaryDirectory(prefix="wg-metrics-") as tmp:
            os.environ[MULTIPROC_ENV] = tmp
            try:
                yield
            finally:
                del os.environ[MULTIPROC_ENV]
    else:
        yield


@cli.command()
def worker() -> None:
    """The arq worker: background jobs and cron."""
    from workers.settings import build_worker

    settings = _settings(console_on_terminal=False)
    # The event loop the API runs on (uvicorn picks uvloop): ~10 % less CPU per webhook call
    # than asyncio's own loop (bench/README.md).
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())
    build_worker(settings).run()


def _migrate(settings: Settings) -> None:
    from app.core.migrations import upgrade

    upgrade(settings)


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the latest."""
    _migrate(_settings())
    typer.echo("database is up to date")


def _seed_demo(settings: Settings) -> None:
    from app.demo import seed

    summary = asyncio.run(seed(settings))
    typer.echo(summary)


@cli.command()
def demo() -> None:
    """Seed the demo scenario (safe to run again: nothing is duplicated)."""
    settings = _settings()
    _migrate(settings)
    _seed_demo(settings)


@cli.command("create-user")
def create_user(
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()] = "",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin")] = False,
) -> None:
    """Create a user (an admin with --admin)."""
    from app.core.db import create_engine, create_session_factory
    from app.core.errors import DomainError
    from app.users.schemas import UserCreate
    from app.users.service import register

    settings = _settings()

    async def run() -> str:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                data = UserCreate(email=email, password=password, name=name or email.split("@")[0])
                user = await register(session=session, settings=settings, data=data, is_admin=admin)
                return str(user.id)
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except (DomainError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {user_id}{' (admin)' if admin else ''}")


@cli.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Print a new random key for WG_ENCRYPTION_KEYS."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@cli.command("rotate-encryption-key")
def rotate_encryption_key(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per read and per write")] = 500,
) -> None:
    """Re-encrypt every stored secret with the first of WG_ENCRYPTION_KEYS, so the keys after
    it (and a former WG_SECRET_KEY's derived key) are no longer needed. Safe to run again."""
    from app.core.crypto import keyring
    from app.core.db import create_engine
    from app.core.rekey import rotate_all

    # The embedded deployment's secret, as `wg serve` reads it: stored secrets may have been
    # encrypted with a key derived from it.
    secret_file = Path(os.environ.get("WG_DATA_DIR", "./var")) / "secret_key"
    if "WG_SECRET_KEY" not in os.environ and secret_file.exists():
        os.environ["WG_SECRET_KEY"] = secret_file.read_text().strip()
    settings = _settings()

    async def run() -> Any:
        engine = create_engine(settings)
        try:
            return await rotate_all(engine, keyring(settings), batch_size=batch_size)
        finally:
            await engine.dispose()

    outcome = asyncio.run(run())
    typer.echo(f"re-encrypted {outcome.reencrypted} secrets with the first key")
    if outcome.unreadable:
        where = ", ".join(sorted(outcome.unreadable))
        typer.secho(
            f"error: {len(outcome.unreadable)} secrets open with none of the keys "
            f"(was WG_SECRET_KEY changed, or a key removed, too early?): {where}",
            fg="red",
            err=True,
        )
    if outcome.pending:
        typer.secho(
            f"error: {outcome.pending} secrets were written with another key while this ran: "
            "run it again once every process has the new WG_ENCRYPTION_KEYS",
            fg="red",
            err=True,
        )
    if outcome.unreadable or outcome.pending:
        raise typer.Exit(1)


@cli.command()
def doctor() -> None:
    """Check the configuration, the database and its migrations, Redis and SMTP; print what
    to fix. Exits 1 when anything needs fixing."""
    from pydantic import ValidationError

    from app.ops import doctor as checks

    try:
        settings = Settings()
    except ValidationError as exc:
        for problem in checks.settings_problems(exc):
            typer.echo(checks.line(problem))
        typer.echo("(the other checks need settings that load)")
        raise typer.Exit(1) from None
    results = asyncio.run(checks.diagnose(settings))
    for result in results:
        typer.echo(checks.scrub(checks.line(result), settings))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def main() -> None:
    cli()
