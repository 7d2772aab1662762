"""The admin page of every outbox kind's deliveries (/admin/outbox/): the API list's read
(one selector, its filters and visibility rule) with retry-now and give-up buttons for SRE
leads, through the API's services. Second actors throughout: another lead acting on the same
row first, a staff member who is no lead, someone without the admin, a lead outside the
security group, a POST without its CSRF token."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from comms import subscribers
from comms.models import SubscriberDelivery
from incidents.models import AuditEvent
from pir import digests
from tests.factories import UserFactory
from tests.test_outbox import HIDDEN_KEY, outbox_rows

pytestmark = pytest.mark.django_db

PAGE = "/admin/outbox/"


def outbox_audit():
    return AuditEvent.objects.filter(action__startswith="outbox.")


def listed(response) -> list[tuple[str, int]]:
    """(kind, id) of each row the page shows, in its order."""
    return [(row["kind"], row["pk"]) for row in response.context["rows"]]


def said(response) -> str:
    """The message the response's request added last (earlier ones not yet shown are kept
    by the messages framework until a page shows them)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def buttons(response, kind: str, pk: int) -> set[str]:
    """The action buttons of one row of the page."""
    html = response.content.decode()
    row = re.search(rf'<tr id="outbox-{kind}-{pk}">(.*?)</tr>', html, re.S)
    assert row is not None, f"{kind} #{pk} is not on the page"
    return set(re.findall(r'name="action" value="([\w-]+)"', row.group(1)))


@pytest.fixture
def rows(no_hand_offs):
    return outbox_rows()


@pytest.fixture
def lead(client, sre_lead):
    client.force_login(sre_lead)
    return client


def act(client, action: str, kind: str, pk, query: str = "", **extra):
    return client.post(f"{PAGE}{query}", {"action": action, "kind": kind, "id": pk, **extra})


# --- the list ---------------------------------------------------------------------------------
def test_a_lead_sees_every_kind_newest_first_as_the_api_lists_them(lead, api, sre_lead, rows):
    response = lead.get(PAGE)
    assert response.status_code == 200
    api_rows = api(sre_lead).get("/api/v1/outbox/").json()["results"]
    assert listed(response) == [(r["kind"], r["id"]) for r in api_rows]
    assert set(listed(response)) == {
        (subscribers.KIND, rows["delivery"].pk),
        (digests.KIND, rows["digest"].pk),
    }
    html = response.content.decode()
    delivery, failed = rows["delivery"], rows["digest"]
    for text in (delivery.idempotency_key, failed.idempotency_key, "smtp down", "failed"):
        assert text in html
    # The incident links to its admin page; a digest (several incidents) has none.
    assert f'href="/admin/incidents/incident/{rows["normal"].pk}/change/"' in html
    # Each row links to its own admin page where the lead may open it (SRE leads view the
    # digests' admin list; the comms deliveries' admin is not theirs).
    assert f'href="/admin/pir/actiondigestdelivery/{failed.pk}/change/"' in html
    assert "/admin/comms/subscriberdelivery/" not in html
    assert lead.get(f"/admin/pir/actiondigestdelivery/{failed.pk}/change/").status_code == 200


def test_a_superuser_gets_the_link_to_every_rows_own_page(client, rows):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    html = client.get(PAGE).content.decode()
    link = f'href="/admin/comms/subscriberdelivery/{rows["delivery"].pk}/change/"'
    assert link in html
    assert client.get(link[6:-1]).status_code == 200


def test_the_index_the_app_page_and_each_kinds_list_link_to_it(lead, client, rows):
    for page in ("/admin/", "/admin/incidents/", "/admin/pir/actiondigestdelivery/"):
        html = lead.get(page).content.decode()
        assert f'<a href="{PAGE}"' in html and "Deliveries (all kinds)" in html, page
    client.force_login(UserFactory(groups=["incident_commander"], is_staff=True))
    assert "Deliveries (all kinds)" not in client.get("/admin/").content.decode()


def test_filters_by_kind_status_and_incident_id_or_reference(lead, rows):
    delivery, failed, normal = rows["delivery"], rows["digest"], rows["normal"]
    assert listed(lead.get(PAGE, {"kind": digests.KIND})) == [(digests.KIND, failed.pk)]
    assert listed(lead.get(PAGE, {"status": "failed"})) == [(digests.KIND, failed.pk)]
    assert listed(lead.get(PAGE, {"status": "pending"})) == [(subscribers.KIND, delivery.pk)]
    for named in (str(normal.pk), normal.reference, f" inc-{normal.pk} "):
        assert listed(lead.get(PAGE, {"incident": named})) == [(subscribers.KIND, delivery.pk)]
    # The form sends "any" as an empty value.
    assert len(listed(lead.get(PAGE, {"kind": "", "status": "", "incident": ""}))) == 2
    both = lead.get(PAGE, {"kind": subscribers.KIND, "status": "failed"})
    assert both.status_code == 200 and listed(both) == []
    assert "No deliveries." in both.content.decode()


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ({"kind": "carrier-pigeon"}, 400, "no outbox kind 'carrier-pigeon'"),
        ({"status": "lost"}, 400, "no delivery status 'lost'"),
        ({"incident": "the big one"}, 400, "not 'the big one'"),
        ({"incident": "INC-0"}, 400, "incident must be an incident id or reference"),
        ({"page_size": "0"}, 400, "page_size must be a whole number, 1 or more."),
        ({"page": "9"}, 404, "Invalid page"),
        ({"page": ""}, 404, "Invalid page"),
        ({"incident": "987654"}, 404, "No incident INC-987654 that you can see: not found."),
    ],
)
def test_a_bad_filter_is_an_error_naming_it_and_lists_nothing(lead, rows, query, code, named):
    response = lead.get(PAGE, query)
    assert response.status_code == code
    assert named in response.context["error"]
    assert named.replace("'", "&#x27;") in response.content.decode()
    assert listed(response) == []


def test_pages_have_the_apis_sizes(lead, rows, settings):
    first = lead.get(PAGE, {"page_size": "1"})
    assert len(listed(first)) == 1 and first.context["page"].paginator.num_pages == 2
    assert first.context["pages"]["next"] == "?page_size=1&page=2"
    second = lead.get(PAGE, {"page_size": "1", "page": "2"})
    assert listed(first) + listed(second) == listed(lead.get(PAGE))
    assert lead.get(PAGE, {"page_size": "5000"}).context["page"].paginator.per_page == 200
    assert lead.get(PAGE).context["page"].paginator.per_page == 50


# --- visibility --------------------------------------------------------------------------------
def test_a_restricted_incidents_rows_are_hidden_from_a_lead_outside_its_grants(lead, rows):
    response = lead.get(PAGE)
    assert (subscribers.KIND, rows["hidden"].pk) not in listed(response)
    assert HIDDEN_KEY not in response.content.decode()
    assert "Quartzite" not in response.content.decode()
    for named in (str(rows["secret"].pk), rows["secret"].reference):
        refused = lead.get(PAGE, {"incident": named})
        assert refused.status_code == 404 and listed(refused) == []
        assert "not found" in refused.content.decode()


def test_the_security_group_sees_the_restricted_row(client, rows):
    client.force_login(UserFactory(groups=["sre_lead", "security"], is_staff=True))
    response = client.get(PAGE, {"incident": rows["secret"].reference})
    assert listed(response) == [(subscribers.KIND, rows["hidden"].pk)]


def test_a_hidden_row_cannot_be_acted_on_by_a_forged_post(lead, rows):
    hidden = rows["hidden"]
    for action in ("retry", "give-up"):
        response = act(lead, action, subscribers.KIND, hidden.pk)
        assert response.status_code == 302
        assert said(response) == (
            f"{subscribers.KIND} #{hidden.pk} not changed: No such delivery in this outbox kind."
        )
    hidden.refresh_from_db()
    assert hidden.status == "pending" and not outbox_audit().exists()


# --- the buttons --------------------------------------------------------------------------------
def test_each_row_offers_the_buttons_its_state_allows(lead, rows):
    response = lead.get(PAGE)
    assert buttons(response, subscribers.KIND, rows["delivery"].pk) == {"retry", "give-up"}
    assert buttons(response, digests.KIND, rows["digest"].pk) == {"retry"}
    SubscriberDelivery.objects.filter(pk=rows["delivery"].pk).update(status="sent")
    assert buttons(lead.get(PAGE), subscribers.KIND, rows["delivery"].pk) == set()


def test_retry_now_sends_a_failed_row_again_audited_and_back_to_the_same_list(
    lead, sre_lead, rows, no_hand_offs, django_capture_on_commit_callbacks
):
    row = rows["digest"]
    query = f"?kind={digests.KIND}&page_size=10"
    with django_capture_on_commit_callbacks(execute=True):
        response = act(lead, "retry", digests.KIND, row.pk, query)
    assert response.status_code == 302 and response.url == PAGE + query
    assert said(response) == f"{digests.KIND} #{row.pk}: handed to the workers again."
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert no_hand_offs == [(digests.KIND, row.pk)]
    event = outbox_audit().get()
    assert (event.action, event.actor, event.target_id) == ("outbox.retried", sre_lead, str(row.pk))
    assert event.details == {"kind": digests.KIND, "key": row.idempotency_key, "was": "failed"}


def test_give_up_cancels_a_waiting_row_audited(lead, sre_lead, rows):
    row = rows["delivery"]
    response = act(lead, "give-up", subscribers.KIND, row.pk)
    assert said(response) == f"{subscribers.KIND} #{row.pk}: given up."
    row.refresh_from_db()
    assert row.status == "cancelled" and f"Given up by {sre_lead.username}" in row.last_error
    assert outbox_audit().get().action == "outbox.given_up"


def test_two_leads_on_one_row_the_second_gets_the_refusal_and_nothing_changes(
    client, sre_lead, rows
):
    first, second = Client(), client
    first.force_login(sre_lead)
    other_lead = UserFactory(username="other-lead", groups=["sre_lead"], is_staff=True)
    second.force_login(other_lead)
    row = rows["delivery"]
    # Both have the page open with the row's buttons.
    for each in (first, second):
        assert buttons(each.get(PAGE), subscribers.KIND, row.pk) == {"retry", "give-up"}
    given_up = act(first, "give-up", subscribers.KIND, row.pk)
    assert said(given_up) == f"{subscribers.KIND} #{row.pk}: given up."
    row.refresh_from_db()
    after_first = (row.status, row.last_error, row.attempts, row.next_attempt_at)

    late = act(second, "give-up", subscribers.KIND, row.pk)
    assert late.status_code == 302
    assert said(late) == (
        f"{subscribers.KIND} #{row.pk} not changed: A delivery that is cancelled cannot be "
        "given up; only one that is pending can."
    )
    retried = act(second, "retry", subscribers.KIND, row.pk)
    assert "not changed: A delivery that is cancelled cannot be retried" in said(retried)
    row.refresh_from_db()
    assert (row.status, row.last_error, row.attempts, row.next_attempt_at) == after_first
    assert sre_lead.username in row.last_error and other_lead.username not in row.last_error
    assert [e.actor for e in outbox_audit()] == [sre_lead]
    # The row's buttons are gone for both.
    assert buttons(second.get(PAGE), subscribers.KIND, row.pk) == set()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "delete", "kind": digests.KIND}, "Nothing changed: no action 'delete'."),
        ({"action": "retry", "kind": digests.KIND, "id": "x1"}, "'x1' is no delivery id."),
        ({"action": "retry", "kind": "carrier-pigeon"}, "not changed: No such outbox kind."),
        ({"action": "retry", "kind": subscribers.KIND, "id": "999999"}, "No such delivery"),
    ],
)
def test_a_malformed_post_changes_nothing_and_says_why(lead, rows, data, message):
    data = {"id": rows["digest"].pk, **data}
    response = lead.post(PAGE, data)
    assert response.status_code == 302
    assert message in said(response)
    rows["digest"].refresh_from_db()
    assert rows["digest"].status == "failed" and not outbox_audit().exists()


# --- who gets in --------------------------------------------------------------------------------
def test_a_staff_member_who_is_no_lead_gets_no_list_no_buttons_and_a_forged_post_is_403(
    client, rows
):
    client.force_login(UserFactory(groups=["incident_commander", "security"], is_staff=True))
    response = client.get(PAGE)
    assert response.status_code == 403
    assert "Retry now" not in response.content.decode()
    for action, kind, row in (
        ("retry", digests.KIND, rows["digest"]),
        ("give-up", subscribers.KIND, rows["delivery"]),
    ):
        assert act(client, action, kind, row.pk).status_code == 403
    rows["digest"].refresh_from_db()
    rows["delivery"].refresh_from_db()
    assert (rows["digest"].status, rows["delivery"].status) == ("failed", "pending")
    assert not outbox_audit().exists()


@pytest.mark.parametrize("who", ["anonymous", "not staff", "lead not staff"])
def test_someone_without_the_admin_is_sent_to_sign_in(client, rows, who):
    if who != "anonymous":
        groups = ["sre_lead"] if who == "lead not staff" else ["responder"]
        client.force_login(UserFactory(groups=groups, is_staff=False))
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.url == f"/admin/login/?next={PAGE}"
    forged = act(client, "retry", digests.KIND, rows["digest"].pk)
    assert forged.status_code == 302 and forged.url.startswith("/admin/login/")
    rows["digest"].refresh_from_db()
    assert rows["digest"].status == "failed" and not outbox_audit().exists()


def test_a_get_changes_nothing_whatever_it_asks(lead, rows, no_hand_offs):
    row = rows["digest"]
    for query in (
        {"action": "retry", "kind": digests.KIND, "id": row.pk},
        {"action": "give-up", "kind": subscribers.KIND, "id": rows["delivery"].pk},
    ):
        assert lead.get(PAGE, query).status_code == 200
    row.refresh_from_db()
    rows["delivery"].refresh_from_db()
    assert (row.status, row.attempts, rows["delivery"].status) == ("failed", 5, "pending")
    assert not outbox_audit().exists() and no_hand_offs == []


def test_the_buttons_need_the_csrf_token(sre_lead, rows):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(sre_lead)
    row = rows["digest"]
    assert act(browser, "retry", digests.KIND, row.pk).status_code == 403
    row.refresh_from_db()
    assert row.status == "failed" and not outbox_audit().exists()

    page = browser.get(PAGE)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    sent = act(browser, "retry", digests.KIND, row.pk, csrfmiddlewaretoken=token.group(1))
    assert sent.status_code == 302
    row.refresh_from_db()
    assert row.status == "pending" and outbox_audit().count() == 1
