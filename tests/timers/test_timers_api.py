"""The timers over HTTP: deadlines (filters, visibility of security incidents), how late they
fired (p50/p90/p99/max against the fired rows), and an incident's pages."""

from datetime import timedelta

import pytest

from incidents.models import Deadline
from tests.factories import declare
from tests.timers.conftest import T0

pytestmark = pytest.mark.django_db

DEADLINES = "/api/v1/deadlines/"
LATENESS = "/api/v1/deadlines/lateness/"


@pytest.fixture
def three(org, ic, gateway, frozen):
    """A P1 and a P3, and a security P2 that only the security group (and its declarer) see."""
    return {
        "p1": declare(actor=ic, severity="P1", services=gateway, title="Gateway down"),
        "p3": declare(actor=ic, severity="P3", services=gateway, title="Slow dashboards"),
        "sec": declare(
            actor=ic, severity="P2", services=gateway, title="Token leak", security=True
        ),
    }


def keys(response) -> list[tuple[int, str]]:
    return [(d["incident"], d["key"]) for d in response.json()["results"]]


def test_deadlines_list_soonest_first(api, viewer, three):
    response = api(viewer).get(DEADLINES)
    assert response.status_code == 200, response.content
    body = response.json()
    visible = Deadline.objects.filter(incident__in=[three["p1"], three["p3"]])
    assert body["count"] == visible.count() == 8  # P1: notice + 5 rules; P3: notice + over target
    dues = [d["due_at"] for d in body["results"]]
    assert dues == sorted(dues)
    first = body["results"][0]
    assert set(first) == {
        "id",
        "incident",
        "kind",
        "key",
        "due_at",
        "status",
        "fired_at",
        "lateness_ms",
        "data",
    }
    assert first["kind"] == "notify" and first["status"] == "pending" and first["fired_at"] is None


def test_deadlines_filter_by_incident_and_status(api, viewer, three, sweep):
    p1 = three["p1"]
    sweep(T0)
    sweep(T0 + timedelta(minutes=5))
    client = api(viewer)
    response = client.get(DEADLINES, {"incident": p1.pk})
    assert {i for i, _ in keys(response)} == {p1.pk}
    assert len(keys(response)) == 6
    fired = client.get(DEADLINES, {"incident": p1.pk, "status": "fired"}).json()["results"]
    assert sorted(d["data"].get("target", d["key"]) for d in fired) == [
        "backup_on_call",
        "notify:P1",
    ]
    assert all(d["lateness_ms"] == 0 and d["fired_at"] is not None for d in fired)
    pending = client.get(DEADLINES, {"incident": p1.pk, "status": "pending"}).json()["results"]
    assert [d["data"]["target"] for d in pending] == [
        "engineering_manager",
        "vp_engineering",
        "cto",
        "ic_manager",
    ]
    assert client.get(DEADLINES, {"status": "cancelled"}).json()["count"] == 0


def test_bad_status_filter_is_400(api, viewer, three):
    response = api(viewer).get(DEADLINES, {"status": "late"})
    assert response.status_code == 400
    assert response.json()["rule"] == "status"
    assert "pending, fired, cancelled" in response.json()["detail"]


def test_security_incident_deadlines_are_hidden_from_others(api, viewer, security_user, ic, three):
    sec = three["sec"]
    assert sec.pk not in {i for i, _ in keys(api(viewer).get(DEADLINES))}
    assert api(viewer).get(DEADLINES, {"incident": sec.pk}).status_code == 404
    for who in (security_user, ic):  # the security group, and whoever declared it
        response = api(who).get(DEADLINES, {"incident": sec.pk})
        assert response.status_code == 200
        assert ("notify:P2" in [k for _, k in keys(response)]) is True
    assert (
        api(security_user).get(DEADLINES).json()["count"] == 8 + 4
    )  # P2 notice, P2 rule, security, target


def test_unknown_incident_filter_is_404_and_a_malformed_one_400(api, viewer, three):
    assert api(viewer).get(DEADLINES, {"incident": 999999}).status_code == 404
    malformed = api(viewer).get(DEADLINES, {"incident": "abc"})
    assert malformed.status_code == 400
    assert malformed.json()["incident"] == ["incident must be an incident id."]


def test_deadlines_need_authentication(api, three):
    assert api().get(DEADLINES).status_code in (401, 403)
    assert api().get(LATENESS).status_code in (401, 403)


# --- lateness ------------------------------------------------------------------------------------
def test_lateness_percentiles_match_the_fired_deadlines(
    api, viewer, security_user, org, ic, gateway, frozen, sweep
):
    # Declared 12 minutes after detection: the 5- and 10-minute rules are written 7 and 2
    # minutes overdue; the 10-minute one fires on the first sweep as their catch-up (the
    # 5-minute one is skipped), late by 0: lateness counts from when a deadline could first
    # fire, not from its due time.
    p1 = declare(actor=ic, severity="P1", services=gateway, detected_at=T0 - timedelta(minutes=12))
    sweep(T0)
    frozen.move_to(T0 + timedelta(seconds=1), tick=False)
    declare(actor=ic, severity="P3", services=gateway)
    sweep(T0 + timedelta(seconds=2, milliseconds=500))  # the P3 notice, 1.5 s late
    sec = declare(actor=ic, severity="P4", services=gateway, security=True)
    sweep(T0 + timedelta(seconds=12, milliseconds=500))  # security rule + P4 notice, 10 s late

    fired = sorted(
        Deadline.objects.filter(status="fired")
        .exclude(incident=sec)
        .values_list("lateness_ms", flat=True)
    )
    assert fired == [0, 0, 1500]
    assert Deadline.objects.filter(incident=p1, status="fired", due_at__lt=T0).count() == 1
    assert Deadline.objects.filter(incident=p1, status="skipped").count() == 1
    response = api(viewer).get(LATENESS)
    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "p50_ms": 0,
        "p90_ms": 1500,
        "p99_ms": 1500,
        "max_ms": 1500,
        "pending": 4,  # P1: 30 min, 60 min, over target; P3: over target
        "overdue": 0,
    }
    # The security group also sees the security incident's two 10-second-late deadlines.
    seen = api(security_user).get(LATENESS).json()
    assert (seen["count"], seen["p50_ms"], seen["max_ms"]) == (5, 1500, 10_000)
    assert p1.pk


def test_lateness_counts_overdue_and_filters_by_hours(api, viewer, org, ic, gateway, frozen, sweep):
    declare(actor=ic, severity="P1", services=gateway)
    sweep(T0)
    frozen.move_to(T0 + timedelta(minutes=31), tick=False)  # nobody swept since T0
    body = api(viewer).get(LATENESS).json()
    assert (body["count"], body["pending"], body["overdue"]) == (1, 5, 3)  # 5, 10, 30 min overdue
    frozen.move_to(T0 + timedelta(hours=2), tick=False)
    recent = api(viewer).get(LATENESS, {"hours": 1}).json()
    assert (recent["count"], recent["p50_ms"], recent["max_ms"]) == (0, None, None)
    assert api(viewer).get(LATENESS, {"hours": 3}).json()["count"] == 1
    for bad in ("0", "-1", "soon"):
        response = api(viewer).get(LATENESS, {"hours": bad})
        assert response.status_code == 400
        assert response.json()["rule"] == "hours"


# --- an incident's pages -------------------------------------------------------------------------
def test_incident_pages_list_with_outcomes(api, viewer, org, ic, gateway, frozen, sweep):
    from incidents.outbox import outbox_deliver
    from incidents.services.paging import KIND as PAGE

    incident = declare(actor=ic, severity="P2", services=gateway)
    sweep(T0)
    alice = incident.pages.get(recipient=org.primary)
    assert outbox_deliver(PAGE, alice.pk) == "sent"
    response = api(viewer).get(f"/api/v1/incidents/{incident.pk}/pages/")
    assert response.status_code == 200
    rows = {p["recipient"]: p for p in response.json()}
    assert sorted(rows) == ["alice", "bob", "emma-em"]
    assert (rows["alice"]["status"], rows["alice"]["attempts"], rows["alice"]["channel"]) == (
        "sent",
        1,
        "email",
    )
    assert rows["bob"]["status"] == "pending"
    assert rows["alice"]["rule_key"] == "notify:P2"
    assert rows["alice"]["subject"].startswith(f"[P2] INC-{incident.pk} ")
    assert "secret" not in rows["alice"] and "body" not in rows["alice"]


def test_security_incident_pages_are_hidden(
    api, viewer, org, security_user, ic, gateway, frozen, sweep
):
    incident = declare(actor=ic, severity="P3", services=gateway, security=True)
    sweep(T0)
    assert api(viewer).get(f"/api/v1/incidents/{incident.pk}/pages/").status_code == 404
    response = api(security_user).get(f"/api/v1/incidents/{incident.pk}/pages/")
    assert sorted(p["recipient"] for p in response.json()) == ["alice", "sam-seclead"]


SLACK_URL = "https://hooks.slack.example/services/T0001/B0001/alice-webhook-credential"
REFUSED_URL = "ftp://files.example/bob-upload-credential"


@pytest.fixture
def paged_p2(org, ic, gateway, frozen, sweep):
    """A P2 whose notice paged alice (email to her account, and her Slack webhook), bob (a
    webhook the outbound guard refuses, so it failed) and emma-em."""
    from incidents.models import ContactMethod
    from incidents.outbox import outbox_deliver
    from incidents.services.paging import KIND as PAGE

    ContactMethod.objects.create(user=org.primary, kind="email", target="alice@tensafe.test")
    ContactMethod.objects.create(user=org.primary, kind="slack", target=SLACK_URL)
    ContactMethod.objects.create(user=org.backup, kind="webhook", target=REFUSED_URL, secret="s")
    incident = declare(actor=ic, severity="P2", services=gateway)
    sweep(T0)
    refused = incident.pages.get(recipient=org.backup)
    assert outbox_deliver(PAGE, refused.pk) == "failed"
    return incident


def _targets(response) -> dict:
    assert response.status_code == 200, response.content
    return {(p["recipient"], p["channel"]): (p["target"], p["last_error"]) for p in response.json()}


def test_a_viewer_sees_contact_targets_masked(api, viewer, paged_p2):
    response = api(viewer).get(f"/api/v1/incidents/{paged_p2.pk}/pages/")
    shown = _targets(response)
    assert shown[("alice", "email")][0] == "a***@tensafe.test"
    assert shown[("alice", "slack")][0] == "https://hooks.slack.example/…"
    assert shown[("bob", "webhook")][0] == "ftp://files.example/…"
    assert shown[("emma-em", "email")][0] == "e***@tensafe.test"
    content = response.content.decode()
    for secret in ("alice@", "alice-webhook-credential", "bob-upload-credential", "emma-em@"):
        assert secret not in content  # not in targets, nor in bob's last_error


def test_the_owner_sees_their_own_targets_and_no_one_elses(api, org, paged_p2):
    shown = _targets(api(org.primary).get(f"/api/v1/incidents/{paged_p2.pk}/pages/"))
    assert shown[("alice", "email")][0] == "alice@tensafe.test"
    assert shown[("alice", "slack")][0] == SLACK_URL
    assert shown[("bob", "webhook")][0] == "ftp://files.example/…"
    assert "bob-upload-credential" not in shown[("bob", "webhook")][1]


def test_an_sre_lead_sees_every_target(api, sre_lead, paged_p2):
    shown = _targets(api(sre_lead).get(f"/api/v1/incidents/{paged_p2.pk}/pages/"))
    assert shown[("alice", "slack")][0] == SLACK_URL
    assert shown[("bob", "webhook")][0] == REFUSED_URL
    assert shown[("emma-em", "email")][0] == "emma-em@tensafe.test"


def test_targets_are_not_on_the_timeline_the_page_or_the_deadlines(api, client, viewer, paged_p2):
    """A failed page is on the timeline (API and dashboard) with its target masked; deadlines
    carry no targets."""
    failed = paged_p2.timeline.get(kind="page_failed")
    assert "bob-upload-credential" not in failed.text + str(failed.data)
    client.force_login(viewer)
    pages = [
        api(viewer).get(f"/api/v1/incidents/{paged_p2.pk}/timeline/"),
        api(viewer).get(DEADLINES, {"incident": paged_p2.pk}),
        client.get(f"/incidents/{paged_p2.pk}/"),
    ]
    for response in pages:
        assert response.status_code == 200
        content = response.content.decode()
        for secret in ("alice-webhook-credential", "bob-upload-credential", "alice@tensafe"):
            assert secret not in content


def test_people_manage_their_own_contact_methods(api, responder, fake_dns):
    fake_dns.answer("hooks.example.com", "93.184.215.14")  # public; saved, never called
    client = api(responder)
    created = client.post(
        "/api/v1/users/me/contact-methods/",
        {"kind": "slack", "target": "https://hooks.example.com/T1/B2"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["kind"] == "slack"
    listed = client.get("/api/v1/users/me/contact-methods/").json()
    assert [m["target"] for m in listed] == ["https://hooks.example.com/T1/B2"]
    assert (
        client.delete(f"/api/v1/users/me/contact-methods/{created.json()['id']}/").status_code
        == 204
    )
    assert client.get("/api/v1/users/me/contact-methods/").json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email", "target": "not-an-address"}, "target"),
        ({"kind": "webhook", "target": "https://hooks.example.com/x"}, "secret"),
        ({"kind": "pager", "target": "x@y.io"}, "kind"),
        ({"kind": "email", "target": "x@y.io", "colour": "red"}, "colour"),
    ],
)
def test_a_wrong_contact_method_is_refused_naming_the_field(api, responder, fake_dns, body, field):
    fake_dns.answer("hooks.example.com", "93.184.215.14")  # public; never called
    response = api(responder).post("/api/v1/users/me/contact-methods/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert api(responder).get("/api/v1/users/me/contact-methods/").json() == []


def test_nobody_deletes_another_persons_contact_method(api, responder, viewer):
    from incidents.models import ContactMethod

    method = ContactMethod.objects.create(user=viewer, kind="email", target="v@tensafe.test")
    assert (
        api(responder).delete(f"/api/v1/users/me/contact-methods/{method.pk}/").status_code == 404
    )
    assert ContactMethod.objects.filter(pk=method.pk).exists()


def test_admin_deadline_list_shows_lateness_percentiles(client, three):
    from tests.factories import UserFactory

    admin_user = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin_user)
    response = client.get("/admin/incidents/deadline/")
    assert response.status_code == 200
    assert b"How late deadlines fired" in response.content
