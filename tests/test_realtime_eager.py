"""Eager starts (app/realtime/eager.py): a send that need not wait costs no task; one that
must wait is finished by a task exactly as `await` would have finished it."""

from __future__ import annotations

import asyncio

import pytest

from app.realtime import eager


async def test_a_coroutine_that_does_not_wait_finishes_in_place() -> None:
    done: list[str] = []

    async def send() -> None:
        done.append("sent")

    assert eager.start(send()) is None
    assert done == ["sent"]


async def test_the_rest_of_a_waiting_coroutine_runs_in_a_task_with_its_results() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    steps: list[object] = []

    async def send() -> None:
        steps.append("before")
        steps.append(await gate)  # the value the future resolves with reaches the coroutine
        await asyncio.sleep(0)  # a bare yield is passed on too
        steps.append("after")

    rest = eager.start(send())
    assert rest is not None and steps == ["before"]
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result(42)
    await task
    assert steps == ["before", 42, "after"]


async def test_errors_before_and_after_the_first_wait_reach_the_caller() -> None:
    async def refuses() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        eager.start(refuses())

    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails_later() -> None:
        await gate
        raise ConnectionResetError("gone later")

    rest = eager.start(fails_later())
    assert rest is not None
    gate.set_result(None)
    with pytest.raises(ConnectionResetError):
        await rest


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []

    async def send() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("cleaned up")

    rest = eager.start(send())
    assert rest is not None
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cleaned up"]
