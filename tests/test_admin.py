"""Admin for SRE leads: it reaches incidents through the selectors and changes them (and the
policy) only through the services, so what admin does is visible and audited."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.contrib.messages import get_messages
from django.forms import MultiWidget
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    EscalationRule,
    Incident,
    PolicyChange,
    Service,
    SeverityPolicy,
    TimelineEvent,
)
from incidents.selectors import policy_for
from incidents.states import Role, Status, TimelineKind
from tests.factories import UserFactory, declare, drive_to, tick_resolution_criteria

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policy_in_force(db):
    """The policy in force (seeded from the defaults) exists before admin shows it."""
    policy_for("P1")


@pytest.fixture
def lead_client(client, sre_lead):
    client.force_login(sre_lead)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _form_data(response) -> dict:
    """POST data for an admin change page as it was rendered: the form's current values and
    every inline's management form, so a test changes only what it means to change."""
    data = {}
    form = response.context["adminform"].form
    for bound in form:
        value = bound.value()
        if value is None:
            continue
        if isinstance(bound.field.widget, MultiWidget):  # e.g. date and time, posted apart
            context = bound.field.widget.get_context(bound.html_name, value, {})
            data.update({sub["name"]: sub["value"] for sub in context["widget"]["subwidgets"]})
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[bound.html_name] = "on"
        else:
            data[bound.html_name] = str(value)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = bound.value()
        for inline_form in formset.forms:
            for bound in inline_form:
                if bound.value() is not None:
                    data[bound.html_name] = str(bound.value())
    return data


def _action(client, name: str, *incidents):
    return client.post(
        reverse("admin:incidents_incident_changelist"),
        {"action": name, "_selected_action": [i.pk for i in incidents]},
    )


# --- every page opens -----------------------------------------------------------------------------
def test_every_admin_page_opens_for_a_superuser(client, ic_user):
    declare(actor=ic_user)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        obj = model_admin.get_queryset(client.get(changelist).wsgi_request).first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change


# --- incidents: visibility ------------------------------------------------------------------------
def test_sre_lead_opens_incident_changelist_and_change_page(lead_client, ic_user):
    incident = declare(actor=ic_user)

    changelist = lead_client.get(reverse("admin:incidents_incident_changelist"))
    change = lead_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    assert changelist.status_code == 200
    assert incident.title in changelist.content.decode()
    assert change.status_code == 200


def test_security_incident_is_hidden_from_an_sre_lead_outside_security(
    lead_client, ic_user, security_user
):
    visible = declare(actor=ic_user, title="Database failover stuck")
    hidden = declare(actor=security_user, title="Token leak in auth logs", security=True)

    changelist = lead_client.get(reverse("admin:incidents_incident_changelist"))
    change = lead_client.get(reverse("admin:incidents_incident_change", args=[hidden.pk]))

    assert visible.title in changelist.content.decode()
    assert hidden.title not in changelist.content.decode()
    assert changelist.context["cl"].result_count == 1
    assert change.status_code == 404


def test_security_group_and_superuser_see_security_incidents(client, security_user):
    hidden = declare(actor=security_user, title="Token leak in auth logs", security=True)
    superuser = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:incidents_incident_change", args=[hidden.pk])

    client.force_login(superuser)

    assert client.get(url).status_code == 200


def test_timeline_events_of_hidden_incidents_are_hidden_too(lead_client, security_user):
    hidden = declare(actor=security_user, title="Token leak in auth logs", security=True)
    event = hidden.timeline.first()

    changelist = lead_client.get(reverse("admin:incidents_timelineevent_changelist"))
    change = lead_client.get(reverse("admin:incidents_timelineevent_change", args=[event.pk]))

    assert changelist.context["cl"].result_count == 0
    assert change.status_code == 404


# --- incidents: writes go through the services -----------------------------------------------
def test_no_add_or_delete_of_incidents(lead_client, ic_user):
    incident = declare(actor=ic_user)

    assert lead_client.get(reverse("admin:incidents_incident_add")).status_code == 403
    delete = lead_client.get(reverse("admin:incidents_incident_delete", args=[incident.pk]))
    assert delete.status_code == 403


def test_editing_an_incident_goes_on_the_timeline(lead_client, ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P2")
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    data = _form_data(lead_client.get(url))
    data.update(title="Gateway 502s in eu-west-1", severity="P1", reason="All regions now")

    response = lead_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    incident.refresh_from_db()
    assert (incident.title, incident.severity) == ("Gateway 502s in eu-west-1", "P1")
    events = {e.kind: e for e in incident.timeline.filter(actor=sre_lead)}
    assert events[TimelineKind.UPDATED].data["title"]["new"] == "Gateway 502s in eu-west-1"
    assert events[TimelineKind.SEVERITY_CHANGED].data["reason"] == "All regions now"


def test_status_is_not_editable_in_the_form(lead_client, ic_user):
    incident = declare(actor=ic_user)
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    data = _form_data(lead_client.get(url))

    lead_client.post(url, {**data, "status": Status.RESOLVED})

    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING


def test_transition_action_moves_the_incident_and_writes_the_timeline(
    lead_client, ic_user, sre_lead
):
    incident = declare(actor=ic_user)

    response = _action(lead_client, "identify", incident)

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.IDENTIFIED
    event = incident.timeline.get(kind=TimelineKind.STATUS_CHANGED)
    assert event.actor == sre_lead
    assert event.data["to"] == Status.IDENTIFIED
    assert any("moved to Identified" in m for m in _messages(response))


def test_transition_action_reports_the_refusal(lead_client, ic_user):
    refused = declare(actor=ic_user, title="Inference queue backed up")
    moved = declare(actor=ic_user, title="Training jobs stuck")
    _action(lead_client, "identify", moved)

    response = _action(lead_client, "mitigate", refused, moved)

    refused.refresh_from_db()
    moved.refresh_from_db()
    assert refused.status == Status.INVESTIGATING
    assert moved.status == Status.MONITORING
    messages = _messages(response)
    assert any(
        refused.reference in m and "Cannot move from investigating to monitoring" in m
        for m in messages
    ), messages
    assert any(moved.reference in m and "moved to Monitoring" in m for m in messages)


def test_resolve_action_reports_what_blocks_resolving(lead_client, ic_user, sre_lead):
    incident = declare(actor=ic_user, severity="P2")
    services.incident_assign_role(
        actor=sre_lead, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=sre_lead
    )
    _action(lead_client, "identify", incident)
    _action(lead_client, "mitigate", incident)

    response = _action(lead_client, "resolve", incident)

    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    assert any("Cannot resolve yet" in m for m in _messages(response))


def test_resolve_action_is_the_ics_alone(lead_client, ic_user, sre_lead):
    """An SRE lead who is not the IC resolved an incident from admin; the IC declares resolved
    (procedures 3.1, 7.4), so admin refuses them as the API does."""
    incident = drive_to(declare(actor=ic_user, severity="P2"), Status.MONITORING, ic_user)
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic_user
    )
    tick_resolution_criteria(incident, ic_user)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = _action(lead_client, "resolve", incident)

        incident.refresh_from_db()
        assert incident.status == Status.MONITORING
        [message] = _messages(response)
        assert "Only the incident's Incident Commander may resolve it" in message
        assert "take the Incident Commander role first" in message

        resolved = services.incident_transition(
            actor=ic_user, incident_id=incident.pk, to=Status.RESOLVED
        )
    assert resolved.status == Status.RESOLVED


def test_acknowledge_action(lead_client, ic_user, sre_lead):
    incident = declare(actor=ic_user)

    _action(lead_client, "acknowledge", incident)
    again = _action(lead_client, "acknowledge", incident)

    incident.refresh_from_db()
    assert incident.acknowledged_by == sre_lead
    assert incident.timeline.filter(kind=TimelineKind.ACKNOWLEDGED).count() == 1
    assert any("already acknowledged" in m for m in _messages(again))


# --- timeline -------------------------------------------------------------------------------------
def test_timeline_event_admin_is_read_only(lead_client, ic_user, sre_lead):
    incident = declare(actor=ic_user)
    event = incident.timeline.first()
    model_admin = admin.site._registry[TimelineEvent]
    request = RequestFactory().get("/")
    request.user = sre_lead

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert model_admin.has_view_permission(request, event)
    change_url = reverse("admin:incidents_timelineevent_change", args=[event.pk])
    assert lead_client.get(change_url).status_code == 200
    assert lead_client.get(reverse("admin:incidents_timelineevent_add")).status_code == 403
    delete_url = reverse("admin:incidents_timelineevent_delete", args=[event.pk])
    assert lead_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert TimelineEvent.objects.filter(pk=event.pk).exists()


def test_incident_inlines_are_read_only(sre_lead):
    model_admin = admin.site._registry[Incident]
    request = RequestFactory().get("/")
    request.user = sre_lead
    incident = declare()

    for inline in model_admin.get_inline_instances(request, incident):
        assert not inline.has_add_permission(request, incident)
        assert not inline.has_change_permission(request, incident)
        assert not inline.has_delete_permission(request, incident)
        assert set(inline.get_readonly_fields(request, incident)) == set(inline.fields)


# --- policy ---------------------------------------------------------------------------------------
def test_editing_a_severity_policy_audits_each_changed_field(lead_client, sre_lead):
    policy = policy_for("P1")
    url = reverse("admin:incidents_severitypolicy_change", args=[policy.pk])
    data = _form_data(lead_client.get(url))
    data.update(target_resolution_minutes="90", status_page_every_minutes="20")

    response = lead_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert policy.target_resolution_minutes == 90
    changes = {c.field: c for c in PolicyChange.objects.filter(target="severity:P1")}
    assert set(changes) == {"target_resolution_minutes", "status_page_every_minutes"}
    change = changes["target_resolution_minutes"]
    assert (change.old_value, change.new_value) == (120, 90)
    assert (change.changed_by, change.reason) == (sre_lead, "admin")
    other = changes["status_page_every_minutes"]
    assert (other.old_value, other.new_value) == (30, 20)


def test_severity_policies_are_neither_added_nor_deleted(lead_client):
    policy = policy_for("P2")

    assert lead_client.get(reverse("admin:incidents_severitypolicy_add")).status_code == 403
    delete = reverse("admin:incidents_severitypolicy_delete", args=[policy.pk])
    assert lead_client.post(delete, {"post": "yes"}).status_code == 403
    assert SeverityPolicy.objects.filter(pk=policy.pk).exists()


def test_adding_an_escalation_rule_is_audited(lead_client, sre_lead):
    response = lead_client.post(
        reverse("admin:incidents_escalationrule_add"),
        {"severity": "P2", "trigger": "open", "after_minutes": "45", "target": "cto"},
    )

    assert response.status_code == 302
    rule = EscalationRule.objects.get(severity="P2", trigger="open", after_minutes=45)
    change = PolicyChange.objects.get(target=f"escalation_rule:{rule.pk}")
    assert change.old_value is None
    assert change.new_value["target"] == "cto"
    assert change.changed_by == sre_lead


def test_deleting_an_escalation_rule_is_audited(lead_client, sre_lead):
    rule = EscalationRule.objects.get(severity="P1", trigger="open", after_minutes=60)
    url = reverse("admin:incidents_escalationrule_delete", args=[rule.pk])

    response = lead_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not EscalationRule.objects.filter(pk=rule.pk).exists()
    change = PolicyChange.objects.get(target=f"escalation_rule:{rule.pk}")
    assert change.field == "*"
    assert change.new_value is None
    assert change.old_value["target"] == "cto"
    assert (change.changed_by, change.reason) == (sre_lead, "admin")


def test_bulk_deleting_escalation_rules_is_audited(lead_client):
    rules = list(EscalationRule.objects.filter(severity="P1", trigger="unacknowledged"))

    lead_client.post(
        reverse("admin:incidents_escalationrule_changelist"),
        {"action": "delete_selected", "_selected_action": [r.pk for r in rules], "post": "yes"},
    )

    assert not EscalationRule.objects.filter(pk__in=[r.pk for r in rules]).exists()
    targets = set(PolicyChange.objects.values_list("target", flat=True))
    assert targets == {f"escalation_rule:{r.pk}" for r in rules}


# --- people ---------------------------------------------------------------------------------------
def test_sre_lead_cannot_make_a_superuser(lead_client, responder):
    url = reverse("admin:incidents_user_change", args=[responder.pk])
    data = _form_data(lead_client.get(url))
    data.update(is_superuser="on", rank="senior_engineer")

    response = lead_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    responder.refresh_from_db()
    assert responder.rank == "senior_engineer"
    assert not responder.is_superuser


# --- the catalog: each service's subject matter experts (procedures 3.2) -------------------------
def test_an_sre_lead_names_a_services_experts_in_admin(lead_client, responder):
    service = Service.objects.get(slug="inference")
    change = reverse("admin:incidents_service_change", args=[service.pk])
    data = _form_data(lead_client.get(change))
    data["experts"] = [str(responder.pk)]

    response = lead_client.post(change, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(service.experts.all()) == [responder]
    # A responder without admin rights cannot.
    lead_client.force_login(responder)
    assert lead_client.get(change).status_code == 302  # to the admin login
