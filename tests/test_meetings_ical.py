"""iCalendar feeds: they parse with `icalendar`, keep their UIDs, carry the meeting's TZID, grow
SEQUENCE with each update, mark cancellations, and accept `?token=<feed token>` for calendar
apps (never an API key or a JWT)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, make_group, make_user
from tests.test_meetings import JOIN_URL, SANTIAGO, call, create_meeting


async def fetch(
    client: httpx.AsyncClient, path: str, user: ApiUser | None = None, **params: str
) -> icalendar.Calendar:
    r = await client.get(path, headers=user.headers if user else {}, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(r.content)


def by_uid(cal: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def api_key(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    key: dict[str, Any] = await call(
        client, user, "POST", "/auth/api-keys", 201, json={"name": "cal"}
    )
    return key


async def test_feeds_keep_uids_and_grow_sequence(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner, "public")
    gid = group["id"]
    founding = await create_meeting(client, owner, gid, description="Agenda to follow")
    other = await create_meeting(
        client,
        owner,
        gid,
        title="Debate on supply",
        starts_at="2026-10-01T10:00:00-06:00",
        ends_at="2026-10-01T11:30:00-06:00",
        timezone="America/Mexico_City",
        mode="hybrid",
        location="Guadalajara",
    )
    uid, other_uid = f"{founding['id']}@wghub", f"{other['id']}@wghub"

    cal = await fetch(client, f"/meetings/{founding['id']}.ics", owner)
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == uid
    assert event["DTSTART"].params["TZID"] == SANTIAGO
    assert event["DTEND"].params["TZID"] == SANTIAGO
    assert event.start == datetime(2026, 9, 17, 15, 0, tzinfo=ZoneInfo(SANTIAGO))
    assert event.end == datetime(2026, 9, 17, 17, 0, tzinfo=ZoneInfo(SANTIAGO))
    assert str(event["URL"]) == JOIN_URL
    assert str(event["LOCATION"]) == JOIN_URL
    assert JOIN_URL in str(event["DESCRIPTION"]) and "Agenda to follow" in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == [SANTIAGO]

    feed = by_uid(await fetch(client, f"/groups/{gid}/calendar.ics", owner))
    assert set(feed) == {uid, other_uid}
    assert feed[other_uid]["DTSTART"].params["TZID"] == "America/Mexico_City"
    assert str(feed[other_uid]["LOCATION"]) == "Guadalajara"

    # An update: same UID, higher SEQUENCE, new details.
    await call(
        client,
        owner,
        "PATCH",
        f"/meetings/{founding['id']}",
        json={"title": "Founding meeting (new time)", "starts_at": "2026-09-17T14:00:00-03:00"},
    )
    feed = by_uid(await fetch(client, f"/groups/{gid}/calendar.ics", owner))
    assert int(feed[uid]["SEQUENCE"]) == 1
    assert str(feed[uid]["SUMMARY"]) == "Founding meeting (new time)"
    assert feed[uid].start == datetime(2026, 9, 17, 14, 0, tzinfo=ZoneInfo(SANTIAGO))
    assert int(feed[other_uid]["SEQUENCE"]) == 0

    # A cancellation stays in the feed, marked, with a higher SEQUENCE.
    await call(client, owner, "POST", f"/meetings/{other['id']}/cancel")
    feed = by_uid(await fetch(client, f"/groups/{gid}/calendar.ics", owner))
    assert set(feed) == {uid, other_uid}
    assert str(feed[other_uid]["STATUS"]) == "CANCELLED"
    assert int(feed[other_uid]["SEQUENCE"]) == 1
    assert str(feed[uid]["STATUS"]) == "CONFIRMED"
    # Starting and ending change no calendar entry.
    await call(client, owner, "POST", f"/meetings/{founding['id']}/start")
    await call(client, owner, "POST", f"/meetings/{founding['id']}/end")
    (event,) = (await fetch(client, f"/meetings/{founding['id']}.ics", owner)).walk("VEVENT")
    assert (str(event["UID"]), int(event["SEQUENCE"])) == (uid, 1)

    # A public group's feed: any signed-in user.
    reader = await make_user(client, "reader")
    assert set(by_uid(await fetch(client, f"/groups/{gid}/calendar.ics", reader))) == {
        uid,
        other_uid,
    }


async def feed_token(client: httpx.AsyncClient, user: ApiUser) -> str:
    body = await call(client, user, "POST", "/users/me/calendar-token", 201)
    token: str = body["token"]
    assert token.startswith("wgc_")
    return token


async def test_private_feed_takes_a_feed_token_not_an_api_key(client: httpx.AsyncClient) -> None:
    owner, member, outsider = [await make_user(client, n) for n in ("owner", "member", "out")]
    group = await make_group(client, owner, "private")
    gid = group["id"]
    await add_member(client, owner, gid, member, "observer")
    meeting = await create_meeting(client, owner, gid)
    uid = f"{meeting['id']}@wghub"
    feeds = (f"/groups/{gid}/calendar.ics", f"/meetings/{meeting['id']}.ics")
    token = await feed_token(client, member)
    key = await api_key(client, member)

    for path in feeds:
        cal = await fetch(client, path, token=token)  # no Authorization header
        assert uid in by_uid(cal)
        assert str(cal["X-WR-CALNAME"]) in (group["name"], meeting["title"])

        # No credentials, a bad feed token, an API key or a JWT in ?token=: 401 (a URL ends up
        # in logs and calendar apps: it may only carry a token that reads calendars).
        for params in (
            {},
            {"token": "wgc_not-a-token"},
            {"token": key["key"]},
            {"token": member.token},
        ):
            r = await client.get(path, params=params)
            assert r.status_code == 401, (path, params, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
        # A valid feed token of someone outside the private group: 404, as for any object.
        r = await client.get(path, params={"token": await feed_token(client, outsider)})
        assert r.status_code == 404, r.text

    # The feed token reads calendars and nothing else, not even as a header.
    as_header = {"Authorization": f"Bearer {token}"}
    assert (await client.get(feeds[0], headers=as_header)).status_code == 200
    for method, path in (("GET", "/users/me"), ("GET", f"/groups/{gid}"), ("POST", "/groups")):
        r = await client.request(method, path, headers=as_header, json={"name": "x"})
        assert r.status_code == 401, (method, path, r.text)

    # Rotating replaces it; revoking ends it.
    rotated = await feed_token(client, member)
    assert (await client.get(feeds[0], params={"token": token})).status_code == 401
    await fetch(client, feeds[0], token=rotated)
    await call(client, member, "DELETE", "/users/me/calendar-token", 204)
    r = await client.get(feeds[0], params={"token": rotated})
    assert r.status_code == 401, r.text
