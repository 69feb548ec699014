"""Standard Webhooks signatures and the secrets behind them."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_header(msg_id: str, timestamp: datetime, body: str, secrets_: list[str]) -> str:
    """`webhook-signature`: one `v1,<sig>` per active secret, space separated, so receivers
    verify with either the old or the new secret while a rotation overlaps."""
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secrets_)
