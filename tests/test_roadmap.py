"""The roadmap view and CSV bulk export/import of action items."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.helpers import events_of
from tests.roadmap_helpers import Team, create_item, make_team, patch_item


async def _item(
    client: httpx.AsyncClient, team: Team, area: int | None, status: str, progress: int, **kw: Any
) -> dict[str, Any]:
    item = await create_item(
        client, team, focus_area_id=team.areas[area] if area is not None else None, **kw
    )
    change: dict[str, Any] = {"status": status}
    if status != "done":
        change["progress"] = progress
    r = await patch_item(client, team.moderator, item["id"], **change)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_roadmap_numbers_on_a_known_data_set(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=3)
    a1 = [
        await _item(client, team, 0, "in_progress", 20, title="a1 undated"),
        await _item(client, team, 0, "done", 100, title="a1 done", due_date="2031-01-10"),
        await _item(client, team, 0, "cancelled", 50, title="a1 cancelled"),
    ]
    a2 = [
        await _item(client, team, 1, "in_progress", 33, title="a2 late", due_date="2031-06-01"),
        await _item(client, team, 1, "blocked", 34, title="a2 early", due_date="2031-02-01"),
        await _item(client, team, 1, "todo", 0, title="a2 todo"),
    ]
    none = [
        await _item(client, team, None, "in_progress", 10, title="n1"),
        await _item(client, team, None, "in_progress", 25, title="n2"),
    ]
    assert len(a1 + a2 + none) == 8
    r = await client.get(f"/groups/{team.group_id}/roadmap", headers=team.observer.headers)
    assert r.status_code == 200, r.text
    roadmap = r.json()

    def summary(bucket: dict[str, Any]) -> tuple[Any, ...]:
        return (
            bucket["item_count"],
            bucket["done_count"],
            bucket["cancelled_count"],
            bucket["progress"],
        )

    # Overall: (20 + 100 + 33 + 34 + 0 + 10 + 25) / 7 = 31.71… → 31.7; cancelled left out.
    assert summary(roadmap) == (7, 1, 1, 31.7)
    areas = roadmap["areas"]
    assert [a["focus_area"]["title"] if a["focus_area"] else None for a in areas] == [
        "Area 1",
        "Area 2",
        "Area 3",
        None,
    ]
    assert summary(areas[0]) == (2, 1, 1, 60.0)  # (20 + 100) / 2
    assert summary(areas[1]) == (3, 0, 0, 22.3)  # 67 / 3 = 22.33…
    assert summary(areas[2]) == (0, 0, 0, None)  # an area without items
    assert summary(areas[3]) == (2, 0, 0, 17.5)  # (10 + 25) / 2, rounded half up stays 17.5
    # By due date, undated last; cancelled items are not listed.
    assert [i["title"] for i in areas[0]["items"]] == ["a1 done", "a1 undated"]
    assert [i["title"] for i in areas[1]["items"]] == ["a2 early", "a2 late", "a2 todo"]

    empty = await make_team(client, areas=1)
    r = await client.get(f"/groups/{empty.group_id}/roadmap", headers=empty.member.headers)
    assert summary(r.json()) == (0, 0, 0, None)
    assert len(r.json()["areas"]) == 2
    r = await client.get(f"/groups/{team.group_id}/roadmap", headers=team.outsider.headers)
    assert r.status_code == 404


# --- CSV --------------------------------------------------------------------------------------


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def to_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def export(client: httpx.AsyncClient, team: Team) -> str:
    r = await client.get(f"/groups/{team.group_id}/action-items.csv", headers=team.member.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return r.text


async def upload(client: httpx.AsyncClient, team: Team, content: bytes) -> httpx.Response:
    return await client.post(
        f"/groups/{team.group_id}/action-items/import",
        files={"file": ("items.csv", content, "text/csv")},
        headers=team.moderator.headers,
    )


async def seed_items(client: httpx.AsyncClient, team: Team) -> None:
    await create_item(
        client,
        team,
        title="Catalogue, phase 1",
        description='Line one\nline two, with "quotes" and ñ',
        owner_id=team.member.id,
        due_date="2031-03-31",
        priority="high",
        focus_area_id=team.areas[0],
    )
    await create_item(client, team, title="Map of clusters")
    await create_item(client, team, title="Training", owner_id=team.member2.id)


async def test_csv_round_trip(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    await seed_items(client, team)
    before = await export(client, team)
    rows = parse(before)
    assert list(rows[0]) == [
        "id",
        "title",
        "description",
        "status",
        "progress",
        "priority",
        "owner_email",
        "due_date",
        "focus_area_id",
        "proposal_id",
        "meeting_id",
    ]
    assert rows[0]["owner_email"] == team.member.email
    assert rows[0]["description"] == 'Line one\nline two, with "quotes" and ñ'
    assert rows[1]["owner_email"] == "" and rows[1]["due_date"] == ""

    # Edit in a "spreadsheet": progress, status, owner, due date, area; one new row.
    rows[0].update(status="in_progress", progress="45", due_date="2031-04-30")
    rows[1].update(owner_email=team.member2.email.upper(), focus_area_id=team.areas[1])
    rows[2].update(status="done", progress="100", owner_email="", description="Delivered")
    new = {c: "" for c in rows[0]} | {
        "title": "Joint calendar of events",
        "status": "blocked",
        "progress": "5",
        "priority": "low",
        "owner_email": team.member.email,
        "due_date": "2031-12-01",
    }
    edited = [*rows, new]
    seq = (await events_of(client, team.owner, team.group_id))[-1]["seq"]
    r = await upload(client, team, to_csv(edited))
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 3, 0)
    new["id"] = result["items"][3]["id"]
    rows[1]["owner_email"] = team.member2.email  # emails are stored lower-case

    after = parse(await export(client, team))
    assert after == edited

    events = [e for e in await events_of(client, team.owner, team.group_id) if e["seq"] > seq]
    by_item: dict[str, list[str]] = {}
    for e in events:
        by_item.setdefault(e["subject"]["id"], []).append(e["type"])
    assert by_item[rows[0]["id"]] == ["action_item.updated"]
    assert by_item[rows[1]["id"]] == ["action_item.updated", "action_item.assigned"]
    assert by_item[rows[2]["id"]] == [
        "action_item.updated",
        "action_item.assigned",
        "action_item.completed",
    ]
    assert by_item[new["id"]] == [
        "action_item.created",
        "action_item.assigned",
        "action_item.updated",
    ]
    changes = next(e for e in events if e["subject"]["id"] == rows[0]["id"])["data"]["changes"]
    assert changes["due_date"] == {"old": "2031-03-31", "new": "2031-04-30"}

    # The same file again changes nothing; a text/csv body works as well as a form upload.
    r = await client.post(
        f"/groups/{team.group_id}/action-items/import",
        content=to_csv(after),
        headers={**team.moderator.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 4)


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised_and_round_trip(
    client: httpx.AsyncClient,
) -> None:
    team = await make_team(client)
    titles = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1)", "+1+1", "-2-2", "'=kept"]
    descriptions = {
        (await create_item(client, team, title=title, description="=cmd|' /C calc'!A0"))[
            "description"
        ]
        for title in titles
    }
    before = await export(client, team)
    rows = parse(before)
    cells = [row[c] for row in rows for c in ("title", "description")]
    # Nothing a spreadsheet would evaluate: every such cell starts with the text mark.
    assert all(cell.startswith("'") for cell in cells), cells
    assert sorted(row["title"] for row in rows) == sorted("'" + t for t in titles)

    # Importing the export gives back exactly what was exported: nothing changes.
    r = await upload(client, team, before.encode())
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 5)
    assert await export(client, team) == before
    items = r.json()["items"]
    assert sorted(i["title"] for i in items) == sorted(titles)
    assert {i["description"] for i in items} == descriptions == {"=cmd|' /C calc'!A0"}


async def assert_refused(
    client: httpx.AsyncClient, team: Team, content: bytes, *, column: str | None = None
) -> dict[str, Any]:
    """422, and neither the items nor the event history changed."""
    before = await export(client, team)
    seq = (await events_of(client, team.owner, team.group_id))[-1]["seq"]
    r = await upload(client, team, content)
    assert r.status_code == 422, r.text
    assert await export(client, team) == before
    assert (await events_of(client, team.owner, team.group_id))[-1]["seq"] == seq
    problem: dict[str, Any] = r.json()
    return problem


async def test_a_bad_csv_changes_nothing(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    await seed_items(client, team)
    rows = parse(await export(client, team))

    # An unknown column.
    bad = [r | {"colour": "red"} for r in rows]
    problem = await assert_refused(client, team, to_csv(bad))
    assert problem["errors"] == [{"loc": ["header", "colour"], "msg": "unknown column 'colour'"}]

    # Good rows and bad rows: every bad row is reported, none of the good ones is applied.
    edited = [dict(r) for r in rows]
    edited[0]["progress"] = "55"  # fine
    edited[1]["progress"] = "150"
    edited[2]["due_date"] = "31/12/2031"
    extra = [
        {c: "" for c in rows[0]} | {"title": "New", "owner_email": "nobody@example.org"},
        {c: "" for c in rows[0]} | {"title": "", "status": "todo"},
        {c: "" for c in rows[0]} | {"id": "00000000-0000-0000-0000-000000000000", "title": "X"},
        {c: "" for c in rows[0]} | {"title": "Done at half", "status": "done", "progress": "50"},
        {c: "" for c in rows[0]} | {"title": "Stuck", "status": "waiting"},
    ]
    problem = await assert_refused(client, team, to_csv(edited + extra))
    got = {(e["row"], e["column"]) for e in problem["errors"]}
    assert got == {
        (3, "progress"),
        (4, "due_date"),
        (5, "owner_email"),
        (6, "title"),
        (7, "id"),
        (8, "progress"),
        (9, "status"),
    }
    assert "nothing was imported" in problem["detail"]

    # A row with the wrong number of fields; a file that is not UTF-8.
    text = to_csv(rows).decode() + '"only one field"\r\n'
    problem = await assert_refused(client, team, text.encode())
    assert problem["errors"][0]["row"] == 5
    await assert_refused(client, team, "title\r\nCaf\xe9\r\n".encode("latin-1"))

    # Over 5,000 rows, however good.
    many = b"title,progress\r\n" + b"".join(b"Item %d,10\r\n" % i for i in range(5_001))
    problem = await assert_refused(client, team, many)
    assert "5001 rows" in problem["detail"]


async def test_import_needs_csv_and_a_moderator(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    url = f"/groups/{team.group_id}/action-items/import"
    r = await client.post(url, json={"title": "x"}, headers=team.moderator.headers)
    assert r.status_code == 415
    r = await client.post(url, data={"file": "title"}, headers=team.moderator.headers)
    assert r.status_code == 415  # a urlencoded form
    r = await client.post(
        url,
        files={"other": ("a.csv", b"title\r\nX\r\n", "text/csv")},
        headers=team.moderator.headers,
    )
    assert r.status_code == 422  # multipart without the `file` field
    r = await client.post(
        url,
        files={"file": ("a.csv", b"title\r\nMine\r\n", "text/csv")},
        headers=team.member.headers,
    )
    assert r.status_code == 403
    r = await client.post(
        url, files={"file": ("a.csv", b"", "text/csv")}, headers=team.moderator.headers
    )
    assert r.status_code == 422
    # BOM from spreadsheet apps is fine; columns in any order, a subset.
    content = "\ufeffpriority,title\r\nhigh,With a BOM\r\n".encode()
    r = await client.post(
        url, files={"file": ("a.csv", content, "text/csv")}, headers=team.moderator.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["title"] == "With a BOM"
    assert r.json()["items"][0]["priority"] == "high"


async def test_export_is_for_members_only(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    r = await client.patch(
        f"/groups/{team.group_id}", json={"visibility": "public"}, headers=team.owner.headers
    )
    assert r.status_code == 200
    url = f"/groups/{team.group_id}/action-items.csv"
    assert (await client.get(url, headers=team.observer.headers)).status_code == 200
    # A public group's roadmap is open to everyone signed in, its members' emails are not.
    assert (await client.get(url, headers=team.outsider.headers)).status_code == 403
    r = await client.get(f"/groups/{team.group_id}/roadmap", headers=team.outsider.headers)
    assert r.status_code == 200
