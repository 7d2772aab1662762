"""A security incident keeps the public communication duties of 2.1 ("Status page update within
10 minutes", "Customer communication within 15 minutes" for an active breach, a P1) while its
details stay restricted: the security group sets and approves a public title and text, and the
status page, its feeds, its subscribers and customer email say those words and nothing else.
Until they are approved the deadlines run, remind and miss like any other, and a post is
refused with what is missing."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.core import mail
from django.core.cache import cache

from comms.models import CommsObligation, Customer, CustomerContact, Delivery, Subscriber, Update
from comms.render import PUBLIC_WORDS_RULE
from comms.services import update_post
from comms.status.caching import status_version_forget
from incidents import services
from incidents.errors import RuleViolation
from incidents.models import Incident, Service, TimelineEvent
from incidents.services.timers import deadlines_fire_due
from incidents.states import Role, TimelineKind
from tests.comms.test_cadence import T0, at
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

INTERNAL_TITLE = "Kestrel token signing key exfiltrated from auth-db"
DESCRIPTION = "Attacker pivoted through the legacy SSO bridge"
SYMPTOMS = "forged session cookies"
PUBLIC_TITLE = "Sign-in disruption"
PUBLIC_TEXT = "We are investigating a problem that may affect signing in to TenSafe."
PUBLIC_URLS = ["/status/", "/status/summary.json", "/status/feed.atom", "/status/feed.rss"]
# Nothing of these may reach a public path: the internal title, its words and the details.
# (The status page lists every service as a component; mail names no affected service.)
SECRETS = (INTERNAL_TITLE, "Kestrel", "exfiltrated", DESCRIPTION, SYMPTOMS)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def _fresh_status_cache(settings):
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0
    cache.clear()
    status_version_forget()


@pytest.fixture
def people(db):
    """The IC of the breach (in the security group), two more security members, a responder
    holding the Communications Lead role, and outsiders: a responder and an SRE lead who are
    not in the security group."""
    return {
        "ic": UserFactory(
            username="ivy-ic", rank="engineering_manager", groups=["incident_commander", "security"]
        ),
        "lead": UserFactory(username="sam-seclead", rank="security_lead", groups=["security"]),
        "sec": UserFactory(username="sec-two", groups=["security"]),
        "comms": UserFactory(
            username="cora-csm", rank="customer_success_manager", groups=["responder"]
        ),
        "outsider": UserFactory(username="otto-outsider", groups=["responder"]),
        "sre": UserFactory(username="sid-sre", groups=["sre_lead"], is_staff=True),
    }


@pytest.fixture
def auth(db):
    return Service.objects.get(slug="authentication")


@pytest.fixture
def breach(people, auth, clock):
    """A P1 security incident on the Authentication service, its IC and Comms Lead assigned."""
    incident = declare(
        actor=people["ic"],
        severity="P1",
        security=True,
        title=INTERNAL_TITLE,
        description=DESCRIPTION,
        symptoms=SYMPTOMS,
        services=[auth],
    )
    for role, user in ((Role.INCIDENT_COMMANDER, "ic"), (Role.COMMS_LEAD, "comms")):
        services.incident_assign_role(
            actor=people["ic"], incident_id=incident.pk, role=role, user=people[user]
        )
    return incident


def approve(incident, user, title=PUBLIC_TITLE, text=PUBLIC_TEXT) -> Incident:
    return services.incident_public_text_approve(
        actor=user, incident_id=incident.pk, public_title=title, public_text=text
    )


def pending(incident) -> dict[str, datetime]:
    return {
        o.channel: o.due_at
        for o in CommsObligation.objects.filter(incident=incident, status="pending")
    }


def public_bodies(client) -> dict[str, str]:
    out = {}
    for url in PUBLIC_URLS:
        response = client.get(url)
        assert response.status_code == 200, url
        out[url] = response.content.decode()
    return out


def assert_no_secrets(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (where, secret)


# --- the deadlines of 2.1 / 6.3 hold for a security incident ------------------------------------
def test_a_p1_security_incident_owes_the_status_page_in_10_and_customers_in_15(breach):
    assert pending(breach) == {
        "status_page": at(10),
        "customer_email": at(15),
        "internal": at(15),
    }


def test_until_approved_the_deadline_reminds_and_misses_like_any_other(breach, people, clock):
    clock.move_to(at(5), tick=False)
    deadlines_fire_due(now=at(5))
    (reminder,) = TimelineEvent.objects.filter(
        incident=breach, kind=TimelineKind.COMMS_REMINDER, data__channel="status_page"
    )
    assert reminder.text.startswith("Status page update (within 10 minutes of detection) due at")
    assert "the security group must approve its public title and text first" in reminder.text
    assert "paged cora-csm" in reminder.text

    clock.move_to(at(10), tick=False)
    deadlines_fire_due(now=at(10))
    missed = CommsObligation.objects.get(incident=breach, channel="status_page", sequence=1)
    assert missed.status == "missed"
    assert TimelineEvent.objects.filter(
        incident=breach, kind=TimelineKind.COMMS_MISSED, data__channel="status_page"
    ).exists()


@pytest.mark.parametrize("channel", ["status_page", "customer_email"])
def test_until_approved_a_public_post_is_refused_saying_what_is_missing(
    breach, people, api, channel
):
    response = api(people["comms"]).post(
        f"/api/v1/incidents/{breach.pk}/updates/", {"channel": channel}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["rule"] == PUBLIC_WORDS_RULE
    assert "public title and text approved by the security group" in body["detail"]
    assert "none is approved yet" in body["detail"]
    assert f"/api/v1/incidents/{breach.pk}/public-text/" in body["detail"]
    assert not Update.objects.exists()
    draft = api(people["comms"]).get(
        f"/api/v1/incidents/{breach.pk}/updates/draft/?channel={channel}"
    )
    assert draft.status_code == 400 and draft.json()["rule"] == PUBLIC_WORDS_RULE


# --- approving ------------------------------------------------------------------------------------
def test_the_security_lead_approves_through_the_api_and_it_is_on_the_timeline(breach, people, api):
    response = api(people["lead"]).post(
        f"/api/v1/incidents/{breach.pk}/public-text/",
        {"public_title": f"  {PUBLIC_TITLE} ", "public_text": PUBLIC_TEXT},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["public_title"], body["public_text"]) == (PUBLIC_TITLE, PUBLIC_TEXT)
    assert body["public_approved_by"] == "sam-seclead" and body["public_approved_at"]
    (event,) = TimelineEvent.objects.filter(incident=breach, kind=TimelineKind.PUBLIC_TEXT_APPROVED)
    assert event.actor == people["lead"]
    assert event.data == {
        "public_title": PUBLIC_TITLE,
        "public_text": PUBLIC_TEXT,
        "replaces": None,
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"public_title": " ", "public_text": PUBLIC_TEXT}, "public_title"),
        ({"public_title": PUBLIC_TITLE, "public_text": "  "}, "public_text"),
        ({"public_title": PUBLIC_TITLE}, "public_text"),
    ],
)
def test_blank_public_words_are_refused_and_change_nothing(breach, people, api, payload, field):
    response = api(people["lead"]).post(
        f"/api/v1/incidents/{breach.pk}/public-text/", payload, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    breach.refresh_from_db()
    assert breach.public_approved_at is None and breach.public_title == ""


def test_an_ordinary_incident_has_no_separate_public_words(people, api, clock):
    ordinary = declare(actor=people["ic"], severity="P2")
    response = api(people["lead"]).post(
        f"/api/v1/incidents/{ordinary.pk}/public-text/",
        {"public_title": PUBLIC_TITLE, "public_text": PUBLIC_TEXT},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["rule"] == "public title and text: security incidents only"


def test_outside_the_security_group_nobody_approves(breach, people, api):
    """The Comms Lead sees the incident (a role) but may not approve: 403. A responder and an
    SRE lead outside the security group do not see it at all: 404, as for a missing id."""
    url = f"/api/v1/incidents/{breach.pk}/public-text/"
    payload = {"public_title": "Nothing to see", "public_text": "All fine."}
    assert api(people["comms"]).post(url, payload, format="json").status_code == 403
    assert api(people["outsider"]).post(url, payload, format="json").status_code == 404
    assert api(people["sre"]).post(url, payload, format="json").status_code == 404
    breach.refresh_from_db()
    assert breach.public_approved_at is None and breach.public_title == ""
    assert not TimelineEvent.objects.filter(kind=TimelineKind.PUBLIC_TEXT_APPROVED).exists()


def test_a_forged_dashboard_post_from_outside_the_security_group_changes_nothing(
    breach, people, client
):
    url = f"/incidents/{breach.pk}/public-text/"
    payload = {"public_title": "Nothing to see", "public_text": "All fine."}
    client.force_login(people["comms"])
    page = client.get(f"/incidents/{breach.pk}/").content.decode()
    assert 'action="' + url + '"' not in page  # no form for them
    assert client.post(url, payload).status_code == 403
    for outsider in ("outsider", "sre"):
        client.force_login(people[outsider])
        assert client.post(url, payload).status_code == 404
    breach.refresh_from_db()
    assert breach.public_approved_at is None


def test_a_security_member_approves_on_the_incident_page(breach, people, client):
    client.force_login(people["sec"])
    page = client.get(f"/incidents/{breach.pk}/").content.decode()
    assert f'action="/incidents/{breach.pk}/public-text/"' in page
    assert "Not approved yet" in page
    response = client.post(
        f"/incidents/{breach.pk}/public-text/",
        {"public_title": PUBLIC_TITLE, "public_text": PUBLIC_TEXT},
    )
    assert response.status_code == 302
    breach.refresh_from_db()
    assert (breach.public_title, breach.public_approved_by) == (PUBLIC_TITLE, people["sec"])
    empty = client.post(
        f"/incidents/{breach.pk}/public-text/", {"public_title": "", "public_text": "x"}
    )
    assert empty.status_code == 400


def test_approving_the_same_words_again_changes_nothing(breach, people):
    approve(breach, people["lead"])
    approve(breach, people["sec"])
    breach.refresh_from_db()
    assert breach.public_approved_by == people["lead"]
    assert TimelineEvent.objects.filter(kind=TimelineKind.PUBLIC_TEXT_APPROVED).count() == 1
    approve(breach, people["sec"], text="We have found the cause and are fixing it.")
    breach.refresh_from_db()
    assert breach.public_approved_by == people["sec"]
    latest = TimelineEvent.objects.filter(kind=TimelineKind.PUBLIC_TEXT_APPROVED).last()
    assert latest.data["replaces"] == {"public_title": PUBLIC_TITLE, "public_text": PUBLIC_TEXT}


# --- once approved: the public paths say the public words and nothing else ---------------
def test_status_page_feeds_and_json_show_only_the_public_words(breach, people, client, api):
    approve(breach, people["lead"])
    response = api(people["comms"]).post(
        f"/api/v1/incidents/{breach.pk}/updates/", {"channel": "status_page"}, format="json"
    )
    assert response.status_code == 201, response.json()
    update = Update.objects.get()
    assert update.subject == f"{PUBLIC_TITLE} - Investigating"
    assert PUBLIC_TEXT in update.text
    assert_no_secrets(update.text, "update")
    # The deadline of 2.1 is met by it.
    first = CommsObligation.objects.get(incident=breach, channel="status_page", sequence=1)
    assert first.status == "met"

    bodies = public_bodies(client)
    for url, body in bodies.items():
        assert PUBLIC_TITLE in body, url
        assert_no_secrets(body, url)
    [shown] = client.get("/status/summary.json").json()["incidents"]
    assert shown["title"] == PUBLIC_TITLE and shown["components"] == []
    components = {
        c["id"]: c["status"] for c in client.get("/status/summary.json").json()["components"]
    }
    assert components["authentication"] == "operational"  # which service is not said
    assert client.get("/status/summary.json").json()["status"]["indicator"] == "major_outage"


def test_a_responder_without_access_learns_no_internal_title_from_the_public_paths(
    breach, people, client, api
):
    approve(breach, people["lead"])
    update_post(actor=people["comms"], incident_id=breach.pk, channel="status_page")
    client.force_login(people["outsider"])
    for url in PUBLIC_URLS:
        assert_no_secrets(client.get(url).content.decode(), url)
    for path in ("", "updates/", "updates/draft/?channel=status_page", "conformance/"):
        response = api(people["outsider"]).get(f"/api/v1/incidents/{breach.pk}/{path}")
        assert response.status_code == 404, path
        assert_no_secrets(response.content.decode(), path)
    page = client.get(f"/incidents/{breach.pk}/comms/draft/?channel=status_page")
    assert page.status_code == 404


def test_subscribers_are_mailed_the_public_words_only(
    breach, people, eager_tasks, django_capture_on_commit_callbacks
):
    Subscriber.objects.create(
        email="reader@example.com",
        status=Subscriber.Status.CONFIRMED,
        created_at=T0,
        confirmed_at=T0,
    )
    approve(breach, people["lead"])
    with django_capture_on_commit_callbacks(execute=True):
        update_post(actor=people["comms"], incident_id=breach.pk, channel="status_page")
    (message,) = mail.outbox
    assert message.subject == f"[TenSafe status] {PUBLIC_TITLE}: Investigating"
    assert PUBLIC_TEXT in message.body
    assert "Affects:" not in message.body and "Authentication" not in message.body
    assert_no_secrets(message.subject + message.body, "subscriber mail")


def test_customer_email_says_the_public_words_only(
    breach, people, auth, eager_tasks, django_capture_on_commit_callbacks
):
    customer = Customer.objects.create(name="Acme Corp")
    customer.services.set([auth])
    CustomerContact.objects.create(customer=customer, email="ops@acme.test")
    approve(breach, people["lead"])
    with django_capture_on_commit_callbacks(execute=True):
        update_post(actor=people["comms"], incident_id=breach.pk, channel="customer_email")
    (message,) = mail.outbox
    assert message.to == ["ops@acme.test"]
    assert message.subject == f"TenSafe Service Incident - {PUBLIC_TITLE}"
    assert message.body.startswith("Dear Acme Corp,\n")
    assert PUBLIC_TEXT in message.body and "security incident" in message.body
    assert "Authentication" not in message.body
    assert_no_secrets(message.subject + message.body, "customer email")
    assert_no_secrets(Delivery.objects.get().body, "delivery row")
    first = CommsObligation.objects.get(incident=breach, channel="customer_email", sequence=1)
    assert first.status == "met"


def test_text_of_ones_own_is_refused_for_a_security_incidents_public_post(breach, people, api):
    approve(breach, people["lead"])
    response = api(people["comms"]).post(
        f"/api/v1/incidents/{breach.pk}/updates/",
        {"channel": "status_page", "text": f"{INTERNAL_TITLE}: rotating keys"},
        format="json",
    )
    assert response.status_code == 400
    assert "text" in response.json() and response.json()["rule"] == PUBLIC_WORDS_RULE
    assert not Update.objects.exists()
    internal = api(people["comms"]).post(
        f"/api/v1/incidents/{breach.pk}/updates/",
        {"channel": "internal", "text": "Rotating the signing keys now."},
        format="json",
    )
    assert internal.status_code == 201


def test_the_dashboard_composer_offers_public_channels_only_once_approved(breach, people, client):
    client.force_login(people["comms"])
    page = client.get(f"/incidents/{breach.pk}/").content.decode()
    assert 'value="status_page"' not in page
    assert "none is approved yet" in page
    approve(breach, people["lead"])
    draft = client.get(f"/incidents/{breach.pk}/comms/draft/?channel=status_page").content.decode()
    assert PUBLIC_TEXT in draft and "readonly" in draft and 'name="text"' not in draft
    assert_no_secrets(draft, "draft")
    posted = client.post(
        f"/incidents/{breach.pk}/comms/", {"channel": "status_page", "template": "investigating"}
    )
    assert posted.status_code == 302
    assert Update.objects.get().subject == f"{PUBLIC_TITLE} - Investigating"
    forged = client.post(
        f"/incidents/{breach.pk}/comms/",
        {"channel": "status_page", "template": "investigating", "text": INTERNAL_TITLE},
    )
    assert forged.status_code == 400
    assert Update.objects.count() == 1


def test_becoming_a_security_incident_again_withdraws_the_approval(breach, people):
    approve(breach, people["lead"])
    services.incident_security_set(
        actor=people["lead"], incident_id=breach.pk, security=False, reason="false alarm"
    )
    services.incident_security_set(
        actor=people["lead"], incident_id=breach.pk, security=True, reason="it was real"
    )
    breach.refresh_from_db()
    assert breach.public_approved_at is None and breach.public_title == PUBLIC_TITLE
    with pytest.raises(RuleViolation):
        update_post(actor=people["comms"], incident_id=breach.pk, channel="status_page")


def test_a_restricted_incident_that_lost_its_public_words_sends_no_subscriber_mail(
    breach, people, django_capture_on_commit_callbacks
):
    """A subscriber delivery still waiting when the incident became restricted again is
    cancelled, not sent (not even in redacted form: an outside address)."""
    from comms.models import SubscriberDelivery
    from incidents.outbox import outbox_deliver

    Subscriber.objects.create(
        email="reader@example.com", status="confirmed", created_at=T0, confirmed_at=T0
    )
    approve(breach, people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        update_post(actor=people["comms"], incident_id=breach.pk, channel="status_page")
    services.incident_security_set(
        actor=people["lead"], incident_id=breach.pk, security=False, reason="false alarm"
    )
    services.incident_security_set(
        actor=people["lead"], incident_id=breach.pk, security=True, reason="it was real"
    )
    delivery = SubscriberDelivery.objects.get()
    outbox_deliver("status-subscriber", delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "cancelled" and mail.outbox == []
    assert re.search("restricted", delivery.last_error)
