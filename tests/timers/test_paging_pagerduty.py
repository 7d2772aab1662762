"""Paging through PagerDuty (5.3 "Backup on-call: PagerDuty"): a contact method of kind
`pagerduty` (the Events API's base URL, the service's integration key) turns each page into
one Events API v2 trigger, sent by PagerDuty's own client library (`pagerduty`) over the
platform's outbound client, to a PagerDuty fake on 127.0.0.1 that answers as PagerDuty does.

Second actor: PagerDuty deduplicating retried pages by dedup_key. Adversaries: a restricted
security incident (PagerDuty's readers are unknown: it gets the redacted page), a target on a
non-public address (refused, nothing sent), a wrong integration key (a final failure the IC
sees), and malformed contact methods (refused when entered, through the API and the model)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from incidents import services
from incidents.models import ContactMethod, Page, TimelineEvent
from incidents.outbox import outbox_deliver
from incidents.services import api_token_create
from incidents.services.paging import KIND as PAGE
from incidents.states import Status, TimelineKind
from tests.factories import UserFactory, declare, drive_to
from tests.pagerduty_fake import PagerDutyFake
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db

KEY = "R0UT1NGKEY0000000000000000000001"  # 32 letters and digits, as PagerDuty's are


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.PUBLIC_BASE_URL = "http://testserver-base"


@pytest.fixture
def pagerduty_api(tmp_path, settings):
    """PagerDuty on 127.0.0.1, over HTTPS with a certificate the platform is told to trust."""
    fake = PagerDutyFake(routing_keys={KEY}).start(tmp_path)
    settings.TENSAFE_OUTBOUND_CA_FILE = fake.ca_file
    yield fake
    fake.close()


@pytest.fixture
def paged(org, ic, gateway, frozen, sweep, pagerduty_api, allow_local):
    """paged(**incident fields) -> the page to alice (on call), whose only contact method is
    PagerDuty, for a P3 declared at T0."""
    ContactMethod.objects.create(
        user=org.primary, kind="pagerduty", target=pagerduty_api.url, secret=KEY
    )

    def make(severity="P3", **fields):
        incident = declare(actor=ic, severity=severity, services=gateway, **fields)
        sweep(T0)
        return Page.objects.filter(incident=incident, recipient=org.primary).first()

    return make


def test_a_page_is_one_pagerduty_trigger(paged, pagerduty_api):
    page = paged(title="Disk filling on db-3")
    assert (page.channel, page.target) == ("pagerduty", pagerduty_api.url)

    assert outbox_deliver(PAGE, page.pk) == "sent"

    (event,) = pagerduty_api.events
    incident = page.incident
    url = f"http://testserver-base/incidents/{incident.pk}/"
    assert event["routing_key"] == KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == page.idempotency_key
    assert event["payload"]["summary"] == page.subject
    assert "Disk filling on db-3" in event["payload"]["summary"]
    assert event["payload"]["severity"] == "warning"  # P3
    assert event["payload"]["source"] == "TenSafe IR"
    assert event["payload"]["component"] == f"INC-{incident.pk}"
    assert event["payload"]["custom_details"] == {"message": page.body}
    assert event["client_url"] == url
    assert event["links"][0]["href"] == url
    assert event["links"][1]["href"].startswith("http://testserver-base/ack/")
    page.refresh_from_db()
    assert (page.status, page.response_code, page.attempts) == ("sent", 202, 1)


@pytest.mark.parametrize(("severity", "expected"), [("P1", "critical"), ("P2", "error")])
def test_severity_maps_to_pagerduty_severity(paged, pagerduty_api, severity, expected):
    page = paged(severity=severity)
    assert outbox_deliver(PAGE, page.pk) == "sent"
    (event,) = pagerduty_api.events
    assert event["payload"]["severity"] == expected


def test_a_retried_page_stays_one_pagerduty_alert(paged, pagerduty_api, frozen):
    pagerduty_api.respond(500)
    page = paged()
    assert outbox_deliver(PAGE, page.pk) == "pending"
    page.refresh_from_db()
    assert (page.attempts, page.response_code, page.last_error) == (1, 500, "HTTP 500")
    assert page.next_attempt_at == T0 + timedelta(seconds=2)
    assert len(pagerduty_api.events) == 1, "the client library did not retry by itself"

    frozen.move_to(T0 + timedelta(seconds=2), tick=False)
    assert outbox_deliver(PAGE, page.pk) == "sent"
    assert len(pagerduty_api.events) == 2
    assert list(pagerduty_api.alerts) == [(KEY, page.idempotency_key)]


def test_429_waits_for_retry_after_in_the_outbox_not_the_worker(paged, pagerduty_api):
    pagerduty_api.respond(("429", 30))
    page = paged()
    assert outbox_deliver(PAGE, page.pk) == "pending"
    page.refresh_from_db()
    assert page.response_code == 429
    assert page.next_attempt_at == T0 + timedelta(seconds=30)
    assert len(pagerduty_api.events) == 1


def test_a_wrong_integration_key_is_a_final_failure_on_the_timeline(paged, pagerduty_api):
    page = paged()
    Page.objects.filter(pk=page.pk).update(secret="X" * 32)  # a key PagerDuty does not know

    assert outbox_deliver(PAGE, page.pk) == "failed"

    page.refresh_from_db()
    assert (page.status, page.response_code, page.attempts) == ("failed", 400, 1)
    assert pagerduty_api.alerts == {}
    (event,) = TimelineEvent.objects.filter(incident=page.incident, kind=TimelineKind.PAGE_FAILED)
    assert event.text == "Page to alice via pagerduty failed after 1 attempt(s): HTTP 400"


def test_a_restricted_incident_reaches_pagerduty_redacted(paged, pagerduty_api):
    page = paged(title="Credential stuffing on login", security=True)
    assert outbox_deliver(PAGE, page.pk) == "sent"
    (event,) = pagerduty_api.events
    sent = str(event)
    assert "Credential stuffing" not in sent
    assert event["payload"]["summary"] == f"Restricted security incident INC-{page.incident_id}"
    assert event["payload"]["severity"] == "critical"  # no severity is given away
    assert event["client_url"] == f"http://testserver-base/incidents/{page.incident_id}/"


def test_a_non_public_target_is_refused_and_nothing_is_sent(paged, pagerduty_api, settings):
    page = paged()
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []

    assert outbox_deliver(PAGE, page.pk) == "failed"

    page.refresh_from_db()
    assert "non-public address 127.0.0.1" in page.last_error
    assert pagerduty_api.events == []


def test_a_target_that_is_no_longer_https_fails_at_once(paged, pagerduty_api):
    """A row that no longer meets the contact method's rule (changed in the database since it
    was entered) is a final failure naming why, not an error retried eight times."""
    page = paged()
    Page.objects.filter(pk=page.pk).update(target=pagerduty_api.url.replace("https:", "http:"))
    assert outbox_deliver(PAGE, page.pk) == "failed"
    page.refresh_from_db()
    assert page.last_error == "PagerDuty: API base URL must use scheme https://"
    assert pagerduty_api.events == []


def test_acknowledging_and_resolving_here_tells_pagerduty(paged, pagerduty_api, ic, frozen):
    """PagerDuty goes on notifying the person (and escalating by its own policy) until it is
    told: the acknowledgement and the resolution follow each sent page's dedup_key."""
    page = paged(severity="P2")  # whose IC may be the declaring manager, to resolve it
    assert outbox_deliver(PAGE, page.pk) == "sent"

    services.incident_acknowledge(actor=ic, incident_id=page.incident_id)
    services.incident_acknowledge(actor=ic, incident_id=page.incident_id)  # the first stands
    (ack,) = Page.objects.filter(incident=page.incident, rule_key="pagerduty:acknowledge")
    assert outbox_deliver(PAGE, ack.pk) == "sent"
    assert pagerduty_api.events[-1] == {
        "event_action": "acknowledge",
        "dedup_key": page.idempotency_key,
        "routing_key": KEY,
    }

    drive_to(page.incident, Status.RESOLVED, actor=ic)  # waits out the stability window
    (resolve,) = Page.objects.filter(incident=page.incident, rule_key="pagerduty:resolve")
    frozen.move_to(resolve.next_attempt_at, tick=False)
    assert outbox_deliver(PAGE, resolve.pk) == "sent"
    assert pagerduty_api.events[-1]["event_action"] == "resolve"
    assert pagerduty_api.events[-1]["dedup_key"] == page.idempotency_key
    assert len(pagerduty_api.alerts) == 1  # one PagerDuty alert, triggered then closed


def test_a_page_never_sent_to_pagerduty_is_not_followed_up(paged, ic):
    page = paged()  # still pending: PagerDuty knows nothing of it
    services.incident_acknowledge(actor=ic, incident_id=page.incident_id)
    assert not Page.objects.filter(rule_key__startswith="pagerduty:").exists()


# --- entering a PagerDuty contact method --------------------------------------------------------
@pytest.fixture
def responder_api(client, fake_dns):
    fake_dns.answer("events.pagerduty.com", "93.184.215.14")  # public; saved, never called
    fake_dns.answer("events.eu.pagerduty.com", "93.184.215.15")
    user = UserFactory(username="rita", groups=["responder"])
    token = api_token_create(user=user, name="test")[1]

    def post(body):
        return client.post(
            "/api/v1/users/me/contact-methods/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )

    return user, post


def test_a_pagerduty_contact_method_is_entered_through_the_api(responder_api):
    user, post = responder_api
    response = post(
        {"kind": "pagerduty", "target": "https://events.eu.pagerduty.com", "secret": KEY}
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "pagerduty"
    assert "secret" not in response.json(), "the integration key is never shown again"
    method = ContactMethod.objects.get(user=user)
    assert (method.target, method.secret) == ("https://events.eu.pagerduty.com", KEY)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"target": "https://events.pagerduty.com"}, "secret", "integration key"),
        ({"target": "https://events.pagerduty.com", "secret": "short"}, "secret", "32 letters"),
        ({"target": "events.pagerduty.com", "secret": KEY}, "target", "https"),
        ({"target": "http://events.pagerduty.com", "secret": KEY}, "target", "https"),
        ({"target": "http://10.0.0.7", "secret": KEY}, "target", ""),
    ],
)
def test_a_wrong_pagerduty_contact_method_is_refused_naming_the_field(
    responder_api, body, field, words
):
    user, post = responder_api
    response = post({"kind": "pagerduty", **body})
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert words in str(response.json()[field])
    assert not ContactMethod.objects.filter(user=user).exists()


def test_the_model_refuses_a_pagerduty_contact_without_a_key(db):
    """What the admin's form runs (ModelForm validation calls the model's clean)."""
    user = UserFactory(username="sam")
    method = ContactMethod(user=user, kind="pagerduty", target="https://events.pagerduty.com")
    with pytest.raises(ValidationError) as refused:
        method.full_clean()
    assert "integration key" in str(refused.value.message_dict["secret"])
