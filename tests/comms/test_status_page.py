"""The public status page: what is public (and what never is), component states, 90-day
history, maintenance, JSON, feeds and caching."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comms.models import Maintenance, Update
from comms.status.caching import status_version_forget
from comms.status.selectors import HISTORY_DAYS
from incidents import services
from incidents.models import Incident
from incidents.services.timeline import timeline_record
from incidents.states import TimelineKind
from tests.factories import ServiceFactory, UserFactory, declare, put_on_call

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
URLS = ["/status/", "/status/summary.json", "/status/feed.atom", "/status/feed.rss"]


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Every request asks for the version (the remembered one is tested on its own)."""
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0
    cache.clear()
    status_version_forget()
    yield
    cache.clear()
    status_version_forget()


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def post(
    incident: Incident,
    text: str,
    *,
    channel=Update.Channel.STATUS_PAGE,
    template="",
    at=None,
    by=None,
) -> Update:
    """Post an update the way comms' service does: the row and the timeline event together."""
    at = at or timezone.now()
    with transaction.atomic():
        update = Update.objects.create(
            incident=incident,
            channel=channel,
            template=template,
            text=text,
            posted_at=at,
            posted_by=by,
        )
        if channel == Update.Channel.STATUS_PAGE:
            timeline_record(
                incident,
                TimelineKind.STATUS_PAGE_POSTED,
                "Status page updated",
                actor=by,
                occurred_at=at,
                data={"update": update.pk},
            )
    return update


def incident(severity="P2", services=(), **fields) -> Incident:
    return declare(severity=severity, services=list(services), **fields)


def resolve_at(inc: Incident, at: datetime) -> None:
    """Close an incident in the past without walking the lifecycle (history tests only)."""
    Incident.objects.filter(pk=inc.pk).update(status="resolved", resolved_at=at, updated_at=at)


def summary(client) -> dict:
    response = client.get("/status/summary.json")
    assert response.status_code == 200
    return response.json()


def states(client, *slugs) -> dict[str, str]:
    """The state of the named components (the migrations seed the catalog with more)."""
    return {c["id"]: c["status"] for c in summary(client)["components"] if c["id"] in slugs}


# --- what is public -------------------------------------------------------------------------------
def test_pages_need_no_login_and_render(client, db, now):
    ServiceFactory(slug="api", name="API")
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/status/").content.decode()
    assert "All systems operational" in page
    assert "<h1" in page and "<script" not in page and "http://" not in page.split("<body")[1]


def test_incident_is_public_only_after_a_status_page_update(client, db, now):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P1", [api], title="Gateway errors")
    post(inc, "Internal only: looking at the LB", channel=Update.Channel.INTERNAL)
    assert states(client, "api") == {"api": "operational"}
    assert summary(client)["incidents"] == []
    assert "Gateway errors" not in client.get("/status/").content.decode()

    post(inc, "We are investigating errors on the API.", template="investigating")
    data = summary(client)
    assert data["status"]["indicator"] == "major_outage"
    assert {
        "id": "api",
        "name": "API",
        "status": "major_outage",
        "status_label": "Major outage",
    } in data["components"]
    [shown] = data["incidents"]
    assert shown["title"] == "Gateway errors" and shown["components"] == ["api"]
    assert [u["text"] for u in shown["updates"]] == ["We are investigating errors on the API."]


@pytest.mark.parametrize(
    "severity, state",
    [("P1", "major_outage"), ("P2", "partial_outage"), ("P3", "degraded"), ("P4", "operational")],
)
def test_component_state_follows_severity(client, db, now, severity, state):
    api = ServiceFactory(slug="api", name="API")
    post(incident(severity, [api]), "Looking into it.")
    assert states(client, "api")["api"] == state


def test_worst_open_incident_wins_and_resolved_ones_do_not_count(client, db, now):
    api, web, db_service = (
        ServiceFactory(slug="api", name="API"),
        ServiceFactory(slug="web", name="Web"),
        ServiceFactory(slug="db", name="Storage DB"),
    )
    post(incident("P3", [api, web]), "Slow responses.")
    post(incident("P2", [api]), "Errors.")
    closed = incident("P1", [db_service])
    post(closed, "Down.")
    resolve_at(closed, timezone.now())
    assert states(client, "api", "web", "db") == {
        "api": "partial_outage",
        "web": "degraded",
        "db": "operational",
    }
    assert summary(client)["status"]["indicator"] == "partial_outage"


def test_updates_newest_first_with_label_and_time_never_the_poster(client, db, now):
    poster = UserFactory(username="mallory.poster", first_name="Mallory", last_name="Quux")
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Login failures")
    post(
        inc,
        "First we investigate.",
        template="investigating",
        by=poster,
        at=NOW - timedelta(minutes=30),
    )
    post(inc, "Then we identified it.", template="identified", by=poster)
    [shown] = summary(client)["incidents"]
    assert [(u["status_label"], u["text"]) for u in shown["updates"]] == [
        ("Identified", "Then we identified it."),
        ("Investigating", "First we investigate."),
    ]
    assert shown["updates"][0]["posted_at"] == "2026-03-10T12:00:00+00:00"
    page = client.get("/status/").content.decode()
    assert page.index("Then we identified it.") < page.index("First we investigate.")
    for url in URLS:
        body = client.get(url).content.decode()
        for name in ("mallory", "Mallory", "Quux"):
            assert name not in body, (url, name)


def test_security_drill_internal_and_names_never_leak(client, db, now):
    """Create everything that must stay private and grep every public body for it."""
    declarer = UserFactory(
        username="secretdeclarer",
        first_name="Zebediah",
        last_name="Quill",
        rank="engineering_manager",
        groups=["incident_commander"],
    )
    api = ServiceFactory(slug="api", name="API")
    sec = incident("P1", [api], title="SECRET-BREACH exfiltration", security=True, actor=declarer)
    post(sec, "SECRET-SEC-UPDATE attackers in", by=declarer)
    drill = incident("P1", [api], title="DRILL-GAMEDAY failover", drill=True, actor=declarer)
    post(drill, "DRILL-UPDATE pretend outage", by=declarer)
    public = incident("P3", [api], title="Slow dashboard", actor=declarer)
    post(public, "INTERNAL-NOTE db is on fire", channel=Update.Channel.INTERNAL, by=declarer)
    post(public, "CUSTOMER-EMAIL dear customer", channel=Update.Channel.CUSTOMER_EMAIL, by=declarer)
    post(public, "Dashboards are slow; we are on it.", by=declarer)

    assert states(client, "api") == {"api": "degraded"}  # the P1s are not public
    for url in URLS:
        body = client.get(url).content.decode()
        for secret in (
            "SECRET",
            "DRILL",
            "INTERNAL-NOTE",
            "CUSTOMER-EMAIL",
            "secretdeclarer",
            "Zebediah",
            "Quill",
            declarer.email,
        ):
            assert secret not in body, (url, secret)
        assert "Dashboards are slow" in body, url


# --- history --------------------------------------------------------------------------------------
def test_ninety_day_bars_show_the_worst_public_state_each_day(client, db, now):
    api = ServiceFactory(slug="api", name="API")
    web = ServiceFactory(slug="web", name="Web")
    ten_days_ago = NOW - timedelta(days=10)
    old = incident("P2", [api], detected_at=ten_days_ago, title="Old partial outage")
    post(old, "Errors.", at=ten_days_ago)
    resolve_at(old, ten_days_ago + timedelta(days=1))  # spans two days
    minor = incident("P3", [api, web], detected_at=ten_days_ago + timedelta(hours=1))
    post(minor, "Slow.", at=ten_days_ago + timedelta(hours=1))
    resolve_at(minor, ten_days_ago + timedelta(hours=2))
    ancient = incident("P1", [web], detected_at=NOW - timedelta(days=200))
    post(ancient, "Long ago.", at=NOW - timedelta(days=200))
    resolve_at(ancient, NOW - timedelta(days=199))
    secret = incident("P1", [web], detected_at=ten_days_ago, security=True)
    post(secret, "Hidden.", at=ten_days_ago)

    page = client.get("/status/").content.decode()
    components = len(summary(client)["components"])
    assert page.count('<li class="bar ') == components * HISTORY_DAYS
    day = ten_days_ago.date().isoformat()
    next_day = (ten_days_ago + timedelta(days=1)).date().isoformat()
    assert f"{day}: Partial outage, 2 incidents" in page  # API: worst of P2 and P3
    assert f"{next_day}: Partial outage, 1 incident" in page
    assert f"{day}: Degraded performance, 1 incident" in page  # Web: the P3 only
    assert "2026-03-01: Operational</span>" in page
    assert page.count("Major outage,") == 0  # the 200-day-old P1 and the security P1 are not shown
    assert "2 of 90 days with a public incident" in page
    assert "1 of 90 days with a public incident" in page


# --- maintenance ----------------------------------------------------------------------------------
def test_upcoming_and_in_progress_maintenance_shown_finished_not(client, db, now):
    api = ServiceFactory(slug="api", name="API")
    upcoming = Maintenance.objects.create(
        title="Database upgrade",
        description="Brief read-only period.",
        starts_at=NOW + timedelta(days=2),
        ends_at=NOW + timedelta(days=2, hours=1),
    )
    upcoming.services.set([api])
    Maintenance.objects.create(
        title="Cache resize",
        starts_at=NOW - timedelta(minutes=10),
        ends_at=NOW + timedelta(hours=1),
    )
    Maintenance.objects.create(
        title="Old network work",
        starts_at=NOW - timedelta(days=3),
        ends_at=NOW - timedelta(days=3) + timedelta(hours=1),
    )
    data = summary(client)["scheduled_maintenances"]
    assert [(m["title"], m["status"]) for m in data] == [
        ("Cache resize", "in_progress"),
        ("Database upgrade", "scheduled"),
    ]
    assert data[1]["components"] == ["api"]
    assert data[1]["starts_at"] == "2026-03-12T12:00:00+00:00"
    page = client.get("/status/").content.decode()
    assert "Database upgrade" in page and "In progress" in page
    assert "Old network work" not in page


def test_maintenance_starting_changes_the_page_without_any_edit(client, db, time_machine):
    time_machine.move_to(NOW, tick=False)
    Maintenance.objects.create(
        title="Database upgrade",
        starts_at=NOW + timedelta(minutes=5),
        ends_at=NOW + timedelta(hours=1),
    )
    assert summary(client)["scheduled_maintenances"][0]["status"] == "scheduled"
    time_machine.move_to(NOW + timedelta(minutes=6), tick=False)
    assert summary(client)["scheduled_maintenances"][0]["status"] == "in_progress"
    time_machine.move_to(NOW + timedelta(hours=2), tick=False)
    assert summary(client)["scheduled_maintenances"] == []


# --- feeds ----------------------------------------------------------------------------------------
def test_atom_and_rss_feeds_parse_and_hold_public_updates(client, db, now):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Upload errors")
    first = post(
        inc,
        "Investigating <uploads> & more.\nPOST /v1/<model>/infer fails.",
        template="investigating",
        at=NOW - timedelta(minutes=5),
    )
    second = post(inc, "Identified the cause.", template="identified")
    post(inc, "internal chatter", channel=Update.Channel.INTERNAL)

    atom_response = client.get("/status/feed.atom")
    assert atom_response["Content-Type"].startswith("application/atom+xml")
    atom = ET.fromstring(atom_response.content)
    assert atom.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert atom.find(f"{ATOM}{required}") is not None, required
    entries = atom.findall(f"{ATOM}entry")
    assert len(entries) == 2
    for entry in entries:
        for required in ("id", "title", "updated", "link"):
            assert entry.find(f"{ATOM}{required}") is not None, required
    assert entries[0].find(f"{ATOM}title").text == "Upload errors: Identified"
    assert (
        entries[0]
        .find(f"{ATOM}link")
        .get("href")
        .endswith(f"/status/incidents/{second.incident_id}/#update-{second.pk}")
    )
    # The text is carried as HTML that shows it as written (escaped, line breaks kept): a
    # reader rendering the summary shows every character, `<model>` included.
    summary = entries[1].find(f"{ATOM}summary")
    assert summary.get("type") == "html"
    assert summary.text == (
        "Investigating &lt;uploads&gt; &amp; more.<br>POST /v1/&lt;model&gt;/infer fails."
    )
    assert html.unescape(summary.text.replace("<br>", "\n")) == first.text
    assert entries[0].find(f"{ATOM}category").get("term") == "API"

    rss_response = client.get("/status/feed.rss")
    assert rss_response["Content-Type"].startswith("application/rss+xml")
    rss = ET.fromstring(rss_response.content)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    channel = rss.find("channel")
    for required in ("title", "link", "description"):
        assert channel.find(required) is not None, required
    items = channel.findall("item")
    assert [i.find("title").text for i in items] == [
        "Upload errors: Identified",
        "Upload errors: Investigating",
    ]
    assert items[1].find("guid").text.endswith(f"#update-{first.pk}")
    assert items[0].find("pubDate").text == "Tue, 10 Mar 2026 12:00:00 +0000"
    assert items[1].find("description").text == summary.text


# --- caching --------------------------------------------------------------------------------------
def test_cached_hit_is_one_query_and_new_update_gives_new_content(client, db, now):
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Queue backlog")
    post(inc, "Looking.")
    for url in URLS:
        first = client.get(url)
        with CaptureQueriesContext(connection) as queries:
            again = client.get(url)
        assert len(queries) == 1, (url, [q["sql"] for q in queries])
        assert again.content == first.content and again["ETag"] == first["ETag"]
        assert again["Cache-Control"] == "public, max-age=15"
        assert again["Last-Modified"] == "Tue, 10 Mar 2026 12:00:00 GMT"

    etag = client.get("/status/").headers["ETag"]
    post(inc, "A NEW UPDATE arrived.", template="identified")
    fresh = client.get("/status/")
    assert "A NEW UPDATE arrived." in fresh.content.decode()
    assert fresh["ETag"] != etag
    assert "A NEW UPDATE arrived." in json.dumps(summary(client))


def test_conditional_gets_answer_304(client, db, now):
    ServiceFactory(slug="api", name="API")
    for url in URLS:
        response = client.get(url)
        etag, modified = response["ETag"], response["Last-Modified"]
        with CaptureQueriesContext(connection) as queries:
            not_modified = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified["ETag"] == etag
        assert len(queries) == 1
        assert client.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
        assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_incident_changes_through_the_services_change_the_page(client, db, now, ic_user):
    api, web = ServiceFactory(slug="api", name="API"), ServiceFactory(slug="web", name="Web")
    inc = incident("P3", [api], title="Search slow", actor=ic_user)
    put_on_call(ic_user)  # the P3 IC is the on-call engineer (3.1)
    services.incident_assign_role(
        actor=ic_user, incident_id=inc.pk, role="incident_commander", user=ic_user
    )
    post(inc, "Looking.")
    assert states(client, "api", "web") == {"api": "degraded", "web": "operational"}
    services.incident_update(actor=ic_user, incident_id=inc.pk, severity="P1", reason="worse")
    assert states(client, "api", "web") == {"api": "major_outage", "web": "operational"}
    services.incident_update(actor=ic_user, incident_id=inc.pk, services=[web])
    assert states(client, "api", "web") == {"api": "operational", "web": "major_outage"}
    services.incident_update(actor=ic_user, incident_id=inc.pk, title="Search down")
    assert summary(client)["incidents"][0]["title"] == "Search down"


def test_remembered_version_serves_without_queries_then_catches_up(client, db, settings):
    """With the default TTL a process reuses the version for a second: a hit costs no query,
    and a change shows once the TTL has passed."""
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 60
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    post(inc, "First.")
    client.get("/status/summary.json")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/status/summary.json").status_code == 200
    assert len(queries) == 0
    post(inc, "SECOND update.")
    assert "SECOND" not in client.get("/status/summary.json").content.decode()
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0  # as if the TTL had passed
    assert "SECOND" in client.get("/status/summary.json").content.decode()


def test_post_and_other_methods_are_refused(client, db):
    for url in URLS:
        assert client.post(url).status_code == 405
