"""Automatic escalations (procedures 5.1, 5.2) and who is told at declaration (2.1), fired by
the sweeper from Deadline rows with the clock frozen: each at its due time and not a second
before, each at most once, re-planned at once by acknowledgement, resolution and severity
changes, and counted from detection."""

from datetime import timedelta

import pytest

from incidents import services
from incidents.models import (
    Deadline,
    EscalationRule,
    Incident,
    Page,
    RotationMember,
    Service,
    TimelineEvent,
)
from incidents.services.timers import deadlines_fire_due
from incidents.states import Role, Status, TimelineKind
from tests.factories import UserFactory, declare, drive_to, put_on_call
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def at_t0(time_machine):
    time_machine.move_to(T0, tick=False)


def rule(severity: str, trigger: str, after: int | None = None) -> EscalationRule:
    lookup = {"severity": severity, "trigger": trigger}
    if after is not None:
        lookup["after_minutes"] = after
    return EscalationRule.objects.get(**lookup)


def rule_deadline(incident, severity, trigger, after=None) -> Deadline:
    return Deadline.objects.get(incident=incident, key=f"rule:{rule(severity, trigger, after).pk}")


def paged(incident, key: str) -> list[str]:
    return sorted(
        Page.objects.filter(incident=incident, rule_key=key).values_list(
            "recipient__username", flat=True
        )
    )


def events(incident, kind=TimelineKind.ESCALATED) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


def statuses(incident) -> dict[str, str]:
    """{rule description or notify key: status} for the incident's deadlines."""
    out = {}
    for d in Deadline.objects.filter(incident=incident):
        if d.kind == "notify":
            out[d.key] = d.status
        else:
            out[f"{d.data['severity'] or 'any'}:{d.data['trigger']}:{d.data['after_minutes']}"] = (
                d.status
            )
    return out


# --- the 5.1 table, row by row -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("severity", "trigger", "after", "who", "label"),
    [
        ("P1", "unacknowledged", 5, "backup", "Backup on-call"),
        ("P1", "unacknowledged", 10, "em", "Engineering Manager"),
        ("P2", "unacknowledged", 15, "backup", "Backup on-call"),
        ("P1", "open", 30, "vp", "VP Engineering"),
        ("P1", "open", 60, "cto", "CTO"),
    ],
)
def test_each_automatic_escalation_fires_at_its_due_time(
    org, ic, gateway, at_t0, sweep, severity, trigger, after, who, label
):
    incident = declare(actor=ic, severity=severity, services=gateway)
    deadline = rule_deadline(incident, severity, trigger, after)
    assert deadline.status == "pending"
    assert deadline.due_at == T0 + minutes(after)

    sweep(T0 + minutes(after) - SECOND)
    deadline.refresh_from_db()
    assert deadline.status == "pending"
    assert paged(incident, deadline.key) == []

    sweep(T0 + minutes(after))
    deadline.refresh_from_db()
    assert deadline.status == "fired"
    assert deadline.fired_at == T0 + minutes(after)
    assert deadline.lateness_ms == 0
    target = getattr(org, who)
    assert paged(incident, deadline.key) == [target.username]
    (event,) = [e for e in events(incident) if e.data.get("deadline") == deadline.pk]
    assert event.occurred_at == T0 + minutes(after)
    assert event.text.startswith(f"Escalated to {label}: ")
    assert f"paged {target.username}" in event.text
    assert event.data["target"] == deadline.data["target"]
    assert event.data["pages"] == list(
        Page.objects.filter(deadline=deadline).order_by("id").values_list("pk", flat=True)
    )


def test_the_p1_ladder_in_order(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway)
    fired = []
    for at in (0, 5, 10, 30, 60, 119):
        sweep(T0 + minutes(at))
        fired.append([e.text.split(":")[0] for e in events(incident)])
    assert fired[-1] == [
        "Escalated to Backup on-call",
        "Escalated to Engineering Manager",
        "Escalated to VP Engineering",
        "Escalated to CTO",
    ]
    assert [len(f) for f in fired] == [0, 1, 2, 3, 4, 4]
    # The over-target rule (2 h for P1) is still waiting.
    assert rule_deadline(incident, "", "over_target").status == "pending"


def test_each_rule_fires_at_most_once(org, ic, gateway, at_t0, sweep, sre_lead):
    incident = declare(actor=ic, severity="P1", services=gateway)
    assert sweep(T0 + minutes(5)) == 2  # the declaration notice and the backup
    assert sweep(T0 + minutes(5)) == 0
    assert deadlines_fire_due(now=T0 + minutes(5)) == 0
    backup = rule_deadline(incident, "P1", "unacknowledged", 5)
    assert len([e for e in events(incident) if e.data["deadline"] == backup.pk]) == 1
    assert paged(incident, backup.key) == ["bob"]
    # A severity round trip re-plans, but a fired rule is never planned again.
    services.incident_update(
        actor=sre_lead, incident_id=incident.pk, severity="P2", reason="one region"
    )
    services.incident_update(actor=sre_lead, incident_id=incident.pk, severity="P1")
    sweep(T0 + minutes(9))
    backup.refresh_from_db()
    assert backup.status == "fired" and backup.fired_at == T0 + minutes(5)
    assert paged(incident, backup.key) == ["bob"]
    assert Deadline.objects.filter(incident=incident, key=backup.key).count() == 1


# --- re-planning ---------------------------------------------------------------------------------
def test_acknowledgement_cancels_the_unacknowledged_rules_only(
    org, ic, gateway, at_t0, sweep, time_machine
):
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0)
    time_machine.move_to(T0 + minutes(3), tick=False)
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    assert statuses(incident) == {
        "notify:P1": "fired",
        "P1:unacknowledged:5": "cancelled",
        "P1:unacknowledged:10": "cancelled",
        "P1:open:30": "pending",
        "P1:open:60": "pending",
        "any:over_target:120": "pending",
    }
    assert sweep(T0 + minutes(29)) == 0
    assert events(incident) == []
    assert sweep(T0 + minutes(30)) == 1
    assert [e.text.split(":")[0] for e in events(incident)] == ["Escalated to VP Engineering"]


def test_acknowledgement_through_the_api_replans_too(
    org, ic, gateway, at_t0, sweep, time_machine, api
):
    incident = declare(actor=ic, severity="P2", services=gateway)
    time_machine.move_to(T0 + minutes(14), tick=False)
    response = api(ic).post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    assert rule_deadline(incident, "P2", "unacknowledged", 15).status == "cancelled"
    sweep(T0 + minutes(16))
    assert events(incident) == []


def test_resolution_cancels_everything_pending(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0 + minutes(5))
    incident = drive_to(incident, Status.RESOLVED, ic)
    assert statuses(incident) == {
        "notify:P1": "fired",
        "P1:unacknowledged:5": "fired",
        "P1:unacknowledged:10": "cancelled",
        "P1:open:30": "cancelled",
        "P1:open:60": "cancelled",
        "any:over_target:120": "cancelled",
    }
    assert sweep(T0 + minutes(180)) == 0
    assert len(events(incident)) == 1


def test_severity_up_p2_to_p1_plans_p1_rules_from_detection(
    org, ic, gateway, at_t0, sweep, time_machine, sre_lead
):
    incident = declare(actor=ic, severity="P2", services=gateway)
    sweep(T0)
    assert paged(incident, "notify:P2") == ["alice", "bob", "emma-em"]
    time_machine.move_to(T0 + minutes(12), tick=False)
    services.incident_update(
        actor=sre_lead, incident_id=incident.pk, severity="P1", reason="all regions"
    )
    assert statuses(incident) == {
        "notify:P2": "fired",
        "notify:P1": "pending",
        "P2:unacknowledged:15": "cancelled",
        "P1:unacknowledged:5": "skipped",  # past when planned: the 10-minute level catches up
        "P1:unacknowledged:10": "pending",
        "P1:open:30": "pending",
        "P1:open:60": "pending",
        "any:over_target:120": "pending",
    }
    assert rule_deadline(incident, "P1", "unacknowledged", 5).due_at == T0 + minutes(5)
    # P1's 5 and 10 minutes had passed when they were planned: the higher one fires on the
    # next sweep as a catch-up, the lower one is skipped. They were written overdue: the
    # sweeper was not late, and the lateness says so.
    assert sweep(T0 + minutes(12)) == 2
    five = rule_deadline(incident, "P1", "unacknowledged", 5)
    ten = rule_deadline(incident, "P1", "unacknowledged", 10)
    assert (five.status, five.fired_at, five.lateness_ms) == ("skipped", None, None)
    assert (ten.status, ten.lateness_ms) == ("fired", 0)
    assert ten.due_at == T0 + minutes(10) and ten.fired_at == T0 + minutes(12)
    assert paged(incident, five.key) == []
    assert paged(incident, ten.key) == ["emma-em"]
    # The P1 audiences are told now (executives, all hands).
    assert set(paged(incident, "notify:P1")) >= {"victor-vp", "chloe-cto", "cedric-ceo", "dave"}
    assert over_target_due(incident) == T0 + minutes(120)


def over_target_due(incident):
    return rule_deadline(incident, "", "over_target").due_at


def test_severity_down_p1_to_p2_is_the_reverse(
    org, ic, gateway, at_t0, sweep, time_machine, sre_lead
):
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0)
    time_machine.move_to(T0 + minutes(3), tick=False)
    services.incident_update(
        actor=sre_lead, incident_id=incident.pk, severity="P2", reason="one region"
    )
    assert statuses(incident) == {
        "notify:P1": "fired",  # the P2 audiences were told already, as part of P1's
        "P1:unacknowledged:5": "cancelled",
        "P1:unacknowledged:10": "cancelled",
        "P1:open:30": "cancelled",
        "P1:open:60": "cancelled",
        "P2:unacknowledged:15": "pending",
        "any:over_target:240": "pending",
    }
    assert over_target_due(incident) == T0 + minutes(240)
    assert sweep(T0 + minutes(15) - SECOND) == 0
    assert sweep(T0 + minutes(15)) == 1
    assert sweep(T0 + minutes(90)) == 0
    assert [e.text.split(":")[0] for e in events(incident)] == ["Escalated to Backup on-call"]


def test_declared_late_escalates_on_the_first_sweep(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(6))
    five = rule_deadline(incident, "P1", "unacknowledged", 5)
    assert five.due_at == T0 - minutes(1)
    assert sweep(T0 + SECOND) == 2  # declaration notice + the 5-minute backup rule
    five.refresh_from_db()
    # Written a minute overdue; fired a second after it was written: late by that second.
    assert (five.status, five.lateness_ms) == ("fired", 1000)
    assert paged(incident, five.key) == ["bob"]
    assert rule_deadline(incident, "P1", "unacknowledged", 10).status == "pending"


# --- born overdue: one catch-up, not the whole ladder at once ------------------------------------
def test_declared_long_after_detection_pages_one_catch_up_not_the_ladder(
    org, ic, gateway, at_t0, sweep
):
    incident = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(90))
    assert statuses(incident) == {
        "notify:P1": "pending",
        "P1:unacknowledged:5": "skipped",
        "P1:unacknowledged:10": "skipped",
        "P1:open:30": "skipped",
        "P1:open:60": "pending",
        "any:over_target:120": "pending",
    }
    cto = rule_deadline(incident, "P1", "open", 60)
    skipped = [
        rule_deadline(incident, "P1", "unacknowledged", 5),
        rule_deadline(incident, "P1", "unacknowledged", 10),
        rule_deadline(incident, "P1", "open", 30),
    ]
    assert [c["key"] for c in cto.data["catch_up"]] == [d.key for d in skipped]
    assert {d.data["caught_up_by"] for d in skipped} == {cto.key}

    assert sweep(T0 + SECOND) == 2  # the declaration notice and the one catch-up
    cto.refresh_from_db()
    assert (cto.status, cto.lateness_ms) == ("fired", 1000)
    assert paged(incident, cto.key) == ["chloe-cto"]
    assert all(paged(incident, d.key) == [] for d in skipped)
    (event,) = events(incident)
    assert event.text.startswith("Escalated to CTO: P1 open > 60 min (catch-up: ")
    assert "Backup on-call, Engineering Manager, VP Engineering already past when planned" in (
        event.text
    )
    assert event.data["catch_up"] == cto.data["catch_up"]
    # The skipped levels never fire; the one still ahead fires at its time as usual.
    assert sweep(T0 + minutes(29)) == 0
    assert sweep(T0 + minutes(30)) == 1
    assert [e.text.split(":")[0] for e in events(incident)] == [
        "Escalated to CTO",
        "Escalated to The IC's manager",
    ]


def test_a_catch_up_survives_re_plans_before_it_fires(org, ic, gateway, at_t0, sweep, sre_lead):
    incident = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(40))
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    # Taking the IC role acknowledges: the unacknowledged levels no longer apply, and those
    # skipped stay skipped (they are settled, like fired ones); the catch-up keeps its list.
    vp = rule_deadline(incident, "P1", "open", 30)
    assert vp.status == "pending"
    assert [c["key"] for c in vp.data["catch_up"]] == [
        rule_deadline(incident, "P1", "unacknowledged", 5).key,
        rule_deadline(incident, "P1", "unacknowledged", 10).key,
    ]
    assert statuses(incident)["P1:unacknowledged:10"] == "skipped"
    sweep(T0 + SECOND)
    (event,) = events(incident)
    assert "(catch-up: Backup on-call, Engineering Manager already past" in event.text


def test_the_resolution_target_is_not_a_level_of_the_ladder(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(150))
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    assert rule_deadline(incident, "", "over_target").status == "pending"
    assert rule_deadline(incident, "P1", "open", 60).data["catch_up"]
    sweep(T0 + SECOND)
    assert sorted(e.text.split(":")[0] for e in events(incident)) == [
        "Escalated to CTO",
        "Escalated to The IC's manager",
    ]


def test_the_security_lead_is_paged_beside_a_catch_up(org, ic, gateway, at_t0, sweep):
    incident = declare(
        actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(90), security=True
    )
    assert rule_deadline(incident, "", "security").status == "pending"
    sweep(T0 + SECOND)
    assert paged(incident, rule_deadline(incident, "", "security").key) == ["sam-seclead"]
    assert sorted(e.text.split(":")[0] for e in events(incident)) == [
        "Escalated to CTO",
        "Escalated to Security Lead",
    ]


def test_skipped_deadlines_are_listed_and_filtered_by_the_api(org, ic, gateway, at_t0, api):
    incident = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - minutes(40))
    client = api(ic)
    body = client.get(f"/api/v1/deadlines/?incident={incident.pk}&status=skipped").json()
    assert sorted(row["key"] for row in body["results"]) == sorted(
        rule_deadline(incident, "P1", "unacknowledged", after).key for after in (5, 10)
    )
    refused = client.get("/api/v1/deadlines/?status=caught-up")
    assert refused.status_code == 400
    assert "skipped" in refused.json()["status"][0]


def test_a_deadline_that_no_longer_applies_is_cancelled_when_due(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P2", services=gateway)
    # Acknowledged without a re-plan (e.g. an older code path): the sweeper checks again.
    type(incident).objects.filter(pk=incident.pk).update(acknowledged_at=T0 + minutes(1))
    sweep(T0 + minutes(15))
    assert rule_deadline(incident, "P2", "unacknowledged", 15).status == "cancelled"
    assert events(incident) == []


# --- security, over target, fallbacks ------------------------------------------------------------
def test_security_incident_pages_the_security_lead_at_once(org, ic, gateway, at_t0, sweep):
    incident = declare(actor=ic, severity="P3", services=gateway, security=True)
    deadline = rule_deadline(incident, "", "security")
    assert deadline.due_at == T0
    assert sweep(T0) == 2
    assert paged(incident, deadline.key) == ["sam-seclead"]
    (event,) = events(incident)
    assert event.text.startswith("Escalated to Security Lead: Security incident")


def test_p1_security_incident_tells_the_security_lead_besides_the_p1_audiences(
    org, ic, gateway, at_t0, sweep
):
    incident = declare(actor=ic, severity="P1", services=gateway, security=True)
    sweep(T0)
    assert paged(incident, rule_deadline(incident, "", "security").key) == ["sam-seclead"]
    assert "sam-seclead" not in paged(incident, "notify:P1")


def test_non_security_incident_has_no_security_deadline(org, ic, gateway, at_t0):
    incident = declare(actor=ic, severity="P1", services=gateway)
    assert not Deadline.objects.filter(
        incident=incident, key=f"rule:{rule('', 'security').pk}"
    ).exists()


def test_over_target_pages_the_ics_manager(org, ic, gateway, at_t0, sweep):
    boss = UserFactory(username="boss", rank="engineering_manager")
    sid = UserFactory(
        username="sid", rank="senior_engineer", groups=["incident_commander"], manager=boss
    )
    incident = declare(actor=ic, severity="P2", services=gateway)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=sid
    )
    deadline = rule_deadline(incident, "", "over_target")
    assert deadline.due_at == T0 + minutes(240)
    sweep(T0 + minutes(240) - SECOND)
    assert paged(incident, deadline.key) == []
    sweep(T0 + minutes(240))
    assert paged(incident, deadline.key) == ["boss"]
    (event,) = [e for e in events(incident) if e.data["deadline"] == deadline.pk]
    assert event.text == (
        "Escalated to The IC's manager: Resolution taking longer than the P2 target (240 min)"
        " — paged boss"
    )


def test_over_target_without_a_manager_pages_the_em_of_the_ics_team(org, ic, gateway, at_t0, sweep):
    sid = UserFactory(
        username="sid", rank="senior_engineer", groups=["incident_commander"], team=org.platform
    )
    incident = declare(actor=ic, severity="P3", services=gateway)
    put_on_call(sid, org.platform, slot="backup")  # the P3 IC is the on-call engineer (3.1)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=sid
    )
    sweep(T0 + minutes(24 * 60))
    assert paged(incident, rule_deadline(incident, "", "over_target").key) == ["emma-em"]


def test_no_backup_on_call_pages_the_engineering_manager_and_says_so(
    org, ic, gateway, at_t0, sweep
):
    RotationMember.objects.filter(rotation__schedule=org.schedule).exclude(
        user=org.primary
    ).delete()
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0 + minutes(5))
    deadline = rule_deadline(incident, "P1", "unacknowledged", 5)
    assert paged(incident, deadline.key) == ["emma-em"]
    (event,) = events(incident)
    assert "paged emma-em" in event.text
    assert "no backup on call; paged the Engineering Manager instead" in event.text
    assert event.data["notes"] == ["no backup on call; paged the Engineering Manager instead"]


def test_no_backup_and_no_engineering_manager_says_nobody_was_paged(org, ic, gateway, at_t0, sweep):
    RotationMember.objects.filter(rotation__schedule=org.schedule).exclude(
        user=org.primary
    ).delete()
    type(org.em).objects.filter(rank="engineering_manager").update(rank="senior_engineer")
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0 + minutes(5))
    deadline = rule_deadline(incident, "P1", "unacknowledged", 5)
    assert paged(incident, deadline.key) == []
    (event,) = events(incident)
    assert "nobody paged" in event.text
    assert "paged the Engineering Manager instead" not in event.text
    assert event.data["notes"] == ["no backup on call and no Engineering Manager to page instead"]


def test_p2_with_no_backup_tells_the_manager_once(org, ic, gateway, at_t0, sweep):
    # The backup falls back to the Engineering Manager, who is also "their manager": one page.
    RotationMember.objects.filter(rotation__schedule=org.schedule).exclude(
        user=org.primary
    ).delete()
    incident = declare(actor=ic, severity="P2", services=gateway)
    assert sweep(T0) == 1
    assert paged(incident, "notify:P2") == ["alice", "emma-em"]
    assert Deadline.objects.get(incident=incident, key="notify:P2").status == "fired"


# --- who is told at declaration (2.1) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("severity", "expected", "text"),
    [
        (
            "P1",
            ["alice", "bob", "cedric-ceo", "chloe-cto", "dave", "erin", "victor-vp"],
            "Notified All hands (every responder on call), Executives (P1 declared) — paged ",
        ),
        (
            "P2",
            ["alice", "bob", "emma-em"],
            "Notified On-call engineer, Backup on-call, Manager (P2 declared)",
        ),
        ("P3", ["alice"], "Notified On-call engineer (P3 declared) — paged alice"),
        ("P4", [], "Notified Engineering queue (P4 declared) — nobody paged"),
    ],
)
def test_declaration_tells_the_audiences_of_its_severity(
    org, ic, gateway, at_t0, sweep, severity, expected, text
):
    incident = declare(actor=ic, severity=severity, services=gateway)
    deadline = Deadline.objects.get(incident=incident, kind="notify")
    assert (deadline.key, deadline.due_at) == (f"notify:{severity}", T0)
    sweep(T0)
    assert paged(incident, deadline.key) == expected
    (event,) = events(incident, TimelineKind.NOTIFIED)
    assert event.text.startswith(text)
    assert event.occurred_at == T0
    if severity == "P4":
        assert "engineering queue" in event.text
    assert events(incident) == []  # nothing escalated at declaration


def test_drill_runs_every_timer_but_sends_nothing(org, ic, gateway, at_t0, sweep, mailoutbox):
    incident = declare(actor=ic, severity="P1", services=gateway, drill=True)
    assert sweep(T0 + minutes(60)) == 5
    pages = Page.objects.filter(incident=incident)
    assert pages.count() == 7 + 1 + 1 + 1 + 1  # notify (7), backup, EM, VP, CTO
    assert set(pages.values_list("status", flat=True)) == {"suppressed"}
    assert all(p.subject.startswith("[DRILL] ") for p in pages)
    assert all("(drill: suppressed, nothing sent)" in e.text for e in events(incident))
    assert mailoutbox == []


def test_sweep_respects_its_limit_and_leaves_the_rest(org, ic, gateway, at_t0):
    incidents = [
        declare(actor=ic, severity="P3", services=gateway, title=f"disk {n}") for n in range(3)
    ]
    assert deadlines_fire_due(now=T0, limit=2) == 2
    assert (
        Deadline.objects.filter(incident__in=incidents, status="pending", kind="notify").count()
        == 1
    )
    assert deadlines_fire_due(now=T0, limit=2) == 1
    assert deadlines_fire_due(now=T0, limit=2) == 0


def test_fired_pages_are_handed_over_after_commit(
    org, ic, gateway, at_t0, django_capture_on_commit_callbacks
):
    declare(actor=ic, severity="P3", services=gateway)
    with django_capture_on_commit_callbacks() as callbacks:
        assert deadlines_fire_due(now=T0) == 1
    assert len(callbacks) == 1
    assert Page.objects.get().status == "pending"


# --- acknowledgement follows people (4.2, Appendix A); escalations skip role holders ------------
def test_taking_the_ic_role_stops_the_acknowledgement_escalations(
    org, ic, gateway, at_t0, sweep, time_machine
):
    incident = declare(actor=ic, severity="P1", services=gateway)
    sweep(T0)
    time_machine.move_to(T0 + minutes(3), tick=False)

    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )

    assert statuses(incident)["P1:unacknowledged:5"] == "cancelled"
    assert statuses(incident)["P1:unacknowledged:10"] == "cancelled"
    assert sweep(T0 + minutes(10)) == 0
    assert events(incident) == []
    (ack,) = events(incident, TimelineKind.ACKNOWLEDGED)
    assert ack.text == "Acknowledged by ian-ic (took the Incident Commander role)"
    assert ack.occurred_at == T0 + minutes(3)


def test_declaring_alone_does_not_acknowledge(org, ic, at_t0, sweep, api):
    response = api(ic).post(
        "/api/v1/incidents/",
        {
            "title": "Gateway 502s",
            "severity": "P1",
            "services": ["api-gateway"],
            "detection_source": "monitoring",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["acknowledged_at"] is None
    incident = Incident.objects.get(pk=response.json()["id"])
    sweep(T0 + minutes(5))
    assert paged(incident, rule_deadline(incident, "P1", "unacknowledged", 5).key) == ["bob"]


def test_an_escalation_never_pages_the_ic_it_escalates_about(org, ic, gateway, at_t0, sweep):
    """An IC posting updates was escalated to as the one the rule names: the VP commanding a
    P1 is not paged by "P1 open > 30 min: VP Engineering"; the timeline says so."""
    incident = declare(actor=ic, severity="P1", services=gateway)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=org.vp
    )
    deadline = rule_deadline(incident, "P1", "open", 30)

    sweep(T0 + minutes(30))

    deadline.refresh_from_db()
    assert deadline.status == "fired"
    assert paged(incident, deadline.key) == []
    (event,) = [e for e in events(incident) if e.data["deadline"] == deadline.pk]
    assert event.text == (
        "Escalated to VP Engineering: P1 open > 30 min — nobody paged "
        "(skipped victor-vp: already Incident Commander on this incident)"
    )
    assert event.data["notes"] == ["skipped victor-vp: already Incident Commander on this incident"]


def test_over_target_skips_the_ics_manager_who_already_holds_a_role(org, ic, gateway, at_t0, sweep):
    sid = UserFactory(
        username="sid", rank="senior_engineer", groups=["incident_commander"], manager=org.em
    )
    incident = declare(actor=ic, severity="P2", services=gateway)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=sid
    )
    services.incident_assign_role(
        actor=sid, incident_id=incident.pk, role=Role.TECH_LEAD, user=org.em
    )
    sweep(T0 + minutes(240))
    deadline = rule_deadline(incident, "", "over_target")
    assert paged(incident, deadline.key) == []
    (event,) = [e for e in events(incident) if e.data["deadline"] == deadline.pk]
    assert "skipped emma-em: already Technical Lead on this incident" in event.text


def test_an_escalation_pages_the_others_and_names_who_it_skipped(org, ic, gateway, at_t0, sweep):
    """Two owning teams: the backup of one already helps as an SME, the other is paged."""
    auth = Service.objects.get(slug="authentication")  # owned by Security
    incident = declare(actor=ic, severity="P1", services=[*gateway, auth])
    services.incident_assign_role(actor=ic, incident_id=incident.pk, role=Role.SME, user=org.backup)
    deadline = rule_deadline(incident, "P1", "unacknowledged", 5)

    sweep(T0 + minutes(5))

    assert paged(incident, deadline.key) == ["erin"]
    (event,) = [e for e in events(incident) if e.data["deadline"] == deadline.pk]
    assert "paged erin" in event.text
    assert "skipped bob: already Subject Matter Expert on this incident" in event.text
