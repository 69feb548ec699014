"""Websocket tickets: a browser cannot set headers on a websocket, and a credential in a URL
ends up in logs and histories. `POST /auth/ws-ticket` (with the Authorization header) gives a
random ticket that opens one websocket within `ws_ticket_ttl_seconds`, once.

The ticket is kept in Redis under its SHA-256, holding the parsed credential it stands for
(the session id of a JWT, or an API key's hash — never the credential itself), so the
websocket answers to that credential's revocation like the request that asked for it.
"""

from __future__ import annotations

import json
import secrets

from redis.asyncio import Redis

from app.core.security import hash_token
from app.realtime.keys import RedisKeys
from app.users.principal import Credential, CredentialKind

TICKET_PREFIX = "wgt_"


def new_ticket(credential: Credential) -> tuple[str, str]:
    """A new ticket, and what to keep under `RedisKeys.ws_ticket(hash_token(ticket))`."""
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    return ticket, json.dumps({"kind": credential.kind.value, "value": str(credential.value)})


async def redeem(redis: Redis, keys: RedisKeys, ticket: str) -> Credential | None:
    """The credential a ticket stands for, the ticket used up; None if unknown or expired."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > 100:
        return None
    held = await redis.getdel(keys.ws_ticket(hash_token(ticket)))
    if held is None:
        return None
    data = json.loads(held)
    return Credential.restore(CredentialKind(data["kind"]), data["value"])
