"""Passwords (argon2id), JWT access tokens, API keys, calendar feed tokens and ws tickets."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.config import Settings

API_KEY_PREFIX = "wgk_"
FEED_TOKEN_PREFIX = "wgc_"
JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "wghub"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


def password_hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost_kib)


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, still spend the same time so timing reveals nothing."""
    hasher = password_hasher(settings)
    if password_hash is None:
        hasher.hash(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, password_hash: str) -> bool:
    """Whether a hash was made with other argon2 parameters than the current ones."""
    try:
        return password_hasher(settings).check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def create_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, expires_at: datetime
) -> str:
    """A JWT for the sign-in `session_id` (its `jti`): revoking the session revokes it."""
    payload = {
        "sub": str(user_id),
        "aud": JWT_AUDIENCE,
        "iat": datetime.now(UTC),
        "exp": expires_at,
        "jti": str(session_id),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=JWT_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The session id (`jti`) of a valid, unexpired token, else None."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            options={"require": ["exp", "sub", "aud", "jti"]},
        )
        return uuid.UUID(payload["jti"])
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def generate_feed_token() -> str:
    return FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # API keys, feed tokens and tickets carry 256 random bits, so a fast hash is enough (and
    # keeps each request cheap); argon2 is for low-entropy passwords.
    return hashlib.sha256(token.encode()).hexdigest()
