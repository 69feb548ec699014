"""arq jobs travel as JSON: what the app enqueues is readable data, and a pickle planted in the
queue is refused without running anything."""

from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from arq.constants import job_key_prefix, result_key_prefix
from fastapi import FastAPI

from app.core.config import Settings
from app.core.jobs import JobError, find_job
from app.notifications import tasks
from app.realtime.keys import RedisKeys
from tests.conftest import running_worker

RESULT_TIMEOUT = 30


async def _raw_json(app: FastAPI, key: str) -> dict[str, Any]:
    raw = await app.state.redis.get(key)
    assert raw is not None, key
    data: dict[str, Any] = json.loads(raw)
    return data


async def test_a_job_the_app_enqueues_is_stored_and_answered_as_json(
    app: FastAPI, settings: Settings
) -> None:
    notification_id = uuid.uuid4()  # none such: the job finds nothing to mail
    await tasks.enqueue_email(app.state.jobs, settings, notification_id)
    job_id = tasks.email_job_id(notification_id)

    stored = await _raw_json(app, job_key_prefix + job_id)
    assert stored["f"] == tasks.EMAIL_JOB
    assert stored["a"] == [str(notification_id)]

    async with running_worker(settings):
        assert await find_job(app.state.jobs, job_id).result(timeout=RESULT_TIMEOUT) == "gone"
    result = await _raw_json(app, result_key_prefix + job_id)  # kept for `keep_result`
    assert (result["s"], result["r"]) == (True, "gone")


async def test_a_failed_job_reports_its_error_through_json(
    app: FastAPI, settings: Settings
) -> None:
    job = await app.state.jobs.enqueue_job("no_such_job")
    assert job is not None
    async with running_worker(settings):
        with pytest.raises(JobError, match="JobExecutionFailed: function 'no_such_job'"):
            await job.result(timeout=RESULT_TIMEOUT)
    result = await _raw_json(app, result_key_prefix + job.job_id)
    assert result["s"] is False


class _RunsOnUnpickling:
    """What an attacker with write access to Redis would plant: unpickling it runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


async def test_a_pickled_job_planted_in_the_queue_is_refused_unrun(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    job_id = f"planted-{uuid.uuid4().hex}"
    now_ms = int(time.time() * 1000)
    # A well-formed job record of arq's default serializer, calling a real job function, with
    # a rider arq would not even look at.
    job = {"t": 1, "f": "ping", "a": (), "k": {}, "et": now_ms, "x": _RunsOnUnpickling(marker)}
    payload = pickle.dumps(job)
    redis = app.state.redis
    await redis.set(job_key_prefix + job_id, payload)
    await redis.zadd(RedisKeys(settings.redis_prefix).arq_queue, {job_id: now_ms})

    async with running_worker(settings):
        try:
            outcome = await find_job(app.state.jobs, job_id).result(timeout=RESULT_TIMEOUT)
        except JobError as exc:
            outcome = exc
    assert not marker.exists(), "the planted pickle was unpickled: its code ran"
    assert isinstance(outcome, JobError), f"the planted job ran: {outcome!r}"
    assert "DeserializationError" in str(outcome)
