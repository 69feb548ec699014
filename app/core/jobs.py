"""How arq jobs and their results are stored in Redis: JSON, never pickle.

arq pickles by default, and unpickling runs whatever the payload says: anyone able to write
to Redis could run code in every worker. JSON carries only data. Job arguments are ids and
plain values (call sites turn UUIDs into strings); anything else fails at `enqueue_job`
(arq's `SerializationError`) rather than being turned into something the job does not expect.
"""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import Job
from redis.asyncio import Redis

# How a failed job's exception travels in its result record (arq stores the exception itself).
_ERROR_KEY = "__job_error__"


class JobError(Exception):
    """A failed job's exception as read back from its result: "TypeName: message"."""


def _encode_extra(value: object) -> object:
    if isinstance(value, BaseException):  # arq's result of a failed or aborted job
        return {_ERROR_KEY: f"{type(value).__name__}: {value}"}
    raise TypeError(f"{type(value).__name__} is not a job value (ids and plain JSON values only)")


def dump_job(data: dict[str, Any]) -> bytes:
    """arq's `job_serializer`: the job (or result) record as JSON."""
    return json.dumps(data, default=_encode_extra, separators=(",", ":"), allow_nan=False).encode()


def load_job(raw: bytes) -> dict[str, Any]:
    """arq's `job_deserializer`. Anything but a JSON object raises, and arq then fails the job
    without running it."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("a job record is a JSON object")
    result = data.get("r")
    if isinstance(result, dict) and set(result) == {_ERROR_KEY}:
        # `Job.result()` raises what a failed job raised: give it an exception again.
        data["r"] = JobError(result[_ERROR_KEY])
    return data


# For arq's `create_pool`, `ArqRedis` and `Worker`: every producer and consumer of the queue.
JOB_CODEC: dict[str, Any] = {"job_serializer": dump_job, "job_deserializer": load_job}


def job_pool(redis: Redis, queue_name: str) -> ArqRedis:
    """An arq pool enqueueing through `redis`'s connections (none is made until used)."""
    return ArqRedis(
        connection_pool=redis.connection_pool, default_queue_name=queue_name, **JOB_CODEC
    )


def find_job(pool: ArqRedis, job_id: str) -> Job:
    """A job by id, read with the JSON codec (arq's `Job` alone would unpickle)."""
    return Job(job_id, pool, _queue_name=pool.default_queue_name, _deserializer=load_job)
