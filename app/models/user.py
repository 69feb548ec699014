from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import JSONType, UTCDateTime, Versioned, created_at_field, new_id


class User(Versioned, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    is_admin: bool = Field(default=False)
    is_active: bool = Field(default=True)
    locale: str = Field(default="en", max_length=16)
    created_at: datetime = created_at_field()
    # The SHA-256 of the user's calendar feed token (`wgc_…`): a credential that reads
    # calendars and nothing else, for calendar apps that can only take a URL.
    calendar_token_hash: str | None = Field(default=None, max_length=64, unique=True)


class ApiKey(SQLModel, table=True):
    """A long-lived credential. Only a SHA-256 of the key is stored; the key is shown once."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "read" and/or "write"; a key without "write" gets 403 on every write.
    scopes: list[str] = Field(default_factory=lambda: ["read", "write"], sa_type=JSONType)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """One sign-in: the JWT's `jti` names it. Signing out revokes it; a password change or
    reset revokes every session of the user, so tokens stop working before they expire."""

    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasswordReset(SQLModel, table=True):
    """A requested password reset. The token mailed to the user is a MAC of this row's id
    (app/users/reset.py), so no token is stored; the row makes it single-use and expiring."""

    __tablename__ = "password_resets"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    emailed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
