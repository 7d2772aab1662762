import pytest

from incidents.selectors import policy_for
from pir.models import PostIncidentReview
from tests.factories import UserFactory, declare, drive_to, put_on_call


@pytest.fixture(autouse=True)
def _policy(db):
    policy_for("P1")  # seed the policy in force


@pytest.fixture
def resolved(db):
    """resolved(severity="P1", **declare_fields) -> a resolved incident, IC an EM."""

    def make(severity="P1", ic=None, **fields):
        ic = ic or UserFactory(rank="engineering_manager", groups=["incident_commander"])
        if severity in ("P3", "P4"):
            put_on_call(ic)  # their IC is the on-call engineer (procedures 3.1)
        incident = declare(actor=ic, severity=severity, **fields)
        return drive_to(incident, "resolved", ic), ic

    return make


@pytest.fixture
def p1_pir(resolved):
    incident, ic = resolved("P1")
    return PostIncidentReview.objects.get(incident=incident), ic


def fill(pir, **overrides):
    """Every required section filled, as a finished review would be."""
    from datetime import date

    values = {
        "review_date": date(2026, 3, 2),
        "summary": "The gateway returned 502s for **40 minutes**.",
        "customers_affected": "12%",
        "requests_failed": 182000,
        "revenue_impact": "About $4,000",
        "sla_impact_minutes": 40,
        "what_happened": "A config push removed the upstream pool.",
        "five_whys": ["The pool was empty", "The push had no validation"],
        "contributing_factors": ["No canary"],
        "went_well": ["Fast detection"],
        "could_improve": ["Rollback took long"],
        "lessons_learned": "Validate configs before pushing.",
        "appendix_links": [{"title": "Grafana", "url": "https://grafana.example/d/1"}],
    }
    values.update(overrides)
    # A queryset update: the test's copy of the row may be older than its status.
    PostIncidentReview.objects.filter(pk=pir.pk).update(**values)
    return PostIncidentReview.objects.get(pk=pir.pk)


def legacy_item(pir, **fields):
    """An action item as rows written before owners and due dates were required look: the
    columns are nullable, so no service writes one any more; only the database holds them."""
    from django.utils import timezone

    from pir.models import ActionItem

    values = {"action": "Written before the rule", "priority": "P1", "created_at": timezone.now()}
    values.update(fields)
    return ActionItem.objects.create(pir=pir, incident_id=pir.incident_id, **values)
