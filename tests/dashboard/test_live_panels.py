"""Every panel of the incident page live for everyone watching (issue 17): the page carries
its version, and asks `changes/?v=<version>` every few seconds. Nothing new is a 204 after
one query; a change sends every live panel out of band with the poller's new version; the
check decides visibility like the page (a security incident stays a 404 to outsiders)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services
from incidents.states import Role
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

LIVE_PANELS = [
    "incident-facts",
    "actions",
    "checklists",
    "roles",
    "security",
    "responses-slot",
    "deadlines",
    "live-poller",
]


def version_of(response) -> str:
    match = re.search(r"hx-vals='\{\"v\": \"([0-9a-f]{32})\"\}'", response.content.decode())
    assert match, "the page carries no version"
    return match.group(1)


def changes(client, incident, version):
    return client.get(reverse("dashboard:changes", args=[incident.pk]), {"v": version})


@pytest.fixture
def watcher(db):
    return UserFactory(username="wanda", rank="engineer", groups=["responder"])


def test_an_idle_watchers_check_is_a_204_after_one_query(client, watcher, incident):
    client.force_login(watcher)
    version = version_of(client.get(reverse("dashboard:incident", args=[incident.pk])))
    changes(client, incident, version)  # the session and user are read once per request
    with CaptureQueriesContext(connection) as queries:
        response = changes(client, incident, version)
    assert response.status_code == 204 and response.content == b""
    # Beside the session and the user, read on every signed-in request, one query: the
    # version, which also decides visibility (on PostgreSQL a statement prepared once per
    # connection, which Django's capture records without its SQL).
    signed_in = ('"django_session"', '"incidents_user"')
    rest = [
        q for q in queries.captured_queries if not any(t in (q["sql"] or "") for t in signed_in)
    ]
    assert len(rest) == 1
    assert len(queries.captured_queries) <= 3


def test_another_responders_change_sends_every_panel_and_the_new_version(
    client, watcher, ic, incident
):
    client.force_login(watcher)
    page = client.get(reverse("dashboard:incident", args=[incident.pk]))
    version = version_of(page)
    assert b"none assigned" in page.content

    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    services.incident_transition(actor=ic, incident_id=incident.pk, to="identified")

    response = changes(client, incident, version)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "timeline-refresh"
    body = response.content.decode()
    for panel in LIVE_PANELS:
        assert re.search(rf'id="{panel}"[^>]*hx-swap-oob="true"', body), panel
    facts = body[body.index('id="incident-facts"') : body.index("</dl>")]
    assert "Identified" in facts and "emma" in facts and "none assigned" not in facts
    assert "Acknowledged" in facts and "not yet" not in facts  # taking the IC role acknowledges
    new = version_of(response)
    assert new != version
    assert changes(client, incident, new).status_code == 204


def test_the_check_is_refused_to_who_may_not_see_the_incident(client, watcher, ic, service):
    secret = declare(actor=ic, title="Key leak", severity="P2", services=[service], security=True)
    client.force_login(watcher)
    assert changes(client, secret, "anything").status_code == 404
    assert client.get(reverse("dashboard:changes", args=[999_999]), {"v": "x"}).status_code == 404
    client.logout()
    anonymous = changes(client, secret, "anything")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_a_forged_or_missing_version_only_sends_the_panels_again(client, watcher, incident):
    client.force_login(watcher)
    for version in (None, "", '"0"', "<script>", "x" * 5000):
        response = client.get(
            reverse("dashboard:changes", args=[incident.pk]),
            {} if version is None else {"v": version},
        )
        assert response.status_code == 200
        assert "<script>" not in response.content.decode()
    assert client.post(reverse("dashboard:changes", args=[incident.pk])).status_code == 405
