"""The questionnaire routes' authorize-and-load dependency (app/groups/access.py)."""

from __future__ import annotations

from typing import Annotated

from app.groups.access import Loaded, ObjectKind, object_access
from app.models import Questionnaire, Role
from app.models.base import table_of

QUESTIONNAIRE = ObjectKind(table_of(Questionnaire), "Questionnaire", Questionnaire)
QuestionnaireFor = object_access(QUESTIONNAIRE, "questionnaire_id")

QuestionnaireReader = Annotated[Loaded[Questionnaire], QuestionnaireFor(Role.observer)]
# Members answer for their organization (and take the group lock); moderators run it.
QuestionnaireAnswerer = Annotated[Loaded[Questionnaire], QuestionnaireFor(Role.member)]
QuestionnaireModerator = Annotated[Loaded[Questionnaire], QuestionnaireFor(Role.moderator)]
# Responses name organizations and what they said: moderators read them one by one.
ResponsesReader = Annotated[Loaded[Questionnaire], QuestionnaireFor(Role.moderator, write=False)]
