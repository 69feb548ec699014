"""iCalendar (RFC 5545) feeds of meetings, for calendar apps to subscribe to.

Each meeting is one VEVENT whose UID never changes and whose SEQUENCE grows with every update,
so calendar apps replace their copy; a cancelled meeting stays in the feed as STATUS:CANCELLED
so they remove it. Times carry the meeting's TZID, with the VTIMEZONE definitions included.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar

from app.models import Meeting, MeetingStatus

PRODID = "-//wghub//meetings//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"
# VTIMEZONE rules are emitted for the span of the feed's meetings, with a year's margin.
TZ_MARGIN = timedelta(days=366)


def meeting_uid(meeting_id: uuid.UUID) -> str:
    return f"{meeting_id}@wghub"


def _description(meeting: Meeting) -> str:
    parts = [meeting.description or ""]
    if meeting.join_url:
        parts.append(f"Join: {meeting.join_url}")
    if meeting.location:
        parts.append(f"Location: {meeting.location}")
    return "\n\n".join(p for p in parts if p)


def _vevent(meeting: Meeting) -> icalendar.Event:
    zone = ZoneInfo(meeting.timezone)
    event = icalendar.Event()
    event.add("uid", meeting_uid(meeting.id))
    event.add("dtstamp", meeting.updated_at)
    event.add("created", meeting.created_at)
    event.add("last-modified", meeting.updated_at)
    event.add("sequence", meeting.ical_sequence)
    event.add("summary", meeting.title)
    event.add("dtstart", meeting.starts_at.astimezone(zone))
    event.add("dtend", meeting.ends_at.astimezone(zone))
    event.add("status", "CANCELLED" if meeting.status == MeetingStatus.cancelled else "CONFIRMED")
    if description := _description(meeting):
        event.add("description", description)
    location = meeting.location or meeting.join_url
    if location:
        event.add("location", location)
    if meeting.join_url:
        event.add("url", meeting.join_url)
    return event


def calendar(*, name: str, meetings: list[Meeting]) -> bytes:
    """A VCALENDAR with one VEVENT per meeting."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for meeting in meetings:
        cal.add_component(_vevent(meeting))
    if meetings:
        cal.add_missing_timezones(
            first_date=(min(m.starts_at for m in meetings) - TZ_MARGIN).date(),
            last_date=(max(m.ends_at for m in meetings) + TZ_MARGIN).date(),
        )
    body: bytes = cal.to_ical()
    return body
