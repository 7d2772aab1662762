"""The procedures' first minutes as deadlines (issue 14, item 8): 4.2 "Initial Triage (First 5
Minutes)" reminds the IC of unticked triage items; Appendix A "FIRST 5 MINUTES" wants an IC and
"FIRST 15 MINUTES" the other roles, with a reminder and then the owning team's manager. Each
is cancelled the moment its condition is met, counted from detection, numbered by the policy
SRE leads change, labelled in words and on the timeline, and recorded but not sent on a drill."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import ChecklistItem, Deadline, Page, TimelineEvent
from incidents.selectors import policy_for
from incidents.states import Checklist, Role, TimelineKind
from tests.factories import UserFactory, declare
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def deadline(incident, key) -> Deadline:
    return Deadline.objects.get(incident=incident, key=key)


def keys(incident, kind, status="pending") -> set[str]:
    return set(
        Deadline.objects.filter(incident=incident, kind=kind, status=status).values_list(
            "key", flat=True
        )
    )


def paged(incident, key) -> list[str]:
    return sorted(
        Page.objects.filter(incident=incident, rule_key=key).values_list(
            "recipient__username", flat=True
        )
    )


def events(incident, kind) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


def tick(incident, actor, *keys_) -> None:
    for item in ChecklistItem.objects.filter(
        incident=incident, checklist=Checklist.TRIAGE, key__in=keys_
    ):
        services.incident_checklist_set(
            actor=actor, incident_id=incident.pk, item_id=item.pk, done=True
        )


def assign(incident, actor, role, user) -> None:
    services.incident_assign_role(actor=actor, incident_id=incident.pk, role=role, user=user)


UNTICKED_AT_DECLARATION = ["issue_verified", "ic_identified", "initial_status_page_update"]


# --- 4.2: the triage window --------------------------------------------------------------------
def test_unticked_triage_items_remind_the_ic_when_the_window_ends(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = declare(actor=ic, services=gateway)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    assign(incident, ic, Role.INCIDENT_COMMANDER, org.em)
    window = deadline(incident, "triage:window")
    assert window.due_at == T0 + minutes(5)
    assert "first 5 minutes" in window.data["label"]

    sweep(T0 + minutes(5) - timedelta(seconds=1))
    assert events(incident, TimelineKind.TRIAGE_REMINDER) == []
    sweep(T0 + minutes(5))

    (event,) = events(incident, TimelineKind.TRIAGE_REMINDER)
    assert event.data["unticked"] == [
        "Issue verified (not false positive)",
        "Initial status page update (if needed)",
    ]
    assert "Triage window over (5 min, 4.2) with 2 triage items unticked" in event.text
    assert paged(incident, "triage:window") == [org.em.username]  # the IC, not the declarer
    assert event.data["pages"] == list(
        Page.objects.filter(rule_key="triage:window", status="pending").values_list("pk", flat=True)
    )
    sweep(T0 + minutes(6))
    assert len(events(incident, TimelineKind.TRIAGE_REMINDER)) == 1  # once


def test_without_an_ic_the_declarer_is_reminded(org, ic, gateway, frozen, sweep, procedure_kinds):
    incident = declare(actor=ic, services=gateway)
    sweep(T0 + minutes(5))
    assert paged(incident, "triage:window") == [ic.username]


def test_ticking_every_item_cancels_the_reminder(org, ic, gateway, frozen, sweep, procedure_kinds):
    incident = declare(actor=ic, services=gateway)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    assign(incident, ic, Role.INCIDENT_COMMANDER, ic)
    tick(incident, ic, "issue_verified")
    assert deadline(incident, "triage:window").status == "pending"
    tick(incident, ic, "initial_status_page_update")  # the last one

    assert deadline(incident, "triage:window").status == "cancelled"
    sweep(T0 + minutes(30))
    assert events(incident, TimelineKind.TRIAGE_REMINDER) == []
    assert paged(incident, "triage:window") == []


def test_only_ticks_a_planner_reads_re_plan(org, ic, gateway, frozen, procedure_kinds):
    """The triage checklist plans the reminder; the resolution criteria plan no deadline, so
    ticking one leaves the deadlines unread (a re-plan is a quarter of a tick's cost)."""
    incident = declare(actor=ic, services=gateway)
    criterion = ChecklistItem.objects.filter(
        incident=incident, checklist=Checklist.RESOLUTION
    ).first()
    triage = ChecklistItem.objects.get(incident=incident, key="issue_verified")
    for item, replans in ((criterion, False), (triage, True)):
        with CaptureQueriesContext(connection) as queries:
            services.incident_checklist_set(
                actor=ic, incident_id=incident.pk, item_id=item.pk, done=True
            )
        read = any('FROM "incidents_deadline"' in q["sql"] for q in queries.captured_queries)
        assert read is replans, item.checklist


def test_unticking_after_the_window_brings_the_reminder_back_at_once(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = declare(actor=ic, services=gateway)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    assign(incident, ic, Role.INCIDENT_COMMANDER, ic)
    tick(incident, ic, "issue_verified", "initial_status_page_update")
    frozen.move_to(T0 + minutes(7), tick=False)
    item = ChecklistItem.objects.get(incident=incident, key="issue_verified")
    services.incident_checklist_set(actor=ic, incident_id=incident.pk, item_id=item.pk, done=False)

    sweep(T0 + minutes(7))
    (event,) = events(incident, TimelineKind.TRIAGE_REMINDER)
    assert event.data["unticked"] == ["Issue verified (not false positive)"]


def test_the_window_is_the_policy_an_sre_lead_sets(
    api, sre_lead, org, ic, gateway, frozen, procedure_kinds
):
    response = api(sre_lead).patch(
        "/api/v1/policy/", {"triage_window_minutes": 8, "reason": "drill feedback"}, format="json"
    )
    assert response.status_code == 200, response.content
    incident = declare(actor=ic, services=gateway)
    assert deadline(incident, "triage:window").due_at == T0 + minutes(8)
    assert "first 8 minutes" in deadline(incident, "triage:window").data["label"]


def test_a_late_declaration_counts_from_detection(org, ic, gateway, frozen, procedure_kinds):
    incident = declare(actor=ic, services=gateway, detected_at=T0 - minutes(20))
    assert deadline(incident, "triage:window").due_at == T0 - minutes(15)


# --- Appendix A: an IC within the first 5 minutes, the roles within 15 -------------------------
def test_no_ic_reminds_the_declarer_then_escalates_to_the_owning_teams_manager(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = declare(actor=ic, severity="P2", services=gateway)
    assert deadline(incident, "roles:ic:remind").due_at == T0 + minutes(5)
    assert deadline(incident, "roles:ic:escalate").due_at == T0 + minutes(10)

    sweep(T0 + minutes(5))
    (reminder,) = events(incident, TimelineKind.ROLES_REMINDER)
    assert reminder.text.startswith(
        "No Incident Commander 5 min after detection (Appendix A: first 5 minutes)"
    )
    assert paged(incident, "roles:ic:remind") == [ic.username]

    sweep(T0 + minutes(10))
    (escalated,) = events(incident, TimelineKind.ROLES_ESCALATED)
    assert "escalated to the manager" in escalated.text
    assert paged(incident, "roles:ic:escalate") == [org.em.username]  # platform's manager


def test_assigning_the_ic_cancels_what_is_left(org, ic, gateway, frozen, sweep, procedure_kinds):
    incident = declare(actor=ic, severity="P2", services=gateway)
    sweep(T0 + minutes(5))
    frozen.move_to(T0 + minutes(7), tick=False)
    assign(incident, ic, Role.INCIDENT_COMMANDER, ic)

    assert deadline(incident, "roles:ic:remind").status == "fired"
    assert deadline(incident, "roles:ic:escalate").status == "cancelled"
    sweep(T0 + minutes(60))
    # what fires later is about the other roles (Tech Lead, Comms, Scribe), never the IC
    assert [e.data["what"] for e in events(incident, TimelineKind.ROLES_ESCALATED)] == ["assign"]
    assert paged(incident, "roles:ic:escalate") == []


@pytest.mark.parametrize(
    ("severity", "wanted"),
    [
        ("P1", ["tech_lead", "comms_lead", "scribe"]),
        ("P2", ["tech_lead", "comms_lead", "scribe"]),
        ("P3", ["comms_lead"]),
    ],
)
def test_the_roles_each_severity_fills_are_asked_for_at_15_minutes(
    org, ic, gateway, frozen, sweep, procedure_kinds, severity, wanted
):
    incident = declare(actor=ic, severity=severity, services=gateway)
    assign(incident, ic, Role.INCIDENT_COMMANDER, org.primary if severity == "P3" else ic)
    assert deadline(incident, "roles:assign:remind").due_at == T0 + minutes(15)
    assert deadline(incident, "roles:assign:escalate").due_at == T0 + minutes(30)

    sweep(T0 + minutes(15))
    (reminder,) = events(incident, TimelineKind.ROLES_REMINDER)
    assert reminder.data["missing"] == wanted
    assert reminder.text.startswith(
        ", ".join(Role(r).label for r in wanted[:-1])
        + (" and " if len(wanted) > 1 else "")
        + f"{Role(wanted[-1]).label} not assigned 15 min after detection"
    )
    ic_name = org.primary.username if severity == "P3" else ic.username
    assert paged(incident, "roles:assign:remind") == [ic_name]
    sweep(T0 + minutes(30))
    assert paged(incident, "roles:assign:escalate") == [org.em.username]


def test_a_p4_fills_no_role_in_its_first_minutes(org, ic, gateway, frozen, procedure_kinds):
    """2.1 P4: "No immediate action required"."""
    incident = declare(actor=ic, severity="P4", services=gateway)
    assert keys(incident, "roles") == set()
    assert keys(incident, "triage") == {"triage:window"}


def test_each_role_assigned_narrows_the_reminder_and_the_last_cancels_it(
    org, ic, gateway, frozen, sweep, procedure_kinds
):
    incident = declare(actor=ic, services=gateway)
    assign(incident, ic, Role.INCIDENT_COMMANDER, ic)
    assert (
        "Technical Lead, Communications Lead and Scribe"
        in (deadline(incident, "roles:assign:remind").data["label"])
    )
    assign(incident, ic, Role.TECH_LEAD, org.primary)
    assert (
        deadline(incident, "roles:assign:remind")
        .data["label"]
        .startswith("Communications Lead and Scribe to be assigned")
    )
    assign(incident, ic, Role.COMMS_LEAD, UserFactory(rank="support_lead"))
    sweep(T0 + minutes(15))
    (reminder,) = events(incident, TimelineKind.ROLES_REMINDER)
    assert reminder.data["missing"] == ["scribe"]

    assign(incident, ic, Role.SCRIBE, org.third)
    assert keys(incident, "roles") == set()
    assert deadline(incident, "roles:assign:escalate").status == "cancelled"


def test_a_severity_change_changes_the_roles_wanted(
    org, ic, sre_lead, gateway, frozen, sweep, procedure_kinds
):
    incident = declare(actor=ic, severity="P3", services=gateway)
    assign(incident, ic, Role.INCIDENT_COMMANDER, org.primary)  # on call (3.1 P3)
    assign(incident, ic, Role.COMMS_LEAD, org.backup)  # on call too (3.3 P3)
    assert keys(incident, "roles") == set()
    services.incident_update(actor=sre_lead, incident_id=incident.pk, severity="P1")
    assert keys(incident, "roles") == {"roles:assign:remind", "roles:assign:escalate"}
    services.incident_update(
        actor=sre_lead, incident_id=incident.pk, severity="P4", reason="cosmetic"
    )
    assert keys(incident, "roles") == set()


def test_the_roles_and_windows_are_the_policy_sre_leads_set(
    api, sre_lead, org, ic, gateway, frozen, procedure_kinds
):
    response = api(sre_lead).patch(
        "/api/v1/policy/",
        {
            "ic_first_minutes": 3,
            "ic_roles_within_minutes": 20,
            "severities": {"P3": {"roles_required": ["incident_commander", "scribe"]}},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert policy_for("P3").roles_required == ["incident_commander", "scribe"]
    incident = declare(actor=ic, severity="P3", services=gateway)
    assert deadline(incident, "roles:ic:remind").due_at == T0 + minutes(3)
    assert deadline(incident, "roles:ic:escalate").due_at == T0 + minutes(6)
    assert deadline(incident, "roles:assign:remind").due_at == T0 + minutes(20)
    assert deadline(incident, "roles:assign:remind").data["label"].startswith("Scribe")


@pytest.mark.parametrize("roles", [["sme"], ["nobody"], "scribe"])
def test_roles_required_refuses_what_is_not_a_single_role(api, sre_lead, roles):
    before = policy_for("P1").roles_required
    response = api(sre_lead).patch(
        "/api/v1/policy/", {"severities": {"P1": {"roles_required": roles}}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "roles_required" in response.json()["detail"]
    assert policy_for("P1").roles_required == before


# --- drills, resolution -------------------------------------------------------------------------
def test_a_drill_runs_every_reminder_and_sends_nothing(
    org, ic, gateway, frozen, sweep, procedure_kinds, mailoutbox, eager_pages
):
    incident = declare(actor=ic, services=gateway, drill=True)
    sweep(T0 + minutes(30))
    for kind in (
        TimelineKind.TRIAGE_REMINDER,
        TimelineKind.ROLES_REMINDER,
        TimelineKind.ROLES_ESCALATED,
    ):
        assert events(incident, kind), kind
        assert all(e.data["pages"] == [] for e in events(incident, kind))
        assert all("drill: suppressed" in e.text for e in events(incident, kind))
    pages = Page.objects.filter(incident=incident).exclude(rule_key__startswith="rule:")
    assert pages.exists()
    assert set(pages.values_list("status", flat=True)) == {"suppressed"}
    assert mailoutbox == []


def test_resolving_cancels_the_first_minutes(
    org, ic, on_call_responder, gateway, frozen, sweep, procedure_kinds
):
    from tests.factories import drive_to

    incident = declare(actor=ic, severity="P3", services=gateway)
    assert keys(incident, "triage") and keys(incident, "roles")
    drive_to(incident, "resolved", on_call_responder)
    assert keys(incident, "triage") == set() and keys(incident, "roles") == set()
    assert keys(incident, "roles", status="cancelled") == {
        "roles:ic:remind",
        "roles:ic:escalate",
        "roles:assign:remind",
        "roles:assign:escalate",
    }
