"""Worker side of webhooks: the dispatch handler that queues deliveries.

Sending them is the deliverer's work (app/webhooks/deliverer.py), a long-lived task of each
worker (workers/settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.dispatch import DispatchContext
from app.models import Event
from app.models.base import utcnow
from app.webhooks import queue
from app.webhooks.deliverer import wake_deliverers


async def handle_events(
    session: AsyncSession, batch: Sequence[Event], ctx: DispatchContext
) -> None:
    """Dispatcher handler: the batch's deliveries, in the dispatch transaction; after the
    commit, the deliverers are woken.

    They are woken also when the batch made no delivery but its groups have endpoints: a
    delivery of a later event may be held back until these events were dispatched (workers
    dispatch a group's events concurrently), and it is due now.
    """
    _, endpoint_ids = await queue.enqueue(await session.connection(), batch, utcnow())
    if not endpoint_ids:
        return

    async def wake() -> None:
        # This worker's deliverer claims whatever is due, whoever dispatched it; the other
        # workers' take their share when they are woken by their own dispatches or poll.
        if ctx.wake_deliverer is not None:
            ctx.wake_deliverer(endpoint_ids)
        else:  # no deliverer in this process (tests that dispatch by hand)
            await wake_deliverers(ctx.redis, ctx.settings.redis_prefix)

    ctx.after_commit.append(wake)
