"""The incident detail writes its body with a plain function (incidents/api/detail.py) instead
of `IncidentDetailOutputSerializer`; the JSON must be byte for byte what the serializer writes
for the same incident and viewer, whatever state the incident is in."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from rest_framework.renderers import JSONRenderer

from incidents import services
from incidents.api.detail import incident_detail_body
from incidents.api.serializers import IncidentDetailOutputSerializer
from incidents.models import Service
from incidents.selectors import incident_detail_for_user
from incidents.services.timers import deadlines_fire_due
from tests.conftest import kept_for_module
from tests.factories import UserFactory, declare, drive_to, put_on_call

from .conftest import incident_url

pytestmark = pytest.mark.django_db

_PLUS_TWO = timezone(timedelta(hours=2))


@pytest.fixture(scope="module")
def shapes(django_db_setup, django_db_blocker):
    """Incidents in every state the detail shows, written once for the module: declared with
    its deadlines and no services; roles held (a Technical Lead the procedures warn about, a
    blank name), acknowledged; identified; in Monitoring (its blockers); resolved; a P3 with a
    bridge asked for; a security incident with approved public words; escalation contacts
    answered and late (with the next contact offered); times with microseconds and another
    UTC offset."""
    with kept_for_module(django_db_blocker):
        ic_user = UserFactory(rank="engineering_manager", groups=["incident_commander"])
        responder = UserFactory(rank="engineer", groups=["responder"], first_name="")
        sre_lead = UserFactory(rank="senior_engineer", groups=["sre_lead"])
        security_user = UserFactory(rank="security_lead", groups=["security"])
        comms = UserFactory(rank="customer_success_manager", groups=["responder"], last_name="")
        UserFactory(username="victor-vp", rank="vp_engineering")
        catalog = list(Service.objects.order_by("slug"))
        put_on_call(ic_user)  # the IC of a P3 or P4 is the on-call engineer (3.1)
        now = datetime.now(UTC).replace(microsecond=0)
        ids = {}

        def new(name, **fields):
            incident = declare(actor=ic_user, title=name, **fields)
            ids[name] = incident.pk
            return incident

        new("declared", severity="P2", services=[])
        roles = new(
            "roles",
            severity="P1",
            services=catalog[:2],
            detected_at=(now - timedelta(minutes=9, microseconds=123456)).astimezone(_PLUS_TWO),
            started_at=now - timedelta(minutes=20),
        )
        for role, user in [
            ("incident_commander", ic_user),
            ("tech_lead", responder),
            ("comms_lead", comms),
        ]:
            services.incident_assign_role(actor=ic_user, incident_id=roles.pk, role=role, user=user)
        services.incident_acknowledge(actor=responder, incident_id=roles.pk)
        for name, status in [
            ("identified", "identified"),
            ("monitoring", "monitoring"),
            ("resolved", "resolved"),
        ]:
            drive_to(new(name, severity="P3", services=catalog[1:2]), status, ic_user)
        bridged = new("bridged", severity="P3", services=catalog[2:3])
        services.incident_bridge_request(actor=sre_lead, incident_id=bridged.pk)
        secret = declare(actor=security_user, title="secret", severity="P2", security=True)
        ids["secret"] = secret.pk
        services.incident_public_text_approve(
            actor=security_user,
            incident_id=secret.pk,
            public_title="Degraded sign-in",
            public_text="Some customers cannot sign in.",
        )
        late = new("escalated", severity="P1", services=catalog[:1])
        services.incident_acknowledge(actor=responder, incident_id=late.pk)
        for minutes in (30, 45):
            with time_machine.travel(late.detected_at + timedelta(minutes=minutes), tick=False):
                deadlines_fire_due()
        yield {
            "ids": ids,
            "viewers": {
                "ic_user": ic_user,
                "responder": responder,
                "sre_lead": sre_lead,
                "security_user": security_user,
            },
        }


SHAPES = [
    "declared",
    "roles",
    "identified",
    "monitoring",
    "resolved",
    "bridged",
    "secret",
    "escalated",
]


VIEWERS = ["ic_user", "responder", "sre_lead", "security_user"]


@pytest.mark.parametrize(
    ("who", "shape"),
    # The security incident only for whom it is visible (the others get a 404).
    [(who, shape) for who in VIEWERS for shape in SHAPES if shape != "secret" or who == VIEWERS[3]],
)
def test_detail_json_is_what_the_serializer_writes(shapes, shape, who):
    user, pk = shapes["viewers"][who], shapes["ids"][shape]
    with time_machine.travel(datetime.now(UTC), tick=False):  # the same stability minute
        expected = JSONRenderer().render(
            IncidentDetailOutputSerializer(incident_detail_for_user(user, pk)).data
        )
        written = JSONRenderer().render(incident_detail_body(incident_detail_for_user(user, pk)))
    assert written == expected


def test_the_shapes_cover_what_the_body_can_show(shapes, api):
    """The fixture reaches the body's optional parts: a guard that the comparison above
    compares something in each of them."""
    bodies = {
        shape: api(shapes["viewers"]["security_user"])
        .get(incident_url(shapes["ids"][shape]))
        .json()
        for shape in SHAPES
    }
    assert bodies["roles"]["role_warnings"]
    assert {r["role"] for r in bodies["roles"]["roles"]} >= {"incident_commander", "tech_lead"}
    assert bodies["roles"]["acknowledged_by"] and bodies["roles"]["ttd_seconds"]
    assert bodies["monitoring"]["resolution_blockers"]
    assert bodies["resolved"]["resolved_at"] and bodies["resolved"]["ttr_seconds"] is not None
    assert bodies["bridged"]["bridge"]["requested_at"]
    assert bodies["secret"]["public_approved_by"]
    assert bodies["declared"]["deadlines"] and bodies["declared"]["services"] == []
    statuses = {r["status"] for r in bodies["escalated"]["escalation_responses"]}
    assert "late" in statuses
    assert any(r["next_contact"] for r in bodies["escalated"]["escalation_responses"])
