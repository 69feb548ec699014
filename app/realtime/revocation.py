"""Open websockets answer to their credential: every `ws_credential_check_seconds` the
credentials of all open connections are checked again (one statement per kind and 500
connections), and those revoked, expired (a JWT's session ends when the token does) or of a
deactivated user close with 4401. The client then asks for a new ticket, which needs a valid
credential.

A periodic sweep rather than a message on every revocation: it also catches expiry, which no
one announces, and costs the database a few indexed lookups per interval however many
revocations happen.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.db import autocommit
from app.realtime.connection import Connection
from app.realtime.hub import Hub
from app.users.principal import CredentialKind, holding

log = logging.getLogger(__name__)

CHUNK = 500


async def close_revoked(hub: Hub, engine: AsyncEngine) -> int:
    """Close the connections whose credential no longer holds; how many."""
    by_kind: dict[CredentialKind, dict[Any, list[Connection]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for conn in list(hub.connections):
        by_kind[conn.credential.kind][conn.credential.value].append(conn)
    if not by_kind:
        return 0
    closed = 0
    async with hub.db_slots, autocommit(engine) as db:
        for kind, conns in by_kind.items():
            values = list(conns)
            for start in range(0, len(values), CHUNK):
                chunk = values[start : start + CHUNK]
                still = await holding(db, kind, chunk)
                for value in chunk:
                    if value in still:
                        continue
                    for conn in conns[value]:
                        if conn.on_revoked is not None and not conn.closed:
                            conn.on_revoked()
                            closed += 1
    return closed


async def watch(hub: Hub, engine: AsyncEngine, settings: Settings) -> None:
    """Forever: `close_revoked` every `ws_credential_check_seconds`."""
    while True:
        await asyncio.sleep(settings.ws_credential_check_seconds)
        try:
            closed = await close_revoked(hub, engine)
            if closed:
                log.info("closed %d websockets whose credentials no longer hold", closed)
        except Exception:
            # The database is away: check again next time; the connections stay meanwhile.
            log.warning("websocket credential check failed", exc_info=True)
