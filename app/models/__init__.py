"""Every table, imported here so that one metadata holds them all (Alembic reads it)."""

from app.models.action_item import ActionItem, ActionItemStatus, Priority
from app.models.base import metadata
from app.models.consultation import (
    DiagnosisSnapshot,
    Finding,
    FindingEvidence,
    FindingKind,
    FindingLink,
    QuestionKind,
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireStatus,
)
from app.models.event import Event
from app.models.group import FocusArea, Group, Membership, Role, Visibility
from app.models.idempotency import IdempotencyRecord
from app.models.introduction import Introduction
from app.models.meeting import (
    AgendaItem,
    Attendance,
    Decision,
    Meeting,
    MeetingMinutes,
    MeetingMode,
    MeetingRsvp,
    MeetingStatus,
    RaisedHand,
    RsvpResponse,
)
from app.models.notification import EmailMode, Notification, NotificationPreference
from app.models.organization import Organization, OrganizationKind
from app.models.poll import Poll, PollKind, PollStatus, ResultsShown, Stance
from app.models.proposal import Comment, Endorsement, Proposal, ProposalState, Vote, VoteChoice
from app.models.user import ApiKey, AuthSession, PasswordReset, User
from app.models.webhook import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ActionItem",
    "ActionItemStatus",
    "AgendaItem",
    "ApiKey",
    "Attendance",
    "AuthSession",
    "Comment",
    "Decision",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DiagnosisSnapshot",
    "EmailMode",
    "Endorsement",
    "Event",
    "Finding",
    "FindingEvidence",
    "FindingKind",
    "FindingLink",
    "FocusArea",
    "Group",
    "IdempotencyRecord",
    "Introduction",
    "Meeting",
    "MeetingMinutes",
    "MeetingMode",
    "MeetingRsvp",
    "MeetingStatus",
    "Membership",
    "Notification",
    "NotificationPreference",
    "Organization",
    "OrganizationKind",
    "PasswordReset",
    "Poll",
    "PollKind",
    "PollStatus",
    "Priority",
    "Proposal",
    "ProposalState",
    "QuestionKind",
    "Questionnaire",
    "QuestionnaireResponse",
    "QuestionnaireStatus",
    "RaisedHand",
    "ResultsShown",
    "Role",
    "RsvpResponse",
    "Stance",
    "User",
    "Visibility",
    "Vote",
    "VoteChoice",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
]
