"""The incident page: only legal transitions offered, Resolve explained, rules shown inline,
and refused input changes nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import ChecklistItem, Incident, RoleAssignment, TimelineEvent
from incidents.states import Checklist, Role, Status
from tests.factories import UserFactory, declare, tick_resolution_criteria

from .conftest import parse

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, incident, *args):
    return reverse(f"dashboard:{name}", args=[incident.pk, *args])


def transition_buttons(response) -> list[str]:
    return sorted(
        b["attrs"]["data-transition"]
        for b in parse(response).buttons
        if "data-transition" in b["attrs"]
    )


def move(incident, actor, *targets):
    for to in targets:
        services.incident_transition(actor=actor, incident_id=incident.pk, to=to)
    incident.refresh_from_db()


def test_only_the_legal_transitions_are_buttons(ic_client, ic, incident):
    response = ic_client.get(url("incident", incident))
    assert transition_buttons(response) == ["identified"]
    assert b">Acknowledge</button>" in response.content
    move(incident, ic, "identified")
    assert transition_buttons(ic_client.get(url("incident", incident))) == ["monitoring"]
    move(incident, ic, "monitoring")
    # From Monitoring: back to either earlier state; Resolve is not ready, so not a transition.
    response = ic_client.get(url("incident", incident))
    assert transition_buttons(response) == ["identified", "investigating"]


def test_resolve_is_disabled_with_every_reason_listed(ic_client, ic, incident):
    move(incident, ic, "identified", "monitoring")
    page = ic_client.get(url("incident", incident))
    resolve = [b for b in parse(page).buttons if b["text"] == "Resolve"]
    assert len(resolve) == 1 and "disabled" in resolve[0]["attrs"]
    text = page.content.decode()
    assert "Cannot resolve yet" in text
    assert "resolution criterion not ticked: Error rates returned to baseline" in text
    assert "no Incident Commander assigned" in text
    assert "stability window requires" in text


def test_resolve_becomes_a_button_when_the_criteria_are_met(ic_client, ic, incident):
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    move(incident, ic, "identified", "monitoring")
    tick_resolution_criteria(incident, ic)
    Incident.objects.filter(pk=incident.pk).update(
        mitigated_at=timezone.now() - timedelta(minutes=16)
    )
    page = ic_client.get(url("incident", incident))
    assert "resolved" in transition_buttons(page)
    assert b"Cannot resolve yet" not in page.content
    response = ic_client.post(url("transition", incident), {"to": "resolved"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    # Reopen asks for a reason, and a reopen without one is refused.
    page = ic_client.get(url("incident", incident))
    assert b'name="reason"' in page.content and b"Reopen" in page.content
    response = ic_client.post(url("transition", incident), {"to": "investigating"})
    assert response.status_code == 400
    assert b"A reason is required to reopen" in response.content
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_not_the_ic_sees_why_they_cannot_resolve(client, ic, incident):
    other = UserFactory(rank="engineering_manager", groups=["responder"])
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    move(incident, ic, "identified", "monitoring")
    client.force_login(other)
    page = client.get(url("incident", incident))
    assert b"Only the incident&#x27;s Incident Commander may resolve it" in page.content


def test_a_refused_transition_says_why_and_changes_nothing(ic_client, ic, incident):
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    move(incident, ic, "identified", "monitoring")
    events = TimelineEvent.objects.filter(incident=incident).count()
    response = ic_client.post(url("transition", incident), {"to": "resolved"})
    assert response.status_code == 409
    text = response.content.decode()
    assert "Cannot resolve yet" in text and "Error rates returned to baseline" in text
    assert "stability window requires" in text
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    assert TimelineEvent.objects.filter(incident=incident).count() == events
    response = ic_client.post(url("transition", incident), {"to": "bogus"})
    assert response.status_code == 400


def test_role_rule_violation_is_shown_inline_and_nothing_changes(ic_client, incident):
    engineer = UserFactory(username="junior", rank="engineer", groups=["responder"])
    data = {"role": "incident_commander", "username": engineer.username}
    response = ic_client.post(url("assign-role", incident), data)
    assert response.status_code == 400
    text = response.content.decode()
    assert "P1 Incident Commander: Engineering Manager or above" in text
    assert 'class="field-error"' in text
    assert 'aria-invalid="true"' in text and 'aria-describedby="id_username_error"' in text
    assert not RoleAssignment.objects.filter(incident=incident).exists()
    # The htmx form gets its own section back, with the same message.
    response = ic_client.post(url("assign-role", incident), data, **HTMX)
    assert response.status_code == 400
    assert response.content.decode().lstrip().startswith('<section class="card" id="roles"')
    assert b"Engineering Manager or above" in response.content
    assert not RoleAssignment.objects.filter(incident=incident).exists()


def test_unknown_user_is_refused(ic_client, incident):
    response = ic_client.post(
        url("assign-role", incident), {"role": "scribe", "username": "nobody"}
    )
    assert response.status_code == 400
    assert b"No active user with that username." in response.content


def test_assigning_a_role_with_htmx_updates_roles_and_actions(ic_client, ic, incident):
    data = {"role": "incident_commander", "username": ic.username}
    response = ic_client.post(url("assign-role", incident), data, **HTMX)
    assert response.status_code == 200
    assert b'id="actions" aria-labelledby="actions-title" hx-swap-oob="true"' in response.content
    assert RoleAssignment.objects.filter(
        incident=incident, user=ic, role=Role.INCIDENT_COMMANDER
    ).exists()
    response = ic_client.post(url("relieve-role", incident), data, **HTMX)
    assert response.status_code == 200
    assert not RoleAssignment.objects.filter(incident=incident, relieved_at__isnull=True).exists()


def test_checklist_tick_and_untick(ic_client, incident):
    item = ChecklistItem.objects.get(incident=incident, key="error_rates_baseline")
    response = ic_client.post(url("checklist-set", incident, item.pk), {"done": "1"}, **HTMX)
    assert response.status_code == 200
    assert b'id="checklists"' in response.content
    assert b'id="actions" aria-labelledby="actions-title" hx-swap-oob="true"' in response.content
    item.refresh_from_db()
    assert item.done
    response = ic_client.post(url("checklist-set", incident, item.pk), {"done": "0"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert not item.done
    response = ic_client.post(url("checklist-set", incident, item.pk), {"done": "maybe"})
    assert response.status_code == 400
    item.refresh_from_db()
    assert not item.done


def test_all_three_checklists_are_shown_with_phases(ic_client, incident):
    text = ic_client.get(url("incident", incident)).content.decode()
    for label in ("Triage (4.3)", "Incident Commander (Appendix A)", "Resolution criteria (7.4)"):
        assert label in text
    for phase in ("First 5 minutes", "First 15 minutes", "Ongoing", "Resolution"):
        assert f"<h4>{phase}</h4>" in text
    assert ChecklistItem.objects.filter(incident=incident, checklist=Checklist.IC).count() == 18


def test_notes_and_the_timeline_fragment(ic_client, incident):
    last = TimelineEvent.objects.filter(incident=incident).order_by("-id").first()
    response = ic_client.post(
        url("add-note", incident), {"text": "Rolled back api-gateway"}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Trigger"] == "timeline-refresh"
    fragment = ic_client.get(url("timeline", incident), {"after": last.pk})
    assert fragment.status_code == 200
    assert fragment.content.count(b"<li") == 1 and b"Rolled back api-gateway" in fragment.content
    assert ic_client.get(url("timeline", incident), {"after": "x"}).status_code == 400
    before = TimelineEvent.objects.filter(incident=incident).count()
    response = ic_client.post(url("add-note", incident), {"text": "   "})
    assert response.status_code == 400
    assert b"This field is required." in response.content
    assert TimelineEvent.objects.filter(incident=incident).count() == before


def test_escalation_request_and_paging(ic_client, ic, incident):
    UserFactory(username="cto", rank="cto", groups=["responder"])
    before = TimelineEvent.objects.filter(incident=incident).count()
    response = ic_client.post(url("escalate", incident), {"target": "cto", "reason": ""})
    assert response.status_code == 400
    assert TimelineEvent.objects.filter(incident=incident).count() == before
    response = ic_client.post(
        url("escalate", incident),
        {"target": "cto", "reason": "Needs a vendor call", "requested_action": "Call AWS TAM"},
        **HTMX,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "ESCALATION REQUEST" in text and "Call AWS TAM" in text
    assert TimelineEvent.objects.filter(incident=incident, kind="escalation_requested").exists()
    responder = UserFactory(username="sam", rank="engineer", groups=["responder"])
    response = ic_client.post(
        url("page-user", incident), {"username": responder.username, "reason": ""}
    )
    assert response.status_code == 400
    response = ic_client.post(
        url("page-user", incident), {"username": responder.username, "reason": "DB expert"}
    )
    assert response.status_code == 302
    assert TimelineEvent.objects.filter(incident=incident, kind="paged").exists()


def test_ceo_is_offered_for_p1_only(ic_client, ic, service):
    p2 = declare(actor=ic, title="Slow", severity="P2", services=[service])
    page = ic_client.get(url("incident", p2)).content.decode()
    assert 'value="cto"' in page and 'value="ceo"' not in page


def test_reference_panels(ic_client, incident):
    page = ic_client.get(url("incident", incident)).content.decode()
    assert "docs/runbooks/api-gateway.md" in page
    assert "kubectl rollout undo deployment/api-gateway -n production" in page
    assert "#inc-" in page and incident.bridge_url in page
    response = ic_client.get(url("mitigations", incident), {"symptom": "High latency"})
    assert b"Scale up, traffic shed, cache" in response.content
    response = ic_client.get(url("rollback", incident), {"deployment": "billing-api"})
    assert b"kubectl rollout undo deployment/billing-api -n production" in response.content
    response = ic_client.get(url("rollback", incident), {"deployment": "x; rm -rf /"})
    assert b"kubectl" not in response.content
    assert b"Not a Kubernetes deployment name" in response.content
    # Without JavaScript the page itself takes the same parameters.
    page = ic_client.get(url("incident", incident), {"symptom": "Security incident"})
    assert b"Isolate, revoke, block" in page.content


def test_viewer_reads_but_gets_no_forms(client, incident):
    viewer = UserFactory(rank="engineer", groups=["viewer"])
    client.force_login(viewer)
    page = client.get(url("incident", incident))
    assert page.status_code == 200
    assert b"You can read this incident but not change it" in page.content
    assert b'name="text"' not in page.content
    response = client.post(url("acknowledge", incident))
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_acknowledge(ic_client, incident):
    response = ic_client.post(url("acknowledge", incident))
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert b">Acknowledge</button>" not in ic_client.get(url("incident", incident)).content
