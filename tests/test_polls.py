"""Polls (issue: polls of every useful kind): results per kind on known stances, validation,
who sees results (GET, events, websocket), anonymity, closing by hand, by the clock and with
the meeting, and a time poll that schedules the meeting it chose."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.models import Poll, PollKind
from app.polls import kinds, tasks
from tests.conftest import Connect
from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, make_group, make_user
from tests.notifications_support import dispatch_group, inbox_types, make_dispatcher, worker_ctx
from tests.test_meetings import call, live_meeting

# --- the arithmetic of each kind, on known stances --------------------------------------


def _rules(kind: PollKind, n: int = 3, **settings: int) -> kinds.Rules:
    return kinds.Rules(kind=kind, option_ids=tuple(kinds.option_ids(n)), **settings)


def _by_id(results: dict[str, Any], field: str) -> dict[str, Any]:
    return {row["id"]: row[field] for row in results["options"]}


def test_single_and_multiple_count_choices() -> None:
    single = kinds.tally(_rules(PollKind.single), [["o1"], ["o2"], ["o1"]])
    assert single["voters"] == 3 and _by_id(single, "count") == {"o1": 2, "o2": 1, "o3": 0}
    rules = _rules(PollKind.multiple, max_choices=2)
    stances = [kinds.normalize_stance(rules, c) for c in (["o1", "o3"], ["o3"], ["o2", "o3"])]
    assert _by_id(kinds.tally(rules, stances), "count") == {"o1": 1, "o2": 1, "o3": 3}


def test_ranked_is_a_borda_count_with_partial_rankings() -> None:
    rules = _rules(PollKind.ranked, n=4)
    # 4 options: first 4 points, second 3, third 2, fourth 1; unranked 0.
    stances = [["o2", "o1", "o3", "o4"], ["o1"], ["o3", "o2"]]
    results = kinds.tally(rules, [kinds.normalize_stance(rules, s) for s in stances])
    assert _by_id(results, "points") == {"o1": 3 + 4, "o2": 4 + 3, "o3": 2 + 4, "o4": 1}


def test_score_sums_and_means_and_dots_sum_within_the_budget() -> None:
    score = _rules(PollKind.score, score_max=5)
    stances = [{"o1": 5, "o2": 0, "o3": 2}, {"o1": 4, "o2": 1, "o3": 2}]
    results = kinds.tally(score, [kinds.normalize_stance(score, s) for s in stances])
    assert _by_id(results, "sum") == {"o1": 9, "o2": 1, "o3": 4}
    assert _by_id(results, "mean") == {"o1": 4.5, "o2": 0.5, "o3": 2.0}
    dot = _rules(PollKind.dot, dots=10)
    stances = [{"o1": 10}, {"o2": 3, "o3": 7}, {"o1": 0, "o3": 4}]
    results = kinds.tally(dot, [kinds.normalize_stance(dot, s) for s in stances])
    assert _by_id(results, "sum") == {"o1": 10, "o2": 3, "o3": 11}


def test_time_counts_yes_and_maybe_and_picks_the_best_slot() -> None:
    rules = _rules(PollKind.time)
    answers = [
        {"o1": "yes", "o2": "maybe", "o3": "no"},
        {"o1": "no", "o2": "yes", "o3": "yes"},
        {"o1": "maybe", "o2": "yes", "o3": "no"},
    ]
    results = kinds.tally(rules, [kinds.normalize_stance(rules, a) for a in answers])
    assert _by_id(results, "yes") == {"o1": 1, "o2": 2, "o3": 1}
    assert _by_id(results, "maybe") == {"o1": 1, "o2": 1, "o3": 0}
    assert kinds.best_slot(results) == "o2"
    assert kinds.best_slot(kinds.tally(rules, [])) is None


@pytest.mark.parametrize(
    ("rules", "choices"),
    [
        (_rules(PollKind.single), ["o1", "o2"]),  # more than one
        (_rules(PollKind.single), []),
        (_rules(PollKind.multiple, max_choices=2), ["o1", "o2", "o3"]),
        (_rules(PollKind.ranked), ["o1", "o1"]),  # twice
        (_rules(PollKind.ranked), ["o9"]),  # unknown
        (_rules(PollKind.score, score_max=5), {"o1": 6, "o2": 0, "o3": 0}),
        (_rules(PollKind.score, score_max=5), {"o1": 1}),  # not every option scored
        (_rules(PollKind.dot, dots=10), {"o1": 6, "o2": 5}),  # over the budget
        (_rules(PollKind.dot, dots=10), {"o1": -1}),
        (_rules(PollKind.dot, dots=10), {"o1": True}),  # not a number
        (_rules(PollKind.time), {"o1": "yes", "o2": "no"}),  # a slot unanswered
        (_rules(PollKind.time), {"o1": "sure", "o2": "no", "o3": "no"}),
        (_rules(PollKind.single), {"o1": 1}),  # a mapping where a list is due
    ],
)
def test_invalid_stances_are_refused(rules: kinds.Rules, choices: Any) -> None:
    with pytest.raises(kinds.Invalid) as caught:
        kinds.normalize_stance(rules, choices)
    assert caught.value.field == "choices"


# --- through the API ----------------------------------------------------------------------


async def _group_with(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], ApiUser, ApiUser, ApiUser, ApiUser]:
    owner, member, other, observer = [
        await make_user(client, n) for n in ("owner", "member", "other", "observer")
    ]
    group = await make_group(client, owner)
    await add_member(client, owner, group["id"], member, "member")
    await add_member(client, owner, group["id"], other, "member")
    await add_member(client, owner, group["id"], observer, "observer")
    return group, owner, member, other, observer


async def _poll(client: httpx.AsyncClient, user: ApiUser, gid: str, **body: Any) -> Any:
    body = {"title": "Which focus area first?", "kind": "single", "options": ["A", "B"], **body}
    return await call(client, user, "POST", f"/groups/{gid}/polls", 201, json=body)


async def _stance(
    client: httpx.AsyncClient, user: ApiUser, poll_id: str, choices: Any, expect: int = 200
) -> Any:
    return await call(
        client, user, "PUT", f"/polls/{poll_id}/stance", expect, json={"choices": choices}
    )


async def _events(client: httpx.AsyncClient, user: ApiUser, gid: str, type_: str) -> list[Any]:
    body = await call(client, user, "GET", f"/groups/{gid}/events", params={"limit": 200})
    return [e for e in body["items"] if e["type"] == type_]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "dot"}, "dots"),
        ({"kind": "score"}, "score_max"),
        ({"kind": "single", "dots": 5}, "dots"),
        ({"kind": "multiple", "max_choices": 3}, "max_choices"),  # more than the options
        ({"kind": "single", "options": ["A"]}, "options"),
        ({"kind": "single", "options": ["A", "a"]}, "options"),  # the same twice
        ({"kind": "time"}, "options"),  # titles where slots are due
        ({"closes_at": "2020-01-01T00:00:00Z"}, "closes_at"),
        ({"meeting_id": str(uuid.uuid4())}, "meeting_id"),
        ({"agenda_item_id": str(uuid.uuid4())}, "agenda_item_id"),
    ],
)
async def test_a_poll_the_kind_does_not_allow_is_422_and_nothing_is_written(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    full = {"title": "t", "kind": "single", "options": ["A", "B"], **body}
    r = await client.post(f"/groups/{group['id']}/polls", json=full, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert any(field in e["loc"] for e in r.json()["errors"]), r.json()
    listed = await call(client, owner, "GET", f"/groups/{group['id']}/polls")
    assert listed["items"] == []


async def test_stances_observers_closing_and_changes(client: httpx.AsyncClient) -> None:
    group, owner, member, other, observer = await _group_with(client)
    gid = group["id"]
    poll = await _poll(client, member, gid, kind="ranked", options=["A", "B", "C"])
    assert [o["id"] for o in poll["options"]] == ["o1", "o2", "o3"]
    assert poll["status"] == "open" and poll["results"]["voters"] == 0

    await _stance(client, observer, poll["id"], ["o1"], 403)  # observers attend, not vote
    await _stance(client, member, poll["id"], ["o4"], 422)
    await _stance(client, member, poll["id"], ["o1", "o2"])
    shown = await _stance(client, member, poll["id"], ["o3"])  # changed: the last one counts
    assert shown["my_stance"] == ["o3"] and shown["stance_count"] == 1
    await _stance(client, other, poll["id"], ["o3", "o1"])
    got = await call(client, owner, "GET", f"/polls/{poll['id']}")
    assert {o["id"]: o["points"] for o in got["results"]["options"]} == {
        "o1": 2,
        "o2": 0,
        "o3": 6,
    }
    # Only the author or a moderator closes; closed, no more stances.
    await call(client, other, "POST", f"/polls/{poll['id']}/close", 403, json={})
    closed = await call(
        client, member, "POST", f"/polls/{poll['id']}/close", json={"outcome": "C first"}
    )
    assert closed["status"] == "closed" and closed["outcome"] == "C first"
    await _stance(client, other, poll["id"], ["o1"], 409)
    await call(client, owner, "POST", f"/polls/{poll['id']}/close", 409, json={})
    (event,) = await _events(client, owner, gid, "poll.closed")
    assert event["data"]["results"] == closed["results"]


async def test_results_stay_hidden_until_allowed_in_get_events_and_stances(
    client: httpx.AsyncClient,
) -> None:
    group, owner, member, other, _ = await _group_with(client)
    gid = group["id"]
    after_close = await _poll(client, owner, gid, results="after_close")
    after_vote = await _poll(client, owner, gid, results="after_vote", title="Second")
    for poll in (after_close, after_vote):
        await _stance(client, member, poll["id"], ["o1"])
    # Before close: nobody sees after_close results; after_vote: only who voted.
    for user in (owner, member, other):
        got = await call(client, user, "GET", f"/polls/{after_close['id']}")
        assert got["results"] is None and got["stance_count"] == 1
    assert (await call(client, member, "GET", f"/polls/{after_vote['id']}"))["results"]
    assert (await call(client, other, "GET", f"/polls/{after_vote['id']}"))["results"] is None
    await call(client, other, "GET", f"/polls/{after_vote['id']}/stances", 403)
    await call(client, owner, "GET", f"/polls/{after_close['id']}/stances", 403)
    listed = await call(client, other, "GET", f"/groups/{gid}/polls")
    assert all(p["results"] is None for p in listed["items"])
    # Events carry counts, never results, while results are hidden from some readers.
    cast = await _events(client, owner, gid, "poll.stance_cast")
    assert len(cast) == 2 and all("results" not in e["data"] for e in cast)
    assert all(e["data"]["stance_count"] == 1 for e in cast)

    await call(client, owner, "POST", f"/polls/{after_close['id']}/close", json={})
    got = await call(client, other, "GET", f"/polls/{after_close['id']}")
    assert got["results"]["options"][0]["count"] == 1
    stances = await call(client, other, "GET", f"/polls/{after_close['id']}/stances")
    assert [s["user"]["id"] for s in stances["items"]] == [member.id]


async def test_visible_results_reach_the_websocket_and_anonymous_polls_hide_voters(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    group, owner, member, _, _ = await _group_with(client)
    gid = group["id"]
    visible = await _poll(client, owner, gid)
    secret = await _poll(client, owner, gid, title="Secret", anonymous=True, results="after_close")
    ws = await ws_connect(owner)
    await ws.subscribe(gid, after=0)
    await ws.wait_for_message("subscribed")
    await _stance(client, member, visible["id"], ["o2"])
    await _stance(client, member, secret["id"], ["o1"])
    seq = (await call(client, owner, "GET", f"/groups/{gid}"))["last_seq"]
    await ws.wait_for_seq(gid, seq)
    live = [e for e in ws.events[gid] if e["type"] == "poll.stance_cast"]
    by_poll = {e["data"]["poll_id"]: e for e in live}
    # The moderator watches results arrive where the poll shows them to everyone...
    assert by_poll[visible["id"]]["data"]["results"]["options"][1]["count"] == 1
    assert by_poll[visible["id"]]["actor_id"] == member.id
    # ...and an anonymous poll's events say neither who nor (here) what.
    assert "results" not in by_poll[secret["id"]]["data"]
    assert by_poll[secret["id"]]["actor_id"] is None
    await call(client, owner, "GET", f"/polls/{secret['id']}/stances", 403)
    await call(client, owner, "POST", f"/polls/{secret['id']}/close", json={})
    await call(client, owner, "GET", f"/polls/{secret['id']}/stances", 403)  # still anonymous


async def test_the_clock_closes_polls_and_warns_who_has_not_answered(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    group, owner, member, other, _ = await _group_with(client)
    gid = group["id"]
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    poll = await _poll(client, owner, gid, closes_at=soon)
    await _stance(client, member, poll["id"], ["o1"])
    ctx = worker_ctx(app)

    assert await tasks.announce_closing_polls(ctx) >= 1
    assert await tasks.announce_closing_polls(ctx) == 0  # once per closing time
    (warning,) = await _events(client, owner, gid, "poll.closing_soon")
    assert warning["actor_id"] is None
    # Members are told of the poll; those who have not answered, that it closes soon.
    await dispatch_group(make_dispatcher(app), gid)
    assert await inbox_types(client, other) == ["poll.opened", "poll.closing_soon"]
    assert await inbox_types(client, member) == ["poll.opened"]
    # The author is not told of their own poll, but has not answered either.
    assert await inbox_types(client, owner) == ["poll.closing_soon"]

    # Its time comes (moved rather than waited for): the worker closes it.
    async with app.state.session_factory() as session, session.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(Poll).where(Poll.id == uuid.UUID(poll["id"])).values(closes_at=past)  # type: ignore[arg-type]
        )
    await _stance(client, other, poll["id"], ["o2"], 409)  # past its time: closed for voters
    assert await tasks.close_due_polls(ctx) >= 1
    got = await call(client, other, "GET", f"/polls/{poll['id']}")
    assert got["status"] == "closed" and got["results"]["voters"] == 1
    await tasks.close_due_polls(ctx)  # again: a closed poll stays closed once
    (closed,) = await _events(client, owner, gid, "poll.closed")
    assert closed["actor_id"] is None and closed["data"]["results"] == got["results"]


async def test_closing_a_time_poll_schedules_its_best_slot(client: httpx.AsyncClient) -> None:
    group, owner, member, other, _ = await _group_with(client)
    gid = group["id"]
    start = datetime(2031, 3, 4, 14, tzinfo=UTC)
    slots = [
        {"starts_at": (start + timedelta(days=d)).isoformat(),
         "ends_at": (start + timedelta(days=d, hours=1)).isoformat()}
        for d in range(3)
    ]  # fmt: skip
    poll = await _poll(client, owner, gid, kind="time", options=slots, title="Next meeting")
    await _stance(client, member, poll["id"], {"o1": "yes", "o2": "yes", "o3": "no"})
    await _stance(client, other, poll["id"], {"o1": "no", "o2": "maybe", "o3": "yes"})
    body = {"create_meeting": True, "timezone": "America/Bogota"}
    closed = await call(client, owner, "POST", f"/polls/{poll['id']}/close", json=body)
    meeting = await call(client, owner, "GET", f"/meetings/{closed['scheduled_meeting_id']}")
    assert meeting["status"] == "scheduled" and meeting["title"] == "Next meeting"
    assert meeting["starts_at"] == slots[1]["starts_at"].replace("+00:00", "Z")
    assert meeting["timezone"] == "America/Bogota"
    assert len(await _events(client, owner, gid, "meeting.scheduled")) == 1
    # Only a time poll schedules a meeting.
    single = await _poll(client, owner, gid)
    await call(client, owner, "POST", f"/polls/{single['id']}/close", 422, json=body)


async def test_a_meetings_polls_are_shown_in_it_close_with_it_and_go_into_its_report(
    client: httpx.AsyncClient,
) -> None:
    group, owner, member, _, _ = await _group_with(client)
    gid = group["id"]
    meeting = await live_meeting(client, owner, gid)
    item = await call(
        client,
        owner,
        "POST",
        f"/meetings/{meeting['id']}/agenda-items",
        201,
        json={"title": "Vote"},
    )
    poll = await _poll(
        client, owner, gid, meeting_id=meeting["id"], agenda_item_id=item["id"], title="Pick *one*"
    )
    elsewhere = await _poll(client, owner, gid, title="Not in the meeting")
    shown = await call(client, member, "GET", f"/meetings/{meeting['id']}")
    assert shown["open_polls"] == [
        {"id": poll["id"], "title": "Pick *one*", "kind": "single", "agenda_item_id": item["id"]}
    ]
    await _stance(client, member, poll["id"], ["o1"])
    await call(client, owner, "POST", f"/meetings/{meeting['id']}/end")
    assert (await call(client, member, "GET", f"/meetings/{meeting['id']}"))["open_polls"] == []
    report = await call(client, member, "GET", f"/meetings/{meeting['id']}/report")
    (reported,) = report["polls"]
    assert reported["id"] == poll["id"] and reported["status"] == "closed"
    assert reported["results"]["options"][0] == {"id": "o1", "count": 1}
    r = await client.get(f"/meetings/{meeting['id']}/report.md", headers=member.headers)
    assert "## Polls" in r.text and "Pick \\*one\\*" in r.text and "- A: count 1" in r.text
    assert (await call(client, owner, "GET", f"/polls/{poll['id']}"))["status"] == "closed"
    assert (await call(client, owner, "GET", f"/polls/{elsewhere['id']}"))["status"] == "open"
    listed = await call(
        client, owner, "GET", f"/groups/{gid}/polls", params={"meeting_id": meeting["id"]}
    )
    assert [p["id"] for p in listed["items"]] == [poll["id"]]
