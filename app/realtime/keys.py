"""Redis key names, all under one prefix so deployments (and test runs) can share a server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    @property
    def events_stream(self) -> str:
        return f"{self.prefix}:events"

    @property
    def notifications_stream(self) -> str:
        return f"{self.prefix}:notifications"

    @property
    def relay_lease(self) -> str:
        return f"{self.prefix}:relay:lease"

    @property
    def relay_wake(self) -> str:
        return f"{self.prefix}:relay:wake"

    @property
    def webhooks_wake(self) -> str:
        """Deliverers listen here: new deliveries are due (dispatch, redeliver)."""
        return f"{self.prefix}:webhooks:wake"

    def ws_ticket(self, ticket_hash: str) -> str:
        return f"{self.prefix}:ws-ticket:{ticket_hash}"

    @property
    def arq_queue(self) -> str:
        return f"{self.prefix}:arq:queue"
