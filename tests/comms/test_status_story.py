"""The public story of an incident (issue 17): the status page says only what was published
(the last state posted, never the internal one), a resolved incident stays listed for 90 days
under "Past incidents", and every incident the public saw keeps a permanent page with all its
updates, which the feeds link to.

Adversaries: ids of incidents the public may not see (a drill, a restricted incident without
approved words, one never posted publicly, a missing one) all answer the same 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from comms.models import Update
from comms.status.caching import status_version_forget
from incidents.models import Incident
from tests.comms.test_status_page import NOW, incident, post, resolve_at, summary
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings, time_machine):
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0
    time_machine.move_to(NOW, tick=False)
    cache.clear()
    status_version_forget()
    yield
    cache.clear()
    status_version_forget()


def test_the_page_shows_the_state_last_published_not_the_internal_one(client):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Upload errors")
    post(inc, "We are looking into upload errors.", template="investigating")
    Incident.objects.filter(pk=inc.pk).update(status="monitoring")  # responders moved on

    (listed,) = summary(client)["incidents"]
    assert (listed["status"], listed["status_label"]) == ("investigating", "Investigating")
    assert "Monitoring" not in client.get("/status/").content.decode()

    post(inc, "A fix is deployed; we are watching.", template="monitoring")
    (listed,) = summary(client)["incidents"]
    assert listed["status"] == "monitoring"


def test_a_resolved_incident_is_past_for_90_days_and_its_page_stays(client, time_machine):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Upload errors")
    post(inc, "We are looking into upload errors.", template="investigating")
    post(inc, "Uploads work again; the cause was a full disk.", template="resolved")
    resolve_at(inc, NOW)

    body = summary(client)
    assert body["incidents"] == []
    (past,) = body["past_incidents"]
    assert (past["title"], past["status"], past["url"]) == (
        "Upload errors",
        "resolved",
        f"/status/incidents/{inc.pk}/",
    )
    front = client.get("/status/").content.decode()
    assert f'href="/status/incidents/{inc.pk}/"' in front
    assert "Uploads work again" in front

    page = client.get(f"/status/incidents/{inc.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Uploads work again; the cause was a full disk." in text
    assert "We are looking into upload errors." in text  # the whole story, first to last

    time_machine.move_to(NOW + timedelta(days=91), tick=False)
    cache.clear()
    assert summary(client)["past_incidents"] == []
    assert client.get(f"/status/incidents/{inc.pk}/").status_code == 200  # permanent


def test_feed_links_open_the_incidents_permanent_page(client):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P3", [api], title="Slow search")
    update = post(inc, "Search is slow.", template="investigating")
    resolve_at(inc, timezone.now())

    feed = client.get("/status/feed.rss").content.decode()
    link = f"/status/incidents/{inc.pk}/#update-{update.pk}"
    assert link in feed
    page = client.get(link.split("#")[0]).content.decode()
    assert f'id="update-{update.pk}"' in page


def test_incidents_the_public_may_not_see_have_no_page(client):
    api = ServiceFactory(slug="api", name="API")
    drill = incident("P1", [api], title="DRILL failover", drill=True)
    post(drill, "DRILL pretend outage")
    secret = incident("P1", [api], title="SECRET breach", security=True)
    post(secret, "SECRET attackers in")
    quiet = incident("P3", [api], title="QUIET internal only")
    post(quiet, "QUIET note", channel=Update.Channel.INTERNAL)
    missing = max(drill.pk, secret.pk, quiet.pk) + 1000

    answers = [
        client.get(f"/status/incidents/{pk}/") for pk in (drill.pk, secret.pk, quiet.pk, missing)
    ]

    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1, "all four look the same"
    for answer in answers:
        for word in ("DRILL", "SECRET", "QUIET"):
            assert word not in answer.content.decode()


@pytest.mark.parametrize("feed", ["/status/feed.atom", "/status/feed.rss"])
def test_a_feed_reader_gets_the_text_whole_and_a_link_that_works(client, feed):
    """feedparser, the reader library most Python feed tools use, reads both feeds: every
    character of an update (`<model>`, `&`, line breaks) and a link to the permanent page."""
    import feedparser

    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Inference errors")
    update = post(
        inc, "POST /v1/<model>/infer fails & retries.\nWe are on it.", template="investigating"
    )
    resolve_at(inc, timezone.now())

    parsed = feedparser.parse(client.get(feed).content)

    assert not parsed.bozo, parsed.get("bozo_exception")
    (entry,) = parsed.entries
    assert entry.title == "Inference errors: Investigating"
    assert "POST /v1/&lt;model&gt;/infer fails &amp; retries.<br />We are on it." in entry.summary
    path = entry.link.split("testserver", 1)[1]
    assert path == f"/status/incidents/{inc.pk}/#update-{update.pk}"
    assert client.get(path.split("#")[0]).status_code == 200
