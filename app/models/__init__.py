"""Every table, imported here so that one metadata holds them all (Alembic reads it)."""

from app.models.base import metadata
from app.models.event import Event
from app.models.group import FocusArea, Group, Membership, Role, Visibility
from app.models.idempotency import IdempotencyRecord
from app.models.organization import Organization, OrganizationKind
from app.models.user import ApiKey, User

__all__ = [
    "ApiKey",
    "Event",
    "FocusArea",
    "Group",
    "IdempotencyRecord",
    "Membership",
    "Organization",
    "OrganizationKind",
    "Role",
    "User",
    "Visibility",
    "metadata",
]
