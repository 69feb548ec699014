"""Matching organizations' needs with others' offers, and introductions that act on a match.

Matches are computed on request from the organizations' declared terms (app/matching/
scoring.py); nothing about them is stored. An introduction is stored, creates an action item
through the roadmap's service, and records `match.introduced`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from app.core.errors import BadRequest, ValidationFailed
from app.core.events import Change
from app.core.pagination import PageParams, decode_cursor, encode_cursor
from app.groups.access import GroupContext
from app.matching import queries
from app.matching.schemas import IntroductionCreate, IntroductionStats, Scope
from app.matching.scoring import Match, Org, meetings, rank, rarity
from app.matching.taxonomy import BY_ID
from app.models import ActionItemStatus
from app.models.base import new_id, utcnow
from app.roadmap.schemas import ActionItemCreate
from app.roadmap.service import create_action_item

SUBJECT = "introduction"
TITLE_NAME_LENGTH = 80  # each name in "Introduce A and B" (an item's title is ≤ 200)


def _brief(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "kind": org.kind, "country": org.country}


def match_json(m: Match) -> dict[str, Any]:
    return {
        "need_organization": _brief(m.need),
        "offer_organization": _brief(m.offer),
        "shared_terms": list(dict.fromkeys(mt.shared for mt, _ in m.meetings)),
        "overlaps": [
            {"need_term": mt.need_term, "offer_term": mt.offer_term, "exact": mt.exact, "weight": w}
            for mt, w in m.meetings
        ],
        "score": m.score,
        "reasons": list(m.reasons),
    }


def _involves(m: Match, ids: set[uuid.UUID] | None, country: str | None) -> bool:
    sides = (m.need, m.offer)
    if ids is not None and not any(o.id in ids for o in sides):
        return False
    return country is None or any(o.country == country for o in sides)


def _after(ranked: list[Match], cursor: str | None) -> Iterable[Match]:
    """The matches after the cursor's (score, need id, offer id) in the ranking's order."""
    if not cursor:
        return ranked
    score, need_id, offer_id = decode_cursor(cursor, (str, uuid.UUID, uuid.UUID))
    try:
        key = (-float(score), need_id, offer_id)
    except ValueError as exc:
        raise BadRequest("Invalid cursor", errors=[{"loc": ["query", "cursor"]}]) from exc
    return (m for m in ranked if (-m.score, m.need.id, m.offer.id) > key)


async def list_matches(
    *,
    ctx: GroupContext,
    scope: Scope,
    country: str | None,
    focus_area_id: uuid.UUID | None,
    page: PageParams,
) -> tuple[list[dict[str, Any]], str | None]:
    """Pairs (a member organization's needs, an offering organization), best first."""
    conn = ctx.tx.conn
    members = await queries.member_organizations(conn, ctx.group.id)
    offering = members if scope is Scope.group else await queries.registry_organizations(conn)
    offering = [o for o in offering if o.offers]
    engaged = None
    if focus_area_id is not None:
        engaged = await queries.engaged_organizations(conn, ctx.group.id, focus_area_id)
    ranked = rank((o for o in members if o.needs), offering, rarity(offering))
    chosen = (m for m in _after(ranked, page.cursor) if _involves(m, engaged, country))
    out: list[Match] = []
    for m in chosen:
        if len(out) == page.limit:
            last = out[-1]
            return [match_json(m) for m in out], encode_cursor(
                [repr(last.score), last.need.id, last.offer.id]
            )
        out.append(m)
    return [match_json(m) for m in out], None


# --- introductions ----------------------------------------------------------------------------


def _invalid(loc: list[str], msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", *loc], "msg": msg}])


async def _pair(ctx: GroupContext, data: IntroductionCreate) -> tuple[Org, Org]:
    """The two organizations, checked: the needing one is a member organization of the group
    (another group's is refused like an unknown id), the offering one any registry's, not the
    same, and every term one they share."""
    conn = ctx.tx.conn
    need = await queries.member_organization(conn, ctx.group.id, data.need_organization_id)
    if need is None:
        raise _invalid(
            ["need_organization_id"], "no such organization among the group's members' ones"
        )
    offer = await queries.organization(conn, data.offer_organization_id)
    if offer is None:
        raise _invalid(["offer_organization_id"], "no such organization")
    if offer.id == need.id:
        raise _invalid(["offer_organization_id"], "an organization is not introduced to itself")
    shared = {m.shared for m in meetings(need.needs, offer.offers)}
    for i, term in enumerate(data.terms):
        if term not in shared:
            raise _invalid(
                ["terms", str(i)],
                f"{term!r} is not shared by the two organizations (shared: {sorted(shared)})",
            )
    return need, offer


def _title(need: Org, offer: Org) -> str:
    def short(name: str) -> str:
        return name if len(name) <= TITLE_NAME_LENGTH else name[: TITLE_NAME_LENGTH - 1] + "…"

    return f"Introduce {short(need.name)} and {short(offer.name)}"


def _description(need: Org, offer: Org, terms: list[str], note: str | None) -> str:
    labels = ", ".join(BY_ID[t].label_en for t in terms)
    text = (
        f"{need.name} ({need.country}) needs what {offer.name} ({offer.country}) offers: {labels}."
    )
    return f"{text}\n\n{note}" if note else text


async def introduce(*, ctx: GroupContext, data: IntroductionCreate) -> dict[str, Any]:
    """Record the introduction with its action item (owned by the caller when a member of
    the group), in one transaction: `action_item.created` (+ `assigned`), `match.introduced`."""
    need, offer = await _pair(ctx, data)
    item = await create_action_item(
        ctx=ctx,
        data=ActionItemCreate(
            title=_title(need, offer),
            description=_description(need, offer, data.terms, data.note),
            # An admin outside the group cannot own one of its items.
            owner_id=ctx.user.id if ctx.member_role is not None else None,
        ),
    )
    intro: dict[str, Any] = {
        "id": new_id(),
        "group_id": ctx.group.id,
        "need_organization_id": need.id,
        "offer_organization_id": offer.id,
        "terms": data.terms,
        "note": data.note,
        "action_item_id": item.id,
        "created_by": ctx.user.id,
        "created_at": utcnow(),
    }
    read = {
        "id": intro["id"],
        "group_id": ctx.group.id,
        "need_organization": _brief(need),
        "offer_organization": _brief(offer),
        "terms": data.terms,
        "note": data.note,
        "action_item_id": item.id,
        "action_item_status": item.status,
        "created_by": ctx.user.id,
        "created_at": intro["created_at"],
    }
    snapshot = {**read, "title": item.title}
    await ctx.change_and_record(
        Change(queries.INSERT_INTRO, {f"n_{k}": v for k, v in intro.items()}),
        subject_type=SUBJECT,
        subject_id=intro["id"],
        events=[("match.introduced", {SUBJECT: snapshot})],
    )
    return read


async def stats(*, ctx: GroupContext) -> IntroductionStats:
    counts = await queries.introduction_counts(ctx.tx.conn, ctx.group.id)
    done = counts.get(ActionItemStatus.done, 0)
    dropped = counts.get(ActionItemStatus.cancelled, 0) + counts.get(None, 0)
    made = sum(counts.values())
    return IntroductionStats(made=made, completed=done, open=made - done - dropped, dropped=dropped)
