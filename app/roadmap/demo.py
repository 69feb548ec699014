"""Demo roadmap: the action items of the accepted training programme, with their progress.

Created by app/proposals/demo.py when it accepts the proposal; this module says what the items
are and brings them to where the work stands, through the same services as the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.groups.access import GroupContext
from app.models import ActionItemStatus, Priority
from app.roadmap.queries import ItemRow
from app.roadmap.schemas import ActionItemUpdate
from app.roadmap.service import update_action_item


@dataclass(frozen=True)
class DemoItem:
    title: str
    owner_email: str  # one of app/demo.py DEMO_USERS
    due_date: date
    priority: Priority
    status: ActionItemStatus
    progress: int


TRAINING_ROADMAP = [
    DemoItem("Survey the training needs of the clusters' member companies",
             "promoter.ar@demo.wghub.dev", date(2026, 12, 15), Priority.high,
             ActionItemStatus.done, 100),
    DemoItem("Design the curriculum: digital adoption for clusters of other sectors",
             "promoter.co@demo.wghub.dev", date(2027, 2, 26), Priority.high,
             ActionItemStatus.in_progress, 60),
    DemoItem("Agree on trainers and a shared online learning platform",
             "officer@demo.wghub.dev", date(2027, 3, 31), Priority.medium,
             ActionItemStatus.in_progress, 25),
    DemoItem("Secure co-funding for scholarships with development banks",
             "director@demo.wghub.dev", date(2027, 4, 30), Priority.medium,
             ActionItemStatus.blocked, 10),
    DemoItem("Run the first cohort with two clusters per country",
             "promoter.cu@demo.wghub.dev", date(2027, 6, 30), Priority.medium,
             ActionItemStatus.todo, 0),
]  # fmt: skip


async def bring_up_to_date(
    *, ctx: GroupContext, items: list[ItemRow], specs: list[DemoItem]
) -> None:
    """Give each new item its spec's status and progress (recording the updates)."""
    for item, spec in zip(items, specs, strict=True):
        if spec.status == ActionItemStatus.todo and spec.progress == 0:
            continue
        data = ActionItemUpdate(status=spec.status)
        if spec.status != ActionItemStatus.done:
            data = ActionItemUpdate(status=spec.status, progress=spec.progress)
        await update_action_item(ctx=ctx, item=item, data=data)
