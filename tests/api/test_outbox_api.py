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
from tests.factories import UserFactory
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
