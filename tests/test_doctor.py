"""`wg doctor` against real servers: a sound deployment passes; each kind of problem fails
with a line naming it, and no secret is ever printed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet

from app.core.config import Settings
from app.core.migrations import alembic_config, upgrade
from tests.conftest import TEST_SECRET, make_settings
from tests.notifications_support import SmtpSink
from tests.procs import WG, clean_env, free_port, run


def _problems(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("PROBLEM")]


async def test_doctor_passes_a_sound_deployment_and_names_each_problem(
    settings: Settings, tmp_path: Path
) -> None:
    # A database one migration behind the code.
    behind_url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    behind = make_settings(behind_url, settings.effective_redis_url, tmp_path)
    head = ScriptDirectory.from_config(alembic_config(behind)).get_current_head()
    assert head is not None
    previous = ScriptDirectory.from_config(alembic_config(behind)).get_revision(head)
    assert previous is not None and isinstance(previous.down_revision, str)
    await asyncio.to_thread(upgrade, behind, previous.down_revision)

    key = Fernet.generate_key().decode()
    sound = clean_env(
        WG_ENV="prod",
        WG_DATABASE_URL=settings.effective_database_url,
        WG_REDIS_URL=settings.effective_redis_url,
        WG_SECRET_KEY=TEST_SECRET,
        WG_ENCRYPTION_KEYS=key,
        WG_SMTP_SECURITY="none",
    )
    weak = "weak-secret-123"
    sink = await SmtpSink().start()
    try:
        smtp = {"WG_SMTP_HOST": "127.0.0.1", "WG_SMTP_PORT": str(sink.port)}
        healthy, late, no_redis, weak_secret = await asyncio.gather(
            run(WG, "doctor", env={**sound, **smtp}),
            run(WG, "doctor", env={**sound, "WG_DATABASE_URL": behind_url}),
            run(WG, "doctor", env={**sound, "WG_REDIS_URL": f"redis://127.0.0.1:{free_port()}"}),
            run(WG, "doctor", env={**sound, "WG_SECRET_KEY": weak}),
        )
    finally:
        await sink.stop()

    code, out = healthy
    assert code == 0, out
    assert _problems(out) == [] and "ok       smtp: 127.0.0.1" in out, out
    assert TEST_SECRET not in out and key not in out

    code, out = late
    assert code == 1, out
    assert _problems(out) == [
        f"PROBLEM  database: {behind_url}: migrations at {previous.down_revision}, the code "
        f"expects {head}; fix: run `wg migrate`"
    ], out

    code, out = no_redis
    assert code == 1, out
    (problem,) = _problems(out)
    assert problem.startswith("PROBLEM  redis: redis://127.0.0.1:") and "unreachable" in problem

    code, out = weak_secret
    assert code == 1, out
    (problem,) = _problems(out)
    assert "WG_SECRET_KEY must be at least 32 characters" in problem
    assert weak not in out
