"""How well one organization's offers meet another's needs (pure functions, no I/O).

- Each need term of the needing organization meets at most one offer term of the offering
  one: the same term (exact, full weight) or its broader or narrower term (half weight).
- An offer term weighs more the rarer it is among the offers of the pool considered (inverse
  frequency): `1 + ln(P / f)` with P the organizations of the pool that offer anything and f
  those that offer the term. A need met by one supplier in the network counts more than one
  every supplier meets.
- A pair from two countries gets a 10 % bonus: the network exists for regional exchange.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.matching.taxonomy import BY_ID, narrower_of, related

BROADER_NARROWER_FACTOR = 0.5
CROSS_COUNTRY_BONUS = 0.10


@dataclass(frozen=True, slots=True)
class Org:
    id: uuid.UUID
    name: str
    kind: str
    country: str
    offers: tuple[str, ...]
    needs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Meeting:
    """One need term met by one offer term."""

    need_term: str
    offer_term: str

    @property
    def exact(self) -> bool:
        return self.need_term == self.offer_term

    @property
    def shared(self) -> str:
        return narrower_of(self.need_term, self.offer_term)


@dataclass(frozen=True, slots=True)
class Match:
    need: Org
    offer: Org
    meetings: tuple[tuple[Meeting, float], ...]  # with each one's weight
    score: float
    reasons: tuple[str, ...]


def meetings(needs: Iterable[str], offers: Sequence[str]) -> list[Meeting]:
    """Each need term with the offer term that meets it best (exact before related); needs
    nothing meets are left out. Terms no longer in the taxonomy are ignored."""
    out = []
    for need in needs:
        if need not in BY_ID:
            continue
        if need in offers:
            out.append(Meeting(need, need))
            continue
        near = [o for o in offers if o in BY_ID and related(need, o)]
        if near:
            out.append(Meeting(need, near[0]))
    return out


def rarity(pool: Iterable[Org]) -> dict[str, float]:
    """Each offered term's weight among the pool's offers: `1 + ln(P / f)`."""
    offering = [set(o.offers) for o in pool if o.offers]
    counts = Counter(term for offers in offering for term in offers)
    return {term: 1 + math.log(len(offering) / n) for term, n in counts.items()}


def _label(term: str) -> str:
    return f"“{BY_ID[term].label_en}”"


def _reason(m: Meeting, weight: float) -> str:
    if m.exact:
        return f"needs and offers {_label(m.need_term)} ({weight:.2f})"
    how = "narrower" if m.shared == m.offer_term else "broader"
    return (
        f"needs {_label(m.need_term)}, offers the {how} {_label(m.offer_term)} "
        f"(half weight: {weight:.2f})"
    )


def match(need: Org, offer: Org, weights: dict[str, float]) -> Match | None:
    """The pair's score and reasons; None for the same organization or no shared term."""
    if need.id == offer.id:
        return None
    found = meetings(need.needs, offer.offers)
    if not found:
        return None
    weighed = []
    for m in found:
        factor = 1.0 if m.exact else BROADER_NARROWER_FACTOR
        weighed.append((m, round(factor * weights.get(m.offer_term, 1.0), 4)))
    total = sum(w for _, w in weighed)
    reasons = [_reason(m, w) for m, w in weighed]
    if need.country != offer.country:
        total *= 1 + CROSS_COUNTRY_BONUS
        reasons.append(f"across countries ({need.country} → {offer.country}): +10 %")
    return Match(need, offer, tuple(weighed), round(total, 4), tuple(reasons))


def rank(needing: Iterable[Org], offering: Sequence[Org], weights: dict[str, float]) -> list[Match]:
    """Every pair with a shared term, best first (ties: by the two ids, for a stable order)."""
    found = [m for n in needing for o in offering if (m := match(n, o, weights)) is not None]
    found.sort(key=lambda m: (-m.score, m.need.id, m.offer.id))
    return found
