"""Real processes for tests: start a `wg` command and wait for what it prints, not for time."""

from __future__ import annotations

import asyncio
import contextlib
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
    """A child process whose merged stdout/stderr is read continuously in the background
    (so a chatty child never blocks on a full pipe) and can be waited on line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._eof = False
        self._reader = asyncio.create_task(self._read())

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

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while raw := await self.proc.stdout.readline():
                async with self._changed:
                    self.lines.append(raw.decode(errors="replace"))
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._eof = True
                self._changed.notify_all()

    def output(self) -> str:
        return "".join(self.lines)

    async def wait_for_line(self, needle: str, timeout: float = 60, start: int = 0) -> str:
        """Wait until a line (from index `start` on) contains `needle`; fail with the output."""

        def found() -> str | None:
            return next((line for line in self.lines[start:] if needle in line), None)

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self._eof)
        except TimeoutError as exc:
            raise AssertionError(f"no {needle!r} within {timeout}s:\n{self.output()}") from exc
        line = found()
        if line is None:
            raise AssertionError(f"exited before {needle!r}:\n{self.output()}")
        return line

    async def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        try:
            async with asyncio.timeout(timeout):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(Exception):
            await self._reader
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
