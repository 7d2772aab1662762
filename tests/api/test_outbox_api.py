"""The outbox for SRE leads (GET /api/v1/outbox/, POST …/{kind}/{id}/retry/ and /give-up/):
one list of every kind's deliveries, filtered by kind, status and incident; retry-now and
give-up, audited; nobody else gets in, and nobody sees a row about an incident hidden from
them."""

from __future__ import annotations

import pytest
from django.core import mail

from comms import subscribers
from incidents.models import AuditEvent
from pir import digests
from tests.factories import UserFactory, declare
from tests.test_outbox import HIDDEN_KEY, outbox_rows

pytestmark = pytest.mark.django_db


def outbox_audit():
    return AuditEvent.objects.filter(action__startswith="outbox.")


@pytest.fixture
def rows(no_hand_offs):
    return outbox_rows()


def test_sre_leads_list_every_kind_and_filter(api, sre_lead, rows):
    client = api(sre_lead)
    body = client.get("/api/v1/outbox/").json()
    listed = {(r["kind"], r["id"]) for r in body["results"]}
    assert listed == {
        (subscribers.KIND, rows["delivery"].pk),
        (digests.KIND, rows["digest"].pk),
    }, "the row about the restricted incident is not listed"
    by_kind = client.get("/api/v1/outbox/", {"kind": digests.KIND}).json()["results"]
    assert [(r["id"], r["status"], r["incident"]) for r in by_kind] == [
        (rows["digest"].pk, "failed", None)
    ]
    failed = client.get("/api/v1/outbox/", {"status": "failed"}).json()["results"]
    assert [r["kind"] for r in failed] == [digests.KIND]
    about = client.get("/api/v1/outbox/", {"incident": rows["normal"].pk}).json()["results"]
    assert [(r["kind"], r["incident"]) for r in about] == [(subscribers.KIND, rows["normal"].pk)]
    assert client.get("/api/v1/outbox/", {"incident": rows["secret"].pk}).status_code == 404
    assert client.get("/api/v1/outbox/", {"kind": "carrier-pigeon"}).status_code == 400
    assert client.get("/api/v1/outbox/", {"status": "lost"}).status_code == 400


def test_a_bad_filter_is_a_400_naming_the_value_and_a_hidden_incident_404(api, sre_lead, rows):
    client = api(sre_lead)
    kind = client.get("/api/v1/outbox/", {"kind": "carrier-pigeon"})
    assert kind.status_code == 400 and kind.json()["rule"] == "kind"
    assert kind.json()["kind"] == [kind.json()["detail"]]
    assert "'carrier-pigeon'" in kind.json()["detail"] and digests.KIND in kind.json()["detail"]
    state = client.get("/api/v1/outbox/", {"status": "lost"})
    assert state.status_code == 400 and "'lost'" in state.json()["detail"]
    assert "pending" in state.json()["detail"]
    assert client.get("/api/v1/outbox/", {"incident": "INC-1"}).status_code == 400
    assert client.get("/api/v1/outbox/", {"incident": rows["secret"].pk}).status_code == 404
    assert client.get("/api/v1/outbox/", {"page_size": "0"}).status_code == 400


def test_the_security_group_sees_the_restricted_row(api, rows):
    security_lead = UserFactory(groups=["sre_lead", "security"])
    results = api(security_lead).get("/api/v1/outbox/").json()["results"]
    assert HIDDEN_KEY in {r["idempotency_key"] for r in results}


@pytest.mark.parametrize("groups", [[], ["viewer"], ["responder"], ["incident_commander"]])
def test_nobody_but_sre_leads_gets_in(api, rows, groups):
    client = api(UserFactory(groups=groups))
    assert client.get("/api/v1/outbox/").status_code == 403
    for action in ("retry", "give-up"):
        url = f"/api/v1/outbox/{digests.KIND}/{rows['digest'].pk}/{action}/"
        assert client.post(url).status_code == 403
    rows["digest"].refresh_from_db()
    assert rows["digest"].status == "failed" and not outbox_audit().exists()
    assert api(None).get("/api/v1/outbox/").status_code == 401


def test_retry_now_sends_a_failed_digest_again_and_is_audited(
    api, sre_lead, rows, no_hand_offs, django_capture_on_commit_callbacks
):
    row = rows["digest"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(sre_lead).post(f"/api/v1/outbox/{digests.KIND}/{row.pk}/retry/")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    assert no_hand_offs == [(digests.KIND, row.pk)]
    event = outbox_audit().get()
    assert (event.action, event.actor, event.target_id) == ("outbox.retried", sre_lead, str(row.pk))
    assert event.details == {"kind": digests.KIND, "key": row.idempotency_key, "was": "failed"}
    from incidents.outbox import outbox_deliver

    assert outbox_deliver(digests.KIND, row.pk) == "sent" and len(mail.outbox) == 1


def test_give_up_stops_a_waiting_delivery_and_is_audited(api, sre_lead, rows):
    row = rows["delivery"]
    client = api(sre_lead)
    response = client.post(f"/api/v1/outbox/{subscribers.KIND}/{row.pk}/give-up/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["incident"] == rows["normal"].pk
    assert f"Given up by {sre_lead.username}" in response.json()["last_error"]
    assert outbox_audit().get().action == "outbox.given_up"
    # Settled: giving up again, or giving up a failed row, is refused and changes nothing.
    again = client.post(f"/api/v1/outbox/{subscribers.KIND}/{row.pk}/give-up/")
    assert again.status_code == 409 and again.json()["allowed"] == ["pending"]
    refused = client.post(f"/api/v1/outbox/{digests.KIND}/{rows['digest'].pk}/give-up/")
    assert refused.status_code == 409
    assert outbox_audit().count() == 1


def test_rows_hidden_from_the_lead_and_unknown_kinds_are_404(api, sre_lead, rows):
    hidden = rows["hidden"]
    client = api(sre_lead)
    assert client.post(f"/api/v1/outbox/{subscribers.KIND}/{hidden.pk}/retry/").status_code == 404
    assert client.post(f"/api/v1/outbox/carrier-pigeon/{hidden.pk}/retry/").status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == "pending" and not outbox_audit().exists()


def test_the_admin_lists_offer_the_same_two_actions(client, sre_lead, rows, no_hand_offs):
    """The admin's list of each kind's rows: retry-now and give-up through the same services,
    audited; an SRE lead's only."""
    client.force_login(sre_lead)
    url = "/admin/pir/actiondigestdelivery/"
    row = rows["digest"]
    response = client.post(
        url, {"action": "outbox_retry_now", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 delivery(ies) handed to the workers again" in response.content.decode()
    row.refresh_from_db()
    assert row.status == "pending" and outbox_audit().get().action == "outbox.retried"

    response = client.post(url, {"action": "outbox_give_up", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == "cancelled" and outbox_audit().count() == 2
    row.status = "pending"
    row.save(update_fields=["status"])

    staff = UserFactory(groups=["incident_commander"], is_staff=True)
    client.force_login(staff)
    client.post(url, {"action": "outbox_give_up", "_selected_action": [row.pk]}, follow=True)
    row.refresh_from_db()
    assert row.status == "pending" and outbox_audit().count() == 2


# --- outgoing webhooks: a kind like the others -------------------------------------------------
@pytest.fixture
def webhook_rows(no_hand_offs, ic_user, security_user, http_target):
    """Deliveries of one subscription allowed restricted incidents: one about a normal
    incident, one about a restricted (security) incident."""
    from integrations.models import WebhookDelivery, WebhookSubscription
    from tests.factories import declare

    WebhookSubscription.objects.create(
        name="siem", url=http_target.url, events=["declared"], allow_restricted=True
    )
    normal = declare(actor=ic_user, title="Queue backlog")
    secret = declare(actor=security_user, security=True, title="Quartzite exfiltration")
    return {
        "normal": normal,
        "secret": secret,
        "visible": WebhookDelivery.objects.get(incident=normal),
        "hidden": WebhookDelivery.objects.get(incident=secret),
    }


def test_outgoing_webhook_deliveries_are_listed_filtered_and_hidden_like_every_kind(
    api, sre_lead, webhook_rows
):
    from integrations.services.outgoing import KIND

    client = api(sre_lead)
    visible, hidden = webhook_rows["visible"], webhook_rows["hidden"]
    listed = client.get("/api/v1/outbox/", {"kind": KIND}).json()["results"]
    assert [(r["id"], r["status"], r["incident"]) for r in listed] == [
        (visible.pk, "pending", webhook_rows["normal"].pk)
    ], "the delivery about the restricted incident is not listed to a lead outside security"
    about = client.get("/api/v1/outbox/", {"incident": webhook_rows["normal"].pk}).json()
    assert [(r["kind"], r["id"]) for r in about["results"]] == [(KIND, visible.pk)]
    assert client.get("/api/v1/outbox/", {"incident": webhook_rows["secret"].pk}).status_code == 404
    held = client.get("/api/v1/outbox/", {"kind": KIND, "status": "held"})
    assert held.status_code == 200 and held.json()["results"] == []
    # Nor can the lead act on it.
    assert client.post(f"/api/v1/outbox/{KIND}/{hidden.pk}/give-up/").status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == "pending" and not outbox_audit().exists()

    security_lead = UserFactory(groups=["sre_lead", "security"])
    seen = api(security_lead).get("/api/v1/outbox/", {"kind": KIND}).json()["results"]
    assert {r["id"] for r in seen} == {visible.pk, hidden.pk}
    about = api(security_lead).get("/api/v1/outbox/", {"incident": webhook_rows["secret"].pk})
    assert [r["id"] for r in about.json()["results"]] == [hidden.pk]


def test_giving_up_a_webhook_delivery_lets_the_next_of_its_incident_go(
    api, sre_lead, ic_user, webhook_rows, no_hand_offs, http_target, allow_local
):
    """The ordering key (subscription, incident): the later event waits for the earlier one,
    until an SRE lead gives that one up; the outbox then sends the later one."""
    from incidents import services
    from incidents.outbox import outbox_deliver
    from integrations.models import WebhookDelivery, WebhookSubscription
    from integrations.services.outgoing import KIND

    WebhookSubscription.objects.update(events=["declared", "status_changed"])
    incident = webhook_rows["normal"]
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to="identified")
    first, second = WebhookDelivery.objects.filter(incident=incident).order_by("id")
    assert outbox_deliver(KIND, second.pk) == "waiting"
    response = api(sre_lead).post(f"/api/v1/outbox/{KIND}/{first.pk}/give-up/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert outbox_deliver(KIND, second.pk) == "sent"
    assert [r.json()["event"] for r in http_target.received] == ["incident.status_changed"]
    refused = api(sre_lead).post(f"/api/v1/outbox/{KIND}/{second.pk}/retry/")
    assert refused.status_code == 409, "a sent delivery is not sent again"


# --- pages: a kind like the others ---------------------------------------------------------------
PAGER_URL = "https://hooks.pager.example/services/T0/B0/restricted-page-credential"
BOB = "bob@pager.test"


def _page(incident, recipient, key, **fields):
    from django.utils import timezone

    from incidents.models import Page

    now = timezone.now()
    defaults = {
        "rule_key": "manual:test",
        "channel": "email",
        "target": BOB,
        "subject": f"[{incident.severity}] {incident.reference}",
        "body": "Why you are paged: test",
        "next_attempt_at": now,
        "created_at": now,
    }
    return Page.objects.create(
        incident=incident, recipient=recipient, idempotency_key=key, **{**defaults, **fields}
    )


@pytest.fixture
def page_rows(no_hand_offs, ic_user, security_user):
    """A page that failed about a normal incident (its last error quotes the address, as an
    SMTP refusal does), one waiting about it, and a webhook page about a restricted (security)
    incident."""
    bob = UserFactory(username="bob-pager", email=BOB)
    normal = declare(actor=ic_user, title="Queue backlog")
    secret = declare(actor=security_user, security=True, title="Quartzite exfiltration")
    failed = _page(
        normal,
        bob,
        "page-failed",
        status="failed",
        attempts=6,
        response_code=550,
        last_error=f"email failed: SMTPRecipientsRefused: {{'{BOB}': (550, b'no such user')}}",
    )
    waiting = _page(normal, bob, "page-waiting")
    hidden = _page(
        secret, bob, "page-hidden", channel="webhook", target=PAGER_URL, secret="hmac-s3cret"
    )
    return {
        "normal": normal,
        "secret": secret,
        "failed": failed,
        "waiting": waiting,
        "hidden": hidden,
    }


def test_pages_are_listed_filtered_and_hidden_like_every_kind(api, sre_lead, page_rows):
    from incidents.services.paging import KIND

    client = api(sre_lead)
    failed, waiting, hidden = page_rows["failed"], page_rows["waiting"], page_rows["hidden"]
    response = client.get("/api/v1/outbox/", {"kind": KIND})
    listed = response.json()["results"]
    assert sorted((r["id"], r["status"], r["incident"]) for r in listed) == sorted(
        [
            (failed.pk, "failed", page_rows["normal"].pk),
            (waiting.pk, "pending", page_rows["normal"].pk),
        ]
    ), "the page about the restricted incident is not listed to a lead outside security"
    everything = client.get("/api/v1/outbox/").json()["results"]
    assert {(r["kind"], r["id"]) for r in everything} >= {(KIND, failed.pk), (KIND, waiting.pk)}
    assert (
        client.get("/api/v1/outbox/", {"kind": KIND, "status": "failed"}).json()["results"][0]["id"]
        == failed.pk
    )
    about = client.get("/api/v1/outbox/", {"incident": page_rows["normal"].pk}).json()["results"]
    assert {(r["kind"], r["id"]) for r in about} == {(KIND, failed.pk), (KIND, waiting.pk)}
    assert client.get("/api/v1/outbox/", {"incident": page_rows["secret"].pk}).status_code == 404
    # The hidden page leaves no trace: not its key, its target (a credential) or its secret.
    for body in (response, client.get("/api/v1/outbox/")):
        content = body.content.decode()
        for trace in (
            "page-hidden",
            "restricted-page-credential",
            "hooks.pager.example",
            "hmac-s3cret",
        ):
            assert trace not in content
    # Nor can the lead act on it.
    for action in ("retry", "give-up"):
        assert client.post(f"/api/v1/outbox/{KIND}/{hidden.pk}/{action}/").status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == "pending" and not outbox_audit().exists()

    security_lead = UserFactory(groups=["sre_lead", "security"])
    seen = api(security_lead).get("/api/v1/outbox/", {"kind": KIND}).json()["results"]
    assert {r["id"] for r in seen} == {failed.pk, waiting.pk, hidden.pk}
    about = api(security_lead).get("/api/v1/outbox/", {"incident": page_rows["secret"].pk})
    assert [r["id"] for r in about.json()["results"]] == [hidden.pk]
    assert "restricted-page-credential" not in about.content.decode(), "no target column"


def test_a_page_row_shows_its_target_no_more_than_the_pages_list_does(api, sre_lead, page_rows):
    """The outbox has no target column; the target reaches it only quoted in `last_error`,
    which an SRE lead reads exactly as the incident's pages list shows it to them (SRE leads
    see contact targets in full: docs/api.md). Nobody else gets into the outbox at all."""
    from incidents.services.paging import KIND

    failed = page_rows["failed"]
    row = api(sre_lead).get("/api/v1/outbox/", {"kind": KIND, "status": "failed"}).json()
    (row,) = row["results"]
    assert not {"target", "secret", "body", "subject", "payload"} & set(row)
    pages = api(sre_lead).get(f"/api/v1/incidents/{page_rows['normal'].pk}/pages/").json()
    (listed,) = [p for p in pages if p["id"] == failed.pk]
    assert row["last_error"] == listed["last_error"] == failed.last_error
    viewer = UserFactory(groups=["viewer"])
    assert api(viewer).get("/api/v1/outbox/", {"kind": KIND}).status_code == 403
    masked = api(viewer).get(f"/api/v1/incidents/{page_rows['normal'].pk}/pages/").json()
    assert BOB not in str(masked), "everyone else reads it masked, as before"


def test_a_failed_page_is_sent_again_and_a_waiting_one_given_up(
    api, sre_lead, page_rows, no_hand_offs, django_capture_on_commit_callbacks
):
    from incidents.outbox import outbox_deliver
    from incidents.services.paging import KIND

    client = api(sre_lead)
    failed, waiting = page_rows["failed"], page_rows["waiting"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/outbox/{KIND}/{failed.pk}/retry/")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    assert no_hand_offs == [(KIND, failed.pk)]
    assert outbox_deliver(KIND, failed.pk) == "sent"
    assert [m.to for m in mail.outbox] == [[BOB]]
    assert mail.outbox[0].extra_headers["X-TenSafe-Idempotency-Key"] == "page-failed"

    response = client.post(f"/api/v1/outbox/{KIND}/{waiting.pk}/give-up/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert outbox_deliver(KIND, waiting.pk) == "skipped", "a page given up is never sent"
    assert len(mail.outbox) == 1
    assert [e.action for e in outbox_audit().order_by("id")] == [
        "outbox.retried",
        "outbox.given_up",
    ]
    assert {e.details["kind"] for e in outbox_audit()} == {KIND}


def test_the_admin_list_of_pages_offers_the_two_actions(client, sre_lead, page_rows):
    client.force_login(sre_lead)
    waiting = page_rows["waiting"]
    response = client.post(
        "/admin/incidents/page/",
        {"action": "outbox_give_up", "_selected_action": [waiting.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 delivery(ies) given up" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == "cancelled" and outbox_audit().get().action == "outbox.given_up"
