"""Factories for people and catalog rows, and helpers that make incidents the way the product
does: through the services, so checklists and the timeline exist as they would."""

from datetime import timedelta

import factory
import time_machine
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.utils import timezone

from incidents import services
from incidents.models import ChecklistItem, Incident, Override, Schedule, Service, Team, User
from incidents.selectors import policy_settings
from incidents.states import Checklist, Role, Status


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"service-{n}")
    name = factory.Sequence(lambda n: f"Service {n}")
    team = factory.SubFactory(TeamFactory)
    runbook = factory.LazyAttribute(lambda s: f"docs/runbooks/{s.slug}.md")


PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@tensafe.test")
    rank = "engineer"
    # Hashed before the INSERT (with the hasher in force: the tests' fast one), so a user is
    # written once, as the sign-up form writes one, not created and then given a password.
    password = factory.LazyFunction(lambda: make_password(PASSWORD))

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


def put_on_call(
    user: User, team: Team | None = None, *, slot: str = "primary", days: int = 3650
) -> Override:
    """Make `user` on call (`slot`: primary or backup) for `team` (their own, else a new one)
    from `days` ago to `days` ahead (tests move the clock), as an override on the team's
    schedule: procedures 3.1 and 3.3 ask for the on-call engineer by being on call."""
    team = team or user.team or TeamFactory()
    schedule = Schedule.objects.filter(team=team).first() or Schedule.objects.create(
        team=team, slug=f"{team.slug}-on-call", name=f"{team.name} on call"
    )
    now = timezone.now()
    return Override.objects.create(
        schedule=schedule,
        user=user,
        role=slot,
        starts_at=now - timedelta(days=days),
        ends_at=now + timedelta(days=days),
        reason="test: on call",
    )


def declare(actor=None, **fields) -> Incident:
    """Declare through the service; `actor` defaults to an Engineering Manager IC."""
    actor = actor or UserFactory(rank="engineering_manager", groups=["incident_commander"])
    fields.setdefault("title", "API gateway returning 502s")
    fields.setdefault("severity", "P1")
    fields.setdefault("detection_source", "monitoring")
    return services.incident_declare(actor=actor, **fields)


def tick_resolution_criteria(incident: Incident, actor) -> None:
    for item in ChecklistItem.objects.filter(incident=incident, checklist=Checklist.RESOLUTION):
        services.incident_checklist_set(
            actor=actor, incident_id=incident.pk, item_id=item.pk, done=True
        )


def drive_to(incident: Incident, status: str, actor) -> Incident:
    """Walk an incident forward to `status` the legal way (assigning `actor` IC, ticking the
    resolution criteria and waiting out the stability window when resolving)."""
    order = [Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED]
    if status == Status.RESOLVED:
        services.incident_assign_role(
            actor=actor, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=actor
        )
    incident.refresh_from_db()
    for target in order[order.index(incident.status) + 1 : order.index(status) + 1]:
        if target == Status.RESOLVED:
            tick_resolution_criteria(incident, actor)
            window = policy_settings().stability_window_minutes
            with time_machine.travel(timezone.now() + timedelta(minutes=window, seconds=1)):
                services.incident_transition(actor=actor, incident_id=incident.pk, to=target)
        else:
            services.incident_transition(actor=actor, incident_id=incident.pk, to=target)
    incident.refresh_from_db()
    return incident
