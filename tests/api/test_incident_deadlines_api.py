"""The incident detail shows what is pending and what the procedures ask for, in words (issue
14, items 8 and 12): `deadlines` (every pending deadline with a human label, never its key),
`bridge` (6.1), `channel_closed_at` (Appendix A) and `escalation_responses` (5.3); and the
schema documents them and the two new actions."""

import time_machine
from django.utils import timezone

from incidents.services.timers import deadlines_fire_due
from tests.api.conftest import incident_url
from tests.factories import UserFactory, declare


def test_every_pending_deadline_is_in_the_detail_in_words(api, ic_user, incident):
    body = api(ic_user).get(incident_url(incident)).json()

    labels = {d["key"]: d["label"] for d in body["deadlines"]}
    assert {
        "triage:window",
        "roles:ic:remind",
        "roles:ic:escalate",
        "roles:assign:remind",
        "roles:assign:escalate",
    } <= set(labels)
    assert labels["triage:window"] == (
        "Triage checklist (4.3) reminder: the first 5 minutes of triage end (4.2)"
    )
    assert labels["roles:ic:escalate"] == (
        "Incident Commander to be assigned (Appendix A: first 5 minutes): escalation to the manager"
    )
    assert labels["roles:assign:remind"] == (
        "Technical Lead, Communications Lead and Scribe to be assigned "
        "(Appendix A: first 15 minutes): reminder"
    )
    for deadline in body["deadlines"]:
        assert deadline["label"] and deadline["label"] != deadline["key"], deadline
        assert ":" not in deadline["label"].split(" ", 1)[0], deadline  # no "kind:…" key
    due = [d["due_at"] for d in body["deadlines"]]
    assert due == sorted(due)
    assert body["escalation_responses"] == []
    assert body["channel_closed_at"] is None
    assert body["bridge"]["setting"] == "required"
    assert body["bridge"]["url"] == body["bridge_url"] != ""


def test_a_late_contact_is_in_the_detail_with_the_next_step(api, ic_user, incident):
    UserFactory(username="victor-vp", rank="vp_engineering")
    api(ic_user).post(incident_url(incident, "acknowledge"))
    detected = incident.detected_at
    with time_machine.travel(detected + timezone.timedelta(minutes=30), tick=False):
        deadlines_fire_due()
    with time_machine.travel(detected + timezone.timedelta(minutes=45), tick=False):
        deadlines_fire_due()

    body = api(ic_user).get(incident_url(incident)).json()
    (vp,) = [r for r in body["escalation_responses"] if r["contact"] == "vp_engineering"]
    assert vp["status"] == "late"
    assert (vp["contact_name"], vp["people"]) == ("VP Engineering", ["victor-vp"])
    assert vp["next_contact"]["name"] == "CTO"


def test_the_schema_documents_the_detail_and_the_actions(client, db):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/incidents/{id}/bridge/"]
    assert "post" in paths["/api/v1/incidents/{id}/escalation-responses/{response_id}/page-next/"]
    detail = schema["components"]["schemas"]["IncidentDetailOutput"]["properties"]
    assert {"deadlines", "bridge", "channel_closed_at", "escalation_responses"} <= set(detail)


def test_the_list_stays_as_it_was(api, ic_user, incident):
    """The list's rows are the contract's and built from .values(): nothing was added."""
    row = api(ic_user).get("/api/v1/incidents/").json()["results"][0]
    assert not {"deadlines", "bridge", "escalation_responses"} & set(row)


def test_a_p3_detail_offers_a_bridge_to_who_may_ask(api, ic_user, sre_lead):
    p3 = declare(actor=ic_user, severity="P3")
    body = api(ic_user).get(incident_url(p3)).json()
    assert body["bridge_url"] == ""
    assert body["bridge"]["can_request"] is False  # not its IC
    assert api(sre_lead).get(incident_url(p3)).json()["bridge"]["can_request"] is True
