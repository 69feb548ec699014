"""`wg doctor`: is this deployment's configuration sound, and can it reach what it needs?

Each check gives one line: ok, or the problem and how to fix it. Secrets are never printed:
URLs lose their passwords, and every message is scrubbed of the configured secret values
(a driver's error could quote one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from sqlalchemy import make_url

from app.core.config import DEV_SECRET_KEY, Settings

# A check that waits longer than this on a server counts it as unreachable.
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Result:
    name: str
    message: str
    fix: str | None = None  # None: ok

    @property
    def ok(self) -> bool:
        return self.fix is None


def settings_problems(exc: ValidationError) -> list[Result]:
    """Settings that do not load: one line per error (pydantic's messages name the setting,
    never its value: `hide_input_in_errors`)."""
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        name = f"WG_{where.upper()}" if where else "settings"
        out.append(Result(name, error["msg"], "set it as the message says, then run this again"))
    return out


def check_secrets(settings: Settings) -> list[Result]:
    out = []
    if settings.secret_key == DEV_SECRET_KEY:
        out.append(
            Result(
                "WG_SECRET_KEY",
                "is the built-in development key (anyone could forge tokens)",
                "set it to at least 32 random characters",
            )
        )
    else:
        out.append(Result("WG_SECRET_KEY", f"set, {len(settings.secret_key)} characters"))
    if settings.encryption_keys:
        out.append(Result("WG_ENCRYPTION_KEYS", f"{len(settings.encryption_keys)} key(s)"))
    elif settings.env == "prod":
        out.append(
            Result(
                "WG_ENCRYPTION_KEYS",
                "unset: stored webhook secrets are encrypted with a key derived from "
                "WG_SECRET_KEY, which then cannot be rotated on its own",
                "set it to the output of `wg generate-encryption-key`, then run "
                "`wg rotate-encryption-key`",
            )
        )
    return out


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    return f"{type(exc).__name__}: {exc}".strip()


async def check_database(settings: Settings) -> Result:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from app.core.db import create_engine
    from app.core.migrations import alembic_config

    where = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    heads = set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), engine.connect() as conn:
            current = set(
                await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
            )
    except Exception as exc:
        return Result(
            "database",
            f"{where} unreachable ({_failure(exc)})",
            "start the database or correct WG_DATABASE_URL",
        )
    finally:
        await engine.dispose()
    if current != heads:
        at = f"at {', '.join(sorted(current))}" if current else "none applied"
        return Result(
            "database",
            f"{where}: migrations {at}, the code expects {', '.join(sorted(heads))}",
            "run `wg migrate`",
        )
    return Result("database", f"{where}, migrations at head ({', '.join(sorted(heads))})")


async def check_redis(settings: Settings) -> Result:
    from app.core.redis import create_redis

    if not settings.redis_url:
        return Result(
            "redis", "WG_REDIS_URL unset: fine for `wg serve` (it starts an embedded Redis)"
        )
    where = _without_password(settings.redis_url)
    client = create_redis(settings.redis_url)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await client.ping()
    except Exception as exc:
        return Result(
            "redis",
            f"{where} unreachable ({_failure(exc)})",
            "start Redis or correct WG_REDIS_URL (with its password, if it has one)",
        )
    finally:
        await client.aclose()
    return Result("redis", f"{where} answers")


async def check_smtp(settings: Settings) -> Result:
    import aiosmtplib

    from app.notifications.email import smtp_connection

    if not settings.smtp_host:
        return Result("smtp", "WG_SMTP_HOST unset: no mail is sent (the in-app inbox works)")
    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    smtp = aiosmtplib.SMTP(**smtp_connection(settings, timeout=TIMEOUT_SECONDS))
    try:
        # Connects, upgrades to TLS as configured and signs in when a username is set.
        async with asyncio.timeout(TIMEOUT_SECONDS * 2):
            await smtp.connect()
            await smtp.quit()
    except Exception as exc:
        return Result(
            "smtp",
            f"{where} failed ({_failure(exc)})",
            "check WG_SMTP_HOST, WG_SMTP_PORT, WG_SMTP_SECURITY and the SMTP login",
        )
    signed_in = " and signed in" if settings.smtp_username else ""
    return Result("smtp", f"{where} connected{signed_in}")


CHECKS: list[Callable[[Settings], Awaitable[Result]]] = [check_database, check_redis, check_smtp]


async def diagnose(settings: Settings) -> list[Result]:
    """Every check, the servers' at once."""
    servers = await asyncio.gather(*(check(settings) for check in CHECKS))
    return [*check_secrets(settings), *servers]


def scrub(text: str, settings: Settings) -> str:
    """`text` without any configured secret value in it."""
    secrets = [settings.secret_key, settings.smtp_password or ""]
    secrets += [k.get_secret_value() for k in settings.encryption_keys]
    for url in (settings.database_url, settings.redis_url):
        password = urlsplit(url).password if url else None
        secrets.append(password or "")
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def line(result: Result) -> str:
    if result.ok:
        return f"ok       {result.name}: {result.message}"
    return f"PROBLEM  {result.name}: {result.message}; fix: {result.fix}"
