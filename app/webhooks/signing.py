"""Standard Webhooks signatures and the secrets behind them."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from app.core.crypto import Keyring

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signers_of(secrets_: Sequence[str]) -> list[Webhook]:
    return [Webhook(s) for s in secrets_]


def signature_header(
    msg_id: str, timestamp: datetime, body: str, signers: Sequence[Webhook]
) -> str:
    """`webhook-signature`: one `v1,<sig>` per active secret, space separated, so receivers
    verify with either the old or the new secret while a rotation overlaps."""
    return " ".join(s.sign(msg_id, timestamp, body) for s in signers)


class SignerCache:
    """Decrypted signing keys per endpoint, so a busy endpoint's secret is decrypted once,
    not at every attempt.

    Entries are keyed by the encrypted secrets themselves: a rotation stores new ciphertexts,
    so the next attempt misses the cache and decrypts the new pair — nothing to invalidate.
    The previous secret's expiry is checked at every use.
    """

    def __init__(self, keys: Keyring, size: int = 10_000) -> None:
        self.keys = keys
        self.size = size
        self._entries: OrderedDict[tuple[uuid.UUID, str, str | None], tuple[Webhook, ...]] = (
            OrderedDict()
        )

    def signers(
        self,
        endpoint_id: uuid.UUID,
        secret_encrypted: str,
        previous_encrypted: str | None,
        previous_expires_at: datetime | None,
        now: datetime,
    ) -> tuple[Webhook, ...]:
        key = (endpoint_id, secret_encrypted, previous_encrypted)
        entry = self._entries.get(key)
        if entry is None:
            plain = [self.keys.decrypt(secret_encrypted)]
            if previous_encrypted:
                plain.append(self.keys.decrypt(previous_encrypted))
            entry = tuple(signers_of(plain))
            self._entries[key] = entry
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        if len(entry) > 1 and (previous_expires_at is None or previous_expires_at <= now):
            return entry[:1]  # the overlap is over: sign with the current secret only
        return entry
