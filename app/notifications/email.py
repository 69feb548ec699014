"""Email messages (plain text + HTML, in the user's language) and sending them over SMTP."""

from __future__ import annotations

import html
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib

from app.core.config import Settings
from app.models import Notification, User
from app.models.base import utcnow
from app.notifications.templates import has_text, locale_of, text

# Everything that means "the mail did not go out this time": worth a retry later.
SMTP_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)
SUBJECT_MAX = 200


def _local_time(value: str | None, zone: str | None) -> str:
    """A meeting's start in its own time zone, e.g. `2026-03-04 10:00 (America/Bogota)`."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    try:
        tz = zoneinfo.ZoneInfo(zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz, zone = zoneinfo.ZoneInfo("UTC"), "UTC"
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M} ({zone or 'UTC'})"


def notification_line(locale: str, type_: str, data: dict[str, Any]) -> str:
    """One sentence saying what happened, in `locale`."""
    actor = (data.get("actor") or {}).get("name") or text(locale, "someone")
    to = data.get("to") or ""
    if to and has_text(f"state.{to}"):
        to = text(locale, f"state.{to}")
    return text(
        locale,
        type_ if has_text(type_) else "fallback",
        type=type_,
        actor=actor,
        title=data.get("title") or "",
        to=to,
        due_date=data.get("due_date") or "",
        starts_at=_local_time(data.get("starts_at"), data.get("timezone")),
        days=data.get("days_overdue", ""),
    )


def _group_name(data: dict[str, Any]) -> str:
    return str((data.get("group") or {}).get("name") or "")


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.smtp_from)[1]
    return address.rpartition("@")[2] or "wghub.localhost"


def _message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    locale: str,
    message_id: str,
    plain: str,
    rich: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject[:SUBJECT_MAX]
    msg["Date"] = format_datetime(utcnow())
    # Stable per notification: a mail sent twice (a crash after sending, before recording it)
    # carries the same Message-ID, which mail systems use to drop duplicates.
    msg["Message-ID"] = f"<{message_id}@{_domain(settings)}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(plain)
    msg.add_alternative(
        f'<!doctype html><html lang="{locale}"><body>{rich}</body></html>', subtype="html"
    )
    msg["Content-Language"] = locale  # after the content: set_content drops Content-* headers
    return msg


def _footer_html(footer: str) -> str:
    return f'<hr><p style="color:#666;font-size:small">{html.escape(footer)}</p>'


def notification_email(settings: Settings, note: Notification, user: User) -> EmailMessage:
    locale = locale_of(user.locale)
    data = note.data
    line = notification_line(locale, note.type, data)
    group = _group_name(data)
    reason = text(locale, f"reason.{note.reason}", group=group)
    footer = text(locale, "footer", reason=reason)
    label = text(locale, "group")
    comment = data.get("comment")
    plain = [line, "", f"{label}: {group}"]
    rich = [f"<p>{html.escape(line)}</p>", f"<p>{html.escape(label)}: {html.escape(group)}</p>"]
    if comment:
        plain += ["", *(f"> {row}" for row in str(comment).splitlines())]
        rich.append(f"<blockquote>{html.escape(str(comment))}</blockquote>")
    plain += ["", "-- ", footer]
    rich.append(_footer_html(footer))
    return _message(
        settings,
        to=user.email,
        subject=f"[{group}] {line}",
        locale=locale,
        message_id=f"notification.{note.id.hex}",
        plain="\n".join(plain) + "\n",
        rich="".join(rich),
    )


def password_reset_email(settings: Settings, user: User, token: str, minutes: int) -> EmailMessage:
    locale = locale_of(user.locale)
    body = text(locale, "password_reset.body", n=minutes, token=token)
    ignore = text(locale, "password_reset.ignore")
    return _message(
        settings,
        to=user.email,
        subject=text(locale, "password_reset.subject"),
        locale=locale,
        message_id=f"password-reset.{uuid.uuid5(uuid.NAMESPACE_URL, token).hex}",
        plain=f"{body}\n\n{ignore}\n",
        rich=f"<p>{html.escape(body)}</p><p>{html.escape(ignore)}</p>",
    )


def digest_email(settings: Settings, user: User, notes: Sequence[Notification]) -> EmailMessage:
    """One mail with every item, under a heading per group (groups by name, items by time)."""
    locale = locale_of(user.locale)
    by_group: dict[str, list[Notification]] = defaultdict(list)
    for note in sorted(notes, key=lambda n: (n.created_at, n.id)):
        by_group[_group_name(note.data)].append(note)
    greeting = text(locale, "digest.greeting", name=user.name)
    footer = text(locale, "digest.footer")
    plain = [greeting]
    rich = [f"<p>{html.escape(greeting)}</p>"]
    for group in sorted(by_group):
        lines = [notification_line(locale, n.type, n.data) for n in by_group[group]]
        plain += ["", group, "=" * len(group), *(f"- {line}" for line in lines)]
        rich.append(f"<h2>{html.escape(group)}</h2><ul>")
        rich += [f"<li>{html.escape(line)}</li>" for line in lines]
        rich.append("</ul>")
    plain += ["", "-- ", footer]
    rich.append(_footer_html(footer))
    # The same items give the same Message-ID (a digest re-sent after a crash is recognisable).
    ids = ",".join([str(user.id), *sorted(str(n.id) for n in notes)])
    return _message(
        settings,
        to=user.email,
        subject=text(locale, "digest.subject", n=len(notes)),
        locale=locale,
        message_id=f"digest.{uuid.uuid5(uuid.NAMESPACE_URL, ids).hex}",
        plain="\n".join(plain) + "\n",
        rich="".join(rich),
    )


def smtp_connection(settings: Settings, *, timeout: float | None = None) -> dict[str, Any]:
    """How to reach and sign in to the configured SMTP server (aiosmtplib's arguments), for
    sending and for `wg doctor`'s check alike."""
    assert settings.smtp_host is not None, "email is disabled without WG_SMTP_HOST"
    return {
        "hostname": settings.smtp_host,
        "port": settings.smtp_port,
        "username": settings.smtp_username,
        "password": settings.smtp_password,
        "use_tls": settings.smtp_security == "tls",
        "start_tls": settings.smtp_security == "starttls",
        "timeout": settings.smtp_timeout_seconds if timeout is None else timeout,
    }


async def send(settings: Settings, message: EmailMessage) -> None:
    """Send through the configured SMTP server; raises one of SMTP_ERRORS on failure."""
    await aiosmtplib.send(message, **smtp_connection(settings))
