"""One slow client never delays the others, and its memory stays bounded.

The stalled peer is a stand-in whose `send` never completes, which is what a websocket send
does once a client stops reading and the TCP buffers are full. Filling real loopback
buffers takes megabytes of events per client, too slow for the suite; the hub and the
connections under test are the real ones.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from app.core.config import Settings
from app.realtime.connection import Connection
from app.realtime.hub import Hub, StreamEvent
from app.users.principal import Credential, CredentialKind


class StalledPeer:
    async def send(self, message: dict[str, Any]) -> None:
        await asyncio.Event().wait()  # never returns: the peer reads nothing


class ReadingPeer:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.changed = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.frames.append(message["text"])
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

    overflowed: list[Connection] = []

    def connection(peer: Any) -> Connection:
        user_id = uuid.uuid4()
        conn = Connection(
            send=peer.send,
            user_id=user_id,
            credential=Credential(CredentialKind.USER, user_id),
            hub=hub,
            session_factory=app.state.session_factory,
            settings=small,
        )
        conn.on_overflow = lambda: overflowed.append(conn)
        hub.add(conn)
        hub.join(conn, group_id)
        conn.subscriptions[group_id] = 0
        return conn

    stalled, reading_peer = StalledPeer(), ReadingPeer()
    slow, fast = connection(stalled), connection(reading_peer)
    try:
        for seq in range(1, 51):
            hub.dispatch(_event(group_id, seq))  # never awaits: no client can hold it up
            await asyncio.sleep(0)  # let the workers run, as the event loop would between reads
        async with asyncio.timeout(10):
            while len(reading_peer.frames) < 50:
                reading_peer.changed.clear()
                await reading_peer.changed.wait()
        assert reading_peer.frames == [
            f'{{"type":"event","event":{{"seq":{seq}}}}}' for seq in range(1, 51)
        ]
        assert overflowed == [slow]  # the slow one is cut off (1013), the other is not
        assert hub.slow_closes == 1  # wg_ws_slow_consumer_closes_total
        assert hub.frames_sent >= 50  # the reading peer's frames at least
        assert slow.backlog is not None and len(slow.backlog) <= small.ws_queue_size
        assert fast.worker is None  # a reader that keeps up is sent to in place
    finally:
        for conn in (slow, fast):
            conn.stop()
