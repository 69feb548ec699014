"""One slow client never delays the others, and its memory stays bounded.

The stalled peer is a stand-in whose `send_text` never completes, which is what a websocket
send does once a client stops reading and the TCP buffers are full. Filling real loopback
buffers takes megabytes of events per client, too slow for the suite; the hub and the
connections under test are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from app.core.config import Settings
from app.realtime.connection import Connection
from app.realtime.hub import Hub, StreamEvent


class StalledPeer:
    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()  # never returns: the peer reads nothing


class ReadingPeer:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.changed = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.frames.append(text)
        self.changed.set()


def _event(group_id: uuid.UUID, seq: int) -> StreamEvent:
    envelope = f'{{"seq":{seq}}}'
    return StreamEvent(group_id, seq, "focus_area.created", str(uuid.uuid4()), envelope)


async def test_a_stalled_client_is_cut_off_while_others_keep_receiving(
    settings: Settings, app: Any
) -> None:
    small = settings.model_copy(update={"ws_queue_size": 4})
    hub = Hub(small)
    group_id = uuid.uuid4()

    def connection(peer: Any) -> Connection:
        conn = Connection(
            websocket=peer,
            user_id=uuid.uuid4(),
            hub=hub,
            session_factory=app.state.session_factory,
            settings=small,
        )
        hub.add(conn)
        hub.join(conn, group_id)
        conn.subscriptions[group_id] = 0
        return conn

    stalled, reading_peer = StalledPeer(), ReadingPeer()
    slow, fast = connection(stalled), connection(reading_peer)
    senders = [asyncio.create_task(c.run_sender()) for c in (slow, fast)]
    try:
        for seq in range(1, 51):
            hub.dispatch(_event(group_id, seq))  # never awaits: no client can hold it up
            await asyncio.sleep(0)  # let the senders run, as the event loop would between reads
        async with asyncio.timeout(10):
            while len(reading_peer.frames) < 50:
                reading_peer.changed.clear()
                await reading_peer.changed.wait()
        assert reading_peer.frames == [
            f'{{"type":"event","event":{{"seq":{seq}}}}}' for seq in range(1, 51)
        ]
        assert slow.overflowed
        assert not fast.overflowed
        assert slow.queue.qsize() <= small.ws_queue_size  # memory stays bounded
    finally:
        for task in senders:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
