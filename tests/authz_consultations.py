"""Authorization matrix rows for questionnaires and their responses.

The world's questionnaire is open, and the plain member ("member") answers for the world's
organization, which their membership names: members answer for it (an update after the first
answer), moderators and owners record interviews for it; observers only read. Responses one by
one (list, CSV) are for moderators.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz_base import API, Case, World, group_read, json_body, member_write, moderator_write

Q = f"{API}/questionnaires/{{questionnaire_id}}"
QUESTIONS = [
    {"text": "Main barrier?", "kind": "single", "options": ["Cost", "Skills"], "required": True},
    {"text": "How visible is your cluster?", "kind": "scale"},
]


async def _questionnaire(client: httpx.AsyncClient, world: World, *, open_it: bool) -> str:
    moderator = world.users["moderator"].headers
    body = {"title": "Interviews", "questions": QUESTIONS}
    r = await client.post(f"/groups/{world.group_id}/questionnaires", json=body, headers=moderator)
    assert r.status_code == 201, r.text
    qid: str = r.json()["id"]
    if open_it:
        r = await client.post(f"/questionnaires/{qid}/open", headers=moderator)
        assert r.status_code == 200, r.text
    return qid


async def build(client: httpx.AsyncClient, world: World) -> None:
    owner, member = world.users["owner"], world.users["member"]
    r = await client.patch(
        f"/groups/{world.group_id}/members/{member.id}",
        json={"organization_id": world.org_id},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    qid = await _questionnaire(client, world, open_it=True)
    r = await client.post(
        f"/questionnaires/{qid}/responses", headers=member.headers, **answers(world, "member")
    )
    assert r.status_code == 201, r.text
    world.ids["questionnaire_id"] = qid
    world.ids["response_id"] = r.json()["id"]  # evidence for findings (tests/authz_diagnosis.py)


async def fresh_draft(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """Each caller tries to open a draft of its own (1 event each)."""
    world.ids["questionnaire_id"] = await _questionnaire(client, world, open_it=False)


async def fresh_open(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """Each caller tries to close an open questionnaire of its own (2 events each)."""
    world.ids["questionnaire_id"] = await _questionnaire(client, world, open_it=True)


def answers(world: World, caller: str) -> dict[str, Any]:
    return {"json": {"organization_id": world.org_id, "answers": {"q1": "Cost", "q2": 4}}}


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/questionnaires"): Case(
        moderator_write(201), json_body({"title": "Round two", "questions": QUESTIONS}), events=2
    ),
    ("GET", f"{API}/groups/{{group_id}}/questionnaires"): Case(group_read()),
    ("GET", Q): Case(group_read()),
    ("PATCH", Q): Case(moderator_write(200), json_body({"title": "June interviews"}), events=1),
    ("POST", f"{Q}/open"): Case(moderator_write(200), fresh=fresh_draft, events=6 + 2),
    ("POST", f"{Q}/close"): Case(moderator_write(200), fresh=fresh_open, events=6 * 2 + 2),
    ("POST", f"{Q}/responses"): Case(member_write(200), answers, events=3),
    ("GET", f"{Q}/responses"): Case(moderator_write(200)),
    ("GET", f"{Q}/responses.csv"): Case(moderator_write(200)),
    ("GET", f"{Q}/summary"): Case(group_read()),
}
