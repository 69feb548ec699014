"""Real processes for tests: start a `wg` command and wait for what it prints, not for time."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

WG = str(Path(sys.executable).with_name("wg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any WG_ setting of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    env.update(extra)
    return env


class Proc:
    """A child process whose merged stdout/stderr is read line by line as it arrives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str, env: Mapping[str, str], cwd: Path | None = None) -> Proc:
        proc = await asyncio.create_subprocess_exec(
            *args,
            env=dict(env),
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    async def wait_for_line(self, needle: str, timeout: float = 60) -> str:
        """Read output until a line contains `needle`; fail with the output so far."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.proc.stdout.readline()
                    if not raw:
                        raise AssertionError(f"exited before {needle!r}:\n" + "".join(self.lines))
                    line = raw.decode(errors="replace")
                    self.lines.append(line)
                    if needle in line:
                        return line
        except TimeoutError as exc:
            raise AssertionError(
                f"no {needle!r} within {timeout}s:\n" + "".join(self.lines)
            ) from exc

    async def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            async with asyncio.timeout(timeout):
                await self.proc.communicate()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def run(*args: str, env: Mapping[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run a command to completion; return its exit code and merged output."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=dict(env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(timeout):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")
