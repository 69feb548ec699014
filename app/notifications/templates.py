"""Email wording, in English and Spanish: one sentence per notification type plus the frame.

Placeholders: {actor} {title} {group} {to} {due_date} {starts_at} {days} {n} {name} {reason}
{token}.
A locale without a wording falls back to English; a type without one to `fallback`.
"""

from __future__ import annotations

from typing import Any

LOCALES = ("en", "es")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "action_item.assigned": "{actor} assigned you the action item “{title}”.",
        "action_item.updated": "{actor} changed your action item “{title}”.",
        "action_item.deleted": "{actor} deleted your action item “{title}”.",
        "action_item.commented": "{actor} commented on your action item “{title}”.",
        "action_item.due_soon": "Your action item “{title}” is due today ({due_date}).",
        "action_item.overdue": "Your action item “{title}” is overdue: it was due {due_date}.",
        "proposal.state_changed": "{actor} moved your proposal “{title}” to {to}.",
        "proposal.commented": "{actor} commented on your proposal “{title}”.",
        "meeting.scheduled": "{actor} scheduled the meeting “{title}” for {starts_at}.",
        "meeting.started": "The meeting “{title}” has started.",
        "meeting.cancelled": "The meeting “{title}” ({starts_at}) was cancelled.",
        "meeting.minutes_published": "The minutes of the meeting “{title}” are published.",
        "meeting.reminder": "Reminder: the meeting “{title}” starts at {starts_at}.",
        "webhook.disabled": "The webhook to {title} was disabled after failing deliveries.",
        "poll.opened": "{actor} opened the poll “{title}”.",
        "poll.closing_soon": "The poll “{title}” closes within a day; you have not answered.",
        "match.introduced": "{actor} made an introduction for your organization: “{title}”.",
        "fallback": "{type}: “{title}”.",
        "password_reset.subject": "Reset your wghub password",
        "password_reset.body": (
            "Someone (hopefully you) asked to reset the password of this account. This token "
            "sets a new one within {n} minutes, once: {token}"
        ),
        "password_reset.ignore": "If it was not you, ignore this mail: nothing changes.",
        "someone": "Someone",
        "group": "Group",
        "reason.owner": "you own this action item",
        "reason.author": "you wrote this proposal",
        "reason.member": "you are a member of {group}",
        "reason.organization": "your organization takes part in this introduction in {group}",
        "footer": "You receive this because {reason}. You can change which emails you get "
        "(off, immediate, daily) and mute types in your notification preferences.",
        "digest.subject": "Your wghub daily digest: {n} new",
        "digest.greeting": "Hello {name}, here is what happened since your last digest:",
        "digest.footer": "You receive this daily digest because you chose it in your "
        "notification preferences.",
        "state.submitted": "submitted",
        "state.under_review": "under review",
        "state.accepted": "accepted",
        "state.rejected": "rejected",
        "state.withdrawn": "withdrawn",
    },
    "es": {
        "action_item.assigned": "{actor} te asignó la acción «{title}».",
        "action_item.updated": "{actor} cambió tu acción «{title}».",
        "action_item.deleted": "{actor} eliminó tu acción «{title}».",
        "action_item.commented": "{actor} comentó tu acción «{title}».",
        "action_item.due_soon": "Tu acción «{title}» vence hoy ({due_date}).",
        "action_item.overdue": "Tu acción «{title}» está vencida: vencía el {due_date}.",
        "proposal.state_changed": "{actor} pasó tu propuesta «{title}» a {to}.",
        "proposal.commented": "{actor} comentó tu propuesta «{title}».",
        "meeting.scheduled": "{actor} programó la reunión «{title}» para el {starts_at}.",
        "meeting.started": "La reunión «{title}» ha comenzado.",
        "meeting.cancelled": "La reunión «{title}» ({starts_at}) fue cancelada.",
        "meeting.minutes_published": "Se publicó el acta de la reunión «{title}».",
        "meeting.reminder": "Recordatorio: la reunión «{title}» empieza el {starts_at}.",
        "webhook.disabled": "El webhook a {title} se desactivó tras entregas fallidas.",
        "poll.opened": "{actor} abrió la encuesta «{title}».",
        "poll.closing_soon": "La encuesta «{title}» cierra en menos de un día y no has respondido.",
        "match.introduced": "{actor} hizo una presentación para tu organización: «{title}».",
        "fallback": "{type}: «{title}».",
        "password_reset.subject": "Restablece tu contraseña de wghub",
        "password_reset.body": (
            "Alguien (esperamos que tú) pidió restablecer la contraseña de esta cuenta. Este "
            "código fija una nueva dentro de {n} minutos, una sola vez: {token}"
        ),
        "password_reset.ignore": "Si no fuiste tú, ignora este correo: nada cambia.",
        "someone": "Alguien",
        "group": "Grupo",
        "reason.owner": "eres responsable de esta acción",
        "reason.author": "escribiste esta propuesta",
        "reason.member": "eres miembro de {group}",
        "reason.organization": "tu organización participa en esta presentación en {group}",
        "footer": "Recibes esto porque {reason}. Puedes elegir qué correos recibir "
        "(ninguno, inmediato, diario) y silenciar tipos en tus preferencias de notificación.",
        "digest.subject": "Tu resumen diario de wghub: {n} novedades",
        "digest.greeting": "Hola {name}, esto es lo que pasó desde tu último resumen:",
        "digest.footer": "Recibes este resumen diario porque lo elegiste en tus preferencias "
        "de notificación.",
        "state.submitted": "enviada",
        "state.under_review": "en revisión",
        "state.accepted": "aceptada",
        "state.rejected": "rechazada",
        "state.withdrawn": "retirada",
    },
}


def locale_of(value: str | None) -> str:
    """`es-AR`, `es` → `es`; anything unknown → `en`."""
    base = (value or "en").split("-", 1)[0].lower()
    return base if base in TEXTS else "en"


def text(locale: str, key: str, **values: Any) -> str:
    table = TEXTS[locale_of(locale)]
    template = table.get(key) or TEXTS["en"].get(key) or key
    return template.format(**values)


def has_text(key: str) -> bool:
    return key in TEXTS["en"]
