"""Status updates from the procedures' templates (6.1, 6.2): each template in each state with
the procedures' exact lines and the incident's values, the draft endpoint offering the template
of the current status, posting through the API (template or own text) with its timeline event
and cadence restart, who may post publicly (3.3), and security incidents kept off the status
page and out of customer email."""

from datetime import UTC, datetime, timedelta

import pytest

from comms.models import CommsObligation, Update
from comms.render import update_draft
from comms.services import update_post
from incidents import services
from incidents.models import Service, TimelineEvent
from incidents.states import Role, TimelineKind
from tests.factories import UserFactory, declare, drive_to, put_on_call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def ic(db):
    ian = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    put_on_call(ian)  # commands P3s and P4s too: their IC is the on-call engineer (3.1)
    return ian


@pytest.fixture
def csm(db):
    return UserFactory(username="cora-csm", rank="customer_success_manager", groups=["responder"])


def make_incident(ic, severity="P1", **fields):
    fields.setdefault("title", "Inference API returning 502s")
    fields.setdefault("symptoms", "errors when calling the inference API.")
    fields.setdefault("impact", "About 40% of inference requests fail.")
    fields.setdefault("workaround", "Retry failed requests after a few seconds.")
    fields.setdefault("services", list(Service.objects.filter(slug__in=["inference"])))
    incident = declare(actor=ic, severity=severity, **fields)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    return incident


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- 6.2 status page templates, one per state ----------------------------------------------------
def test_investigating_template_has_the_procedures_lines_prefilled(ic, frozen):
    incident = make_incident(ic)
    frozen.move_to(T0 + timedelta(minutes=4), tick=False)
    draft = update_draft(incident, "status_page", "investigating", now=datetime.now(UTC))
    assert lines(draft.text) == [
        "Inference Service - Investigating Issues",
        "",
        "We are currently investigating issues with Inference Service.",
        "Users may experience errors when calling the inference API.",
        "",
        "We will provide an update within 30 minutes.",  # P1 status page: every 30 min (6.3)
        "",
        "Posted: 2026-01-07 12:04 UTC",
    ]
    assert draft.subject == "Inference Service - Investigating Issues"


def test_identified_template(ic, frozen):
    incident = make_incident(ic, severity="P2")
    draft = update_draft(incident, "status_page", "identified", now=T0)
    assert lines(draft.text) == [
        "Inference Service - Issue Identified",
        "",
        "We have identified the cause of errors when calling the inference API.",
        "Our team is implementing a fix.",
        "",
        "Impact: About 40% of inference requests fail.",
        "Workaround: Retry failed requests after a few seconds.",
        "",
        "Next update in 1 hour.",  # P2 status page: every hour (6.3)
        "",
        "Posted: 2026-01-07 12:00 UTC",
    ]


def test_monitoring_template(ic, frozen):
    incident = make_incident(ic)
    text = update_draft(incident, "status_page", "monitoring", now=T0).text
    assert lines(text) == [
        "Inference Service - Fix Implemented",
        "",
        "A fix has been implemented and we are monitoring the results.",
        "Inference Service should be returning to normal operation.",
        "",
        "Users who continue to experience issues should contact TenSafe support.",
        "",
        "Posted: 2026-01-07 12:00 UTC",
    ]


def test_resolved_template_gives_duration_from_detection_to_resolution(ic, frozen):
    incident = make_incident(ic, detected_at=T0 - timedelta(minutes=10))
    incident = drive_to(incident, "resolved", ic)
    text = update_draft(incident, "status_page", "resolved", now=datetime.now(UTC)).text
    end = incident.resolved_at
    assert lines(text) == [
        "Inference Service - Resolved",
        "",
        "The issue affecting Inference Service has been resolved.",
        "",
        f"Duration: 2026-01-07 11:50 UTC to {end:%Y-%m-%d %H:%M} UTC (25 minutes)",
        "Impact: About 40% of inference requests fail.",
        "",
        "A post-incident review will be conducted.",
        "",
        f"Posted: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def test_template_falls_back_when_the_incident_lacks_a_value(ic, frozen):
    incident = make_incident(ic, symptoms="", impact="", workaround="", services=[])
    text = update_draft(incident, "status_page", "identified", now=T0).text
    assert "TenSafe services - Issue Identified" in text
    assert "We have identified the cause of Inference API returning 502s." in text
    assert "Impact: We are assessing the impact." in text
    assert "Workaround: None available at this time" in text


def test_several_services_are_listed(ic, frozen):
    affected = list(Service.objects.filter(slug__in=["inference", "api-gateway"]))
    incident = make_incident(ic, services=affected)
    text = update_draft(incident, "status_page", "investigating", now=T0).text
    assert text.startswith("API Gateway, Inference Service - Investigating Issues")


def test_p3_status_page_promises_the_general_p3_update_interval(ic, frozen):
    incident = make_incident(ic, severity="P3")
    text = update_draft(incident, "status_page", "investigating", now=T0).text
    assert "We will provide an update within 4 hours." in text  # "Updates every 4 hours" (2.1)


# --- 6.1 internal update -------------------------------------------------------------------------
def test_internal_update_template(ic, frozen):
    incident = make_incident(ic, description="Inference pods crash-looping after deploy.")
    tl = UserFactory(username="tess-tl", rank="senior_engineer", groups=["responder"])
    services.incident_assign_role(actor=ic, incident_id=incident.pk, role=Role.TECH_LEAD, user=tl)
    frozen.move_to(T0 + timedelta(minutes=7), tick=False)
    services.incident_transition(actor=ic, incident_id=incident.pk, to="identified")
    incident.refresh_from_db()
    text = update_draft(incident, "internal", now=datetime.now(UTC)).text
    body = lines(text)
    assert body[:11] == [
        "[12:07 UTC] STATUS UPDATE",
        "",
        "Current State: Identified",
        "",
        "Summary:",
        f"INC-{incident.pk} Inference API returning 502s: P1, identified, 7 minutes since "
        "detection. Inference pods crash-looping after deploy.",
        "",
        "Actions Taken:",
        "- 12:00 UTC Declared P1: Inference API returning 502s",
        # make_incident makes ian-ic the IC, which acknowledges the incident (4.2).
        "- 12:00 UTC Acknowledged by ian-ic (took the Incident Commander role)",
        "- 12:07 UTC Status: Investigating → Identified",
    ]
    assert body[11:] == [
        "",
        "Next Steps:",
        "- Implement and deploy the fix (Owner: tess-tl, ETA: 12:22 UTC)",
        "",
        "Customer Impact:",
        "About 40% of inference requests fail.",
        "",
        "Next Update: 12:22 UTC",  # P1 internal: every 15 min (6.3)
    ]


# --- 6.2 customer email --------------------------------------------------------------------------
def test_customer_email_template(ic, frozen):
    incident = make_incident(ic, started_at=T0 - timedelta(minutes=3))
    draft = update_draft(incident, "customer_email", now=T0)
    assert draft.subject == "TenSafe Service Incident - Inference API returning 502s"
    assert lines(draft.text) == [
        "Dear [Customer],",
        "",
        "We are writing to inform you of a service incident affecting TenSafe.",
        "",
        "INCIDENT SUMMARY",
        "- Start Time: 2026-01-07 11:57 UTC",
        "- Services Affected: Inference Service",
        "- Current Status: Investigating",
        "",
        "IMPACT",
        "About 40% of inference requests fail.",
        "",
        "WHAT WE'RE DOING",
        "Our engineers are investigating the cause of the issue.",
        "",
        "NEXT STEPS",
        "- Retry failed requests after a few seconds.",
        "- We will provide updates at intervals of no more than 1 hour",  # P1 hourly (6.3)
        "",
        "STATUS PAGE",
        "https://status.tensafe.io",
        "",
        "We apologize for any inconvenience. Our team is working to resolve",
        "this as quickly as possible.",
        "",
        "TenSafe Operations Team",
    ]


# --- the draft endpoint: each transition offers the matching template ----------------------------
def test_draft_endpoint_offers_the_template_of_the_current_status(ic, api, frozen):
    incident = make_incident(ic)
    client = api(ic)
    url = f"/api/v1/incidents/{incident.pk}/updates/draft/"
    for status in ("investigating", "identified", "monitoring"):
        if status != "investigating":
            services.incident_transition(actor=ic, incident_id=incident.pk, to=status)
        response = client.get(url)
        assert response.status_code == 200
        assert response.json()["template"] == status
        assert response.json()["channel"] == "status_page"
    body = client.get(url, {"channel": "internal", "template": "identified"}).json()
    assert "Current State: Identified" in body["text"]
    bad = client.get(url, {"channel": "fax"})
    assert bad.status_code == 400
    assert "channel" in bad.json()
    assert client.get(url, {"chanel": "internal"}).status_code == 400  # strict: unknown param


# --- posting through the API ---------------------------------------------------------------------
def test_posting_a_template_writes_the_update_the_timeline_and_restarts_the_cadence(
    ic, api, frozen
):
    incident = make_incident(ic)
    frozen.move_to(T0 + timedelta(minutes=6), tick=False)
    response = api(ic).post(
        f"/api/v1/incidents/{incident.pk}/updates/",
        {"channel": "status_page", "template": "investigating"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["channel"] == "status_page"
    assert body["template"] == "investigating"
    assert body["posted_by"] == "ian-ic"
    assert "We will provide an update within 30 minutes." in body["text"]
    assert body["text"].endswith("Posted: 2026-01-07 12:06 UTC")
    assert body["next_update_at"] == "2026-01-07T12:36:00Z"
    (event,) = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.STATUS_PAGE_POSTED)
    assert event.actor == ic
    assert event.data["update"] == body["id"]
    assert (
        event.text
        == "Status page updated (Investigating): Inference Service - Investigating Issues"
    )
    first = CommsObligation.objects.get(incident=incident, channel="status_page", sequence=1)
    assert (first.status, first.met_at, first.met_by_update_id) == (
        "met",
        T0 + timedelta(minutes=6),
        body["id"],
    )
    second = CommsObligation.objects.get(incident=incident, channel="status_page", sequence=2)
    assert (second.status, second.due_at) == ("pending", T0 + timedelta(minutes=36))

    listing = api(ic).get(f"/api/v1/incidents/{incident.pk}/updates/").json()
    assert [u["id"] for u in listing] == [body["id"]]


def test_own_text_is_posted_as_given(ic, api, frozen):
    incident = make_incident(ic)
    response = api(ic).post(
        f"/api/v1/incidents/{incident.pk}/updates/",
        {"channel": "status_page", "text": "Inference - Investigating\n\nWe are on it."},
        format="json",
    )
    assert response.status_code == 201
    update = Update.objects.get()
    assert update.text == "Inference - Investigating\n\nWe are on it."
    assert update.subject == "Inference - Investigating"
    assert update.template == "investigating"  # the incident's state when posted


def test_internal_update_is_a_timeline_event(ic, api, frozen):
    incident = make_incident(ic)
    responder = UserFactory(groups=["responder"])
    response = api(responder).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "internal"}, format="json"
    )
    assert response.status_code == 201  # internal updates: any responder
    (event,) = TimelineEvent.objects.filter(
        incident=incident, kind=TimelineKind.INTERNAL_UPDATE_POSTED
    )
    assert event.actor == responder
    assert "STATUS UPDATE" in Update.objects.get().text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channel": "twitter"}, "channel"),
        ({"channel": "status_page", "template": "panicking"}, "template"),
        ({"channel": "status_page", "text": "   "}, "text"),
        ({"channel": "status_page", "colour": "red"}, "colour"),
        ({}, "channel"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(ic, api, frozen, payload, field):
    incident = make_incident(ic)
    response = api(ic).post(f"/api/v1/incidents/{incident.pk}/updates/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Update.objects.exists()


# --- who may post publicly (3.3) -----------------------------------------------------------------
@pytest.mark.parametrize("channel", ["status_page", "customer_email"])
def test_only_the_ic_or_comms_lead_post_publicly(ic, csm, api, frozen, channel):
    incident = make_incident(ic)
    responder = UserFactory(groups=["responder"])
    url = f"/api/v1/incidents/{incident.pk}/updates/"
    refused = api(responder).post(url, {"channel": channel}, format="json")
    assert refused.status_code == 403
    assert "Incident Commander or Communications Lead" in refused.json()["detail"]
    assert "3.3" in refused.json()["detail"]
    assert not Update.objects.exists()

    services.incident_assign_role(actor=ic, incident_id=incident.pk, role=Role.COMMS_LEAD, user=csm)
    assert api(csm).post(url, {"channel": channel}, format="json").status_code == 201
    assert api(ic).post(url, {"channel": channel}, format="json").status_code == 201


def test_an_sre_lead_may_post_publicly(ic, sre_lead, api, frozen):
    incident = make_incident(ic)
    response = api(sre_lead).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "status_page"}, format="json"
    )
    assert response.status_code == 201


def test_viewers_post_nothing(ic, viewer, api, frozen):
    incident = make_incident(ic)
    response = api(viewer).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "internal"}, format="json"
    )
    assert response.status_code == 403


# --- security incidents --------------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["status_page", "customer_email"])
def test_security_incidents_never_go_public(security_user, api, frozen, channel):
    incident = declare(actor=security_user, severity="P1", security=True)
    services.incident_assign_role(
        actor=security_user,
        incident_id=incident.pk,
        role=Role.INCIDENT_COMMANDER,
        user=UserFactory(rank="engineering_manager", groups=["security"]),
    )
    response = api(security_user).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": channel}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["rule"] == (
        "Security incidents: never on the status page or in customer email"
    )
    assert not Update.objects.exists()
    internal = api(security_user).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "internal"}, format="json"
    )
    assert internal.status_code == 201


def test_security_incident_updates_are_hidden_from_others(security_user, responder, api, frozen):
    incident = declare(actor=security_user, severity="P2", security=True)
    update_post(actor=security_user, incident_id=incident.pk, channel="internal")
    for path in ("updates/", "updates/draft/", "conformance/"):
        assert api(responder).get(f"/api/v1/incidents/{incident.pk}/{path}").status_code == 404


def test_anonymous_calls_are_refused(ic, api, frozen):
    incident = make_incident(ic)
    assert api().get(f"/api/v1/incidents/{incident.pk}/updates/").status_code in (401, 403)
    response = api().post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "internal"}, format="json"
    )
    assert response.status_code in (401, 403)
