"""Demo data: the founding scenario of the regional working group (idempotent).

A regional economic commission convenes digital-economy cluster initiatives from Argentina,
Colombia, Costa Rica, Cuba, Mexico and Ecuador around three focus areas. Everything is written
through the services, so the demo group's event history is as real as any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.consultations.demo import seed_interviews
from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.diagnosis.demo import seed_diagnosis
from app.groups import focus_areas
from app.groups import service as groups
from app.groups.access import context_for
from app.groups.schemas import FocusAreaCreate, GroupCreate, MemberCreate
from app.meetings.demo import seed_founding_meeting
from app.models import Group, Organization, OrganizationKind, Role, User, Visibility
from app.organizations import service as organizations
from app.organizations.schemas import OrganizationCreate
from app.proposals.demo import seed_proposals
from app.users import service as users
from app.users.principal import principal_of
from app.users.schemas import UserCreate

DEMO_GROUP_NAME = "Regional Agenda for Digital Productive Development"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoOrg:
    name: str
    kind: OrganizationKind
    country: str
    city: str
    latitude: float
    longitude: float
    sectors: tuple[str, ...]
    # Technology terms (app/matching/taxonomy.py): the demo clusters' supply and demand, so
    # that GET /groups/{id}/matches has something to show.
    offers: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


CONVENER = DemoOrg(
    "Regional Economic Commission — Division of Production, Productivity and Management",
    OrganizationKind.agency, "CL", "Santiago", -33.4489, -70.6693,
    ("productive development", "digital economy"),
)  # fmt: skip

CLUSTERS = [
    DemoOrg("Buenos Aires IT Cluster", OrganizationKind.cluster, "AR", "Buenos Aires",
            -34.6037, -58.3816, ("software", "IT services"),
            offers=("saas", "erp", "data_analytics"), needs=("cybersecurity", "computer_vision")),
    DemoOrg("Córdoba Technology Cluster", OrganizationKind.cluster, "AR", "Córdoba",
            -31.4201, -64.1888, ("software", "electronics"),
            offers=("industrial_iot", "custom_software"), needs=("digital_training",)),
    DemoOrg("Medellín Digital Economy Cluster", OrganizationKind.cluster, "CO", "Medellín",
            6.2442, -75.5812, ("software", "digital content"),
            offers=("digital_marketing", "ecommerce", "machine_learning"),
            needs=("cloud_infrastructure", "industrial_iot")),
    DemoOrg("Bogotá Software and IT Cluster", OrganizationKind.cluster, "CO", "Bogotá",
            4.7110, -74.0721, ("software", "IT services"),
            offers=("cybersecurity", "crm"), needs=("big_data",)),
    DemoOrg("Costa Rica ICT Cluster", OrganizationKind.cluster, "CR", "San José",
            9.9281, -84.0907, ("IT services", "digital manufacturing"),
            offers=("cloud_infrastructure", "security_audit", "digital_training"),
            needs=("ai", "ecommerce")),
    DemoOrg("Havana Digital Economy Cluster", OrganizationKind.cluster, "CU", "Havana",
            23.1136, -82.3666, ("software", "digital government"),
            offers=("custom_software", "mobile_apps"),
            needs=("cloud", "digital_payments", "cybersecurity")),
    DemoOrg("Jalisco Digital Cluster", OrganizationKind.cluster, "MX", "Guadalajara",
            20.6597, -103.3496, ("software", "semiconductors"),
            offers=("industrial_iot", "computer_vision", "ai"), needs=("erp", "digital_training")),
    DemoOrg("Monterrey Software Cluster", OrganizationKind.cluster, "MX", "Monterrey",
            25.6866, -100.3161, ("software", "industry 4.0"),
            offers=("erp", "industrial_iot"), needs=("security_audit",)),
    DemoOrg("Quito Digital Cluster", OrganizationKind.cluster, "EC", "Quito",
            -0.1807, -78.4678, ("software", "fintech"),
            offers=("digital_payments", "mobile_apps"), needs=("data_analytics", "cloud")),
    DemoOrg("Guayaquil Technology Cluster", OrganizationKind.cluster, "EC", "Guayaquil",
            -2.1709, -79.9224, ("logistics tech", "agritech"),
            offers=("smart_logistics", "precision_agriculture"), needs=("erp", "ecommerce")),
]  # fmt: skip

FOCUS_AREAS = [
    (
        "Adoption of digital technologies",
        "Increase the adoption of digital technologies by other clusters and production chains.",
    ),
    (
        "Supply of digital technologies",
        "Strengthen the supply of digital technologies by the region's digital-economy clusters.",
    ),
    (
        "Visibility and reciprocal interaction",
        "Increase the visibility of digital-economy cluster initiatives and their reciprocal "
        "interaction.",
    ),
]


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    org_name: str
    locale: str = "en"


DEMO_USERS = [
    DemoUser("director@demo.wghub.dev", "Division Director", Role.owner, CONVENER.name),
    DemoUser("moderator@demo.wghub.dev", "Working Group Moderator", Role.moderator, CONVENER.name),
    DemoUser("officer@demo.wghub.dev", "Economic Affairs Officer", Role.moderator, CONVENER.name),
    DemoUser("promoter.ar@demo.wghub.dev", "Cluster Promoter (Argentina)", Role.member,
             CLUSTERS[0].name, "es"),
    DemoUser("promoter.co@demo.wghub.dev", "Cluster Promoter (Colombia)", Role.member,
             CLUSTERS[2].name, "es"),
    DemoUser("promoter.cr@demo.wghub.dev", "Cluster Promoter (Costa Rica)", Role.member,
             CLUSTERS[4].name, "es"),
    DemoUser("promoter.cu@demo.wghub.dev", "Cluster Promoter (Cuba)", Role.member,
             CLUSTERS[5].name, "es"),
    DemoUser("promoter.mx@demo.wghub.dev", "Cluster Promoter (Mexico)", Role.member,
             CLUSTERS[6].name, "es"),
    DemoUser("promoter.ec@demo.wghub.dev", "Cluster Promoter (Ecuador)", Role.observer,
             CLUSTERS[8].name, "es"),
]  # fmt: skip


async def _ensure_user(session: AsyncSession, settings: Settings, spec: DemoUser) -> User:
    user = await users.get_by_email(session, spec.email)
    if user is None:
        data = UserCreate(
            email=spec.email,
            password=DEMO_PASSWORD,
            name=spec.name,
            locale=spec.locale,
        )
        user = await users.register(session=session, settings=settings, data=data)
    return user


async def _ensure_org(session: AsyncSession, spec: DemoOrg, actor: User) -> Organization:
    existing = (
        await session.execute(select(Organization).where(col(Organization.name) == spec.name))
    ).scalar_one_or_none()
    if existing is not None:
        if not (existing.offers or existing.needs):  # seeded before offers and needs existed
            existing.offers, existing.needs = list(spec.offers), list(spec.needs)
        return existing
    data = OrganizationCreate(
        name=spec.name,
        kind=spec.kind,
        country=spec.country,
        city=spec.city,
        latitude=spec.latitude,
        longitude=spec.longitude,
        sectors=list(spec.sectors),
        offers=list(spec.offers),
        needs=list(spec.needs),
    )
    return await organizations.create(session=session, data=data, actor=principal_of(actor))


async def seed_founding(session: AsyncSession, settings: Settings) -> Group:
    """Users, organizations, the group, its members and focus areas. Returns the group."""
    people = {spec.email: await _ensure_user(session, settings, spec) for spec in DEMO_USERS}
    director = people[DEMO_USERS[0].email]
    orgs = {spec.name: await _ensure_org(session, spec, director) for spec in [CONVENER, *CLUSTERS]}

    group = (
        await session.execute(select(Group).where(col(Group.name) == DEMO_GROUP_NAME))
    ).scalar_one_or_none()
    if group is not None:
        return group
    group = await groups.create_group(
        session=session,
        data=GroupCreate(
            name=DEMO_GROUP_NAME,
            description=(
                "A working group of digital-economy cluster initiatives from Latin America and "
                "the Caribbean, convened by a regional economic commission to raise productivity "
                "through the adoption and supply of digital technologies."
            ),
            visibility=Visibility.public,
        ),
        actor=principal_of(director),
    )
    ctx = await context_for(session, group_id=group.id, user_id=director.id)
    for spec in DEMO_USERS[1:]:
        await groups.add_member(
            session=session,
            ctx=ctx,
            data=MemberCreate(
                user_id=people[spec.email].id,
                role=spec.role,
                organization_id=orgs[spec.org_name].id,
            ),
        )
    for title, description in FOCUS_AREAS:
        await focus_areas.create_focus_area(
            session=session, ctx=ctx, data=FocusAreaCreate(title=title, description=description)
        )
    return group


async def seed(settings: Settings) -> str:
    """Seed everything; returns a short summary for the console."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            group = await seed_founding(session, settings)
            await seed_founding_meeting(session, group)
            interviews = await seed_interviews(session, group)
            await seed_proposals(session, group)
            await seed_diagnosis(session, group, interviews)
    finally:
        await engine.dispose()
    logins = ", ".join(u.email for u in DEMO_USERS)
    return (
        f"demo group '{group.name}' ({group.id}) is ready\n"
        f"sign in as any of: {logins}\npassword: {DEMO_PASSWORD}"
    )
