"""Sign-in attempts counted per account, besides the per-IP limit of the middleware
(app/core/ratelimit.py): guessing one account's password from many addresses is held to
`WG_RATE_SIGN_INS_PER_MINUTE_ACCOUNT` attempts a minute.

Every attempt counts, before the password is checked, whether or not the account exists: the
answer (429 or not) depends only on how often the email was tried, so it tells nothing about
the account. The Redis key holds a keyed hash of the normalised email, never the email. While
Redis is unavailable the count is kept per process (a strict rule).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import RateLimited
from app.core.ratelimit import Limiter, Rule
from app.users.service import normalize_email


def account_rule(limiter: Limiter, settings: Settings, email: str) -> Rule:
    # Keyed: a plain hash of an email is reversed by hashing a list of known addresses.
    digest = hmac.new(
        settings.secret_key.encode(), normalize_email(email).encode(), hashlib.sha256
    ).hexdigest()[:32]
    return Rule(
        limiter.key("signin-account", digest),
        settings.rate_sign_ins_per_minute_account,
        strict=True,
    )


async def _throttle_sign_in(request: Request) -> None:
    """Take a token from the account's bucket; 429 with `Retry-After` when it is empty."""
    settings: Settings = request.app.state.settings
    if not settings.rate_sign_ins_per_minute_account:
        return
    # The form is already parsed (and cached on the request) by the time dependencies run;
    # a missing or malformed username is left to the route's own validation (422).
    username = (await request.form()).get("username")
    if not isinstance(username, str) or not username:
        return
    limiter: Limiter = request.app.state.limiter
    retry_after = await limiter.over_limit([account_rule(limiter, settings, username)])
    if retry_after is not None:
        raise RateLimited(
            "Too many requests; try again later", headers={"Retry-After": str(retry_after)}
        )


# Declare before `SessionDep` in the route: the Redis call then holds no database transaction.
SignInThrottle = Annotated[None, Depends(_throttle_sign_in)]
