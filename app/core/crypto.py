"""Encryption at rest for secrets the server must use in clear (webhook signing secrets).

The keys are `WG_ENCRYPTION_KEYS` (Fernet keys; the first encrypts, every one decrypts), kept
apart from `WG_SECRET_KEY` so that rotating the token-signing key leaves stored secrets
readable. Without them one key is derived from `WG_SECRET_KEY` by HKDF. Either way the keys
derived from `WG_SECRET_KEY` (by HKDF, and by the SHA-256 of releases before HKDF) are also
tried for decryption, last: ciphertexts stored before the keys were set, or before HKDF, stay
readable until `wg rotate-encryption-key` has re-encrypted them with the first key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings

__all__ = ["InvalidToken", "Keyring", "derived_key", "keyring", "legacy_key"]

# Fixed labels: changing either makes every derived key, and what it encrypted, unreadable.
_HKDF_SALT = b"wghub"
_HKDF_INFO = b"wghub:secrets-at-rest:v2"


def derived_key(secret_key: str) -> bytes:
    """The Fernet key HKDF-SHA256 derives from the deployment secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def legacy_key(secret_key: str) -> bytes:
    """The key of releases before HKDF: read-only, for ciphertexts they stored."""
    digest = hashlib.sha256(b"wghub:secrets-at-rest:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


class Keyring:
    """The first key encrypts; all decrypt (configured keys first, derived fallbacks last)."""

    def __init__(self, keys: Sequence[bytes], fallbacks: Sequence[bytes] = ()) -> None:
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in (*keys, *fallbacks)])

    def encrypt(self, plaintext: str) -> str:
        return self._primary.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plaintext; `InvalidToken` when no key opens it."""
        return self._all.decrypt(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """Whether the first key opens `token` (re-encrypting it would change nothing)."""
        try:
            self._primary.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first key (its original timestamp kept)."""
        return self._all.rotate(token.encode()).decode()


def keyring(settings: Settings) -> Keyring:
    """The keyring of these settings (built once per distinct configuration)."""
    keys = tuple(k.get_secret_value() for k in settings.encryption_keys)
    return _keyring(keys, settings.secret_key)


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...], secret_key: str) -> Keyring:
    derived = derived_key(secret_key)
    fallbacks = (derived, legacy_key(secret_key))
    if keys:
        return Keyring([k.encode() for k in keys], fallbacks)
    return Keyring([derived], fallbacks[1:])
