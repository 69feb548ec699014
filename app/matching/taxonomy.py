"""The technology taxonomy organizations declare their offers and needs in.

Shipped with wghub (not downloaded, not editable through the API) so that every deployment
matches on the same words: two levels, a broad term and the narrower terms under it. An id
never changes meaning once released; a new term gets a new id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema


@dataclass(frozen=True, slots=True)
class Term:
    id: str
    label_en: str
    label_es: str
    parent: str | None = None


def _broad(id: str, en: str, es: str, *narrower: tuple[str, str, str]) -> list[Term]:
    return [Term(id, en, es), *(Term(n_id, n_en, n_es, id) for n_id, n_en, n_es in narrower)]


TERMS: tuple[Term, ...] = (
    *_broad(
        "cloud", "Cloud computing", "Computación en la nube",
        ("cloud_infrastructure", "Cloud infrastructure", "Infraestructura en la nube"),
        ("saas", "Software as a service", "Software como servicio"),
    ),
    *_broad(
        "data", "Data and analytics", "Datos y analítica",
        ("data_analytics", "Data analytics", "Analítica de datos"),
        ("business_intelligence", "Business intelligence", "Inteligencia de negocios"),
        ("big_data", "Big data platforms", "Plataformas de grandes datos"),
    ),
    *_broad(
        "ai", "Artificial intelligence", "Inteligencia artificial",
        ("machine_learning", "Machine learning", "Aprendizaje automático"),
        ("computer_vision", "Computer vision", "Visión por computadora"),
        ("nlp", "Natural language processing", "Procesamiento de lenguaje natural"),
    ),
    *_broad(
        "iot", "Internet of things", "Internet de las cosas",
        ("industrial_iot", "Industrial IoT and industry 4.0", "IoT industrial e industria 4.0"),
        ("precision_agriculture", "Precision agriculture", "Agricultura de precisión"),
        ("smart_logistics", "Smart logistics and traceability",
         "Logística inteligente y trazabilidad"),
    ),
    *_broad(
        "cybersecurity", "Cybersecurity", "Ciberseguridad",
        ("security_audit", "Security audits and compliance",
         "Auditoría de seguridad y cumplimiento"),
        ("data_protection", "Data protection and privacy", "Protección de datos y privacidad"),
    ),
    *_broad(
        "business_software", "Business software", "Software de gestión empresarial",
        ("erp", "ERP systems", "Sistemas ERP (planificación de recursos)"),
        ("crm", "CRM systems", "Sistemas CRM (relación con clientes)"),
    ),
    *_broad(
        "digital_commerce", "Digital commerce", "Comercio digital",
        ("ecommerce", "E-commerce platforms", "Plataformas de comercio electrónico"),
        ("digital_payments", "Digital payments and fintech", "Pagos digitales y fintech"),
        ("digital_marketing", "Digital marketing", "Marketing digital"),
    ),
    *_broad(
        "software_development", "Software development", "Desarrollo de software",
        ("custom_software", "Custom software", "Software a medida"),
        ("mobile_apps", "Mobile applications", "Aplicaciones móviles"),
        ("blockchain", "Blockchain applications", "Aplicaciones de cadena de bloques"),
    ),
    *_broad(
        "digital_skills", "Digital skills and training", "Habilidades y formación digital",
        ("digital_training", "Digital training programmes", "Programas de formación digital"),
        ("transformation_consulting", "Digital transformation consulting",
         "Consultoría en transformación digital"),
    ),
    *_broad(
        "connectivity", "Connectivity and networks", "Conectividad y redes",
        ("networks_5g", "5G and private networks", "5G y redes privadas"),
    ),
)  # fmt: skip

BY_ID: dict[str, Term] = {t.id: t for t in TERMS}
TERM_IDS: tuple[str, ...] = tuple(BY_ID)


def related(a: str, b: str) -> bool:
    """A broad term and one of its narrower terms (either way round)."""
    return BY_ID[a].parent == b or BY_ID[b].parent == a


def narrower_of(a: str, b: str) -> str:
    """Of two equal or related terms, the more specific one: where the two sides meet."""
    return a if BY_ID[a].parent == b else b


def _known(term: str) -> str:
    if term not in BY_ID:
        raise ValueError(f"unknown technology term {term!r}; see GET /api/v1/taxonomy/technologies")
    return term


def _distinct(terms: list[str]) -> list[str]:
    return list(dict.fromkeys(terms))


_TERM_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(TERM_IDS)}

# A term in a request body: the OpenAPI schema lists the ids; anything else is a 422 naming
# the field (its `value_error` says where to find the list).
TermId = Annotated[str, AfterValidator(_known), WithJsonSchema(_TERM_SCHEMA)]
# A list of terms, each once, in the order given.
TermList = Annotated[list[TermId], AfterValidator(_distinct)]
