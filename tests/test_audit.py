"""The audit log (issue 12): every change of users, groups, passwords, tokens and grants is
a row written in the change's own transaction, and SRE leads read it (API and admin), read
only."""

import pytest
from django.db import transaction
from django.test import Client

from incidents.audit import acting_as
from incidents.models import AuditEvent, User
from incidents.services import user_create
from incidents.states import AuditAction
from tests.factories import PASSWORD, TeamFactory, UserFactory
from tests.test_admin import _form_data

pytestmark = pytest.mark.django_db
AUDIT = "/api/v1/audit/"


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_user_created_through_the_service_is_audited_with_its_groups(sre_lead):
    user = user_create(
        actor=sre_lead, username="dana", password="a-long-passphrase", groups=["responder"]
    )
    rows = AuditEvent.objects.filter(target_user=user).order_by("id")
    assert [(row.action, row.actor) for row in rows] == [
        (AuditAction.USER_CREATED, sre_lead),
        (AuditAction.GROUP_ADDED, sre_lead),
    ]
    assert rows[0].details["password_set"] is True
    assert rows[0].actor_username == sre_lead.username


def test_rank_team_and_staff_changes_in_the_admin_are_audited(sre_lead):
    user = UserFactory(username="erin", groups=["responder"])
    team = TeamFactory(slug="payments", name="Payments")
    client = admin_client(sre_lead)
    page = client.get(f"/admin/incidents/user/{user.pk}/change/")
    data = {**_form_data(page), "rank": "senior_engineer", "team": str(team.pk)}
    data.pop("is_active")  # unticked: deactivated
    response = client.post(f"/admin/incidents/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    changed = AuditEvent.objects.get(action=AuditAction.USER_CHANGED, target_user=user)
    assert changed.actor == sre_lead
    assert changed.details == {
        "rank": {"old": "engineer", "new": "senior_engineer"},
        "team_id": {"old": None, "new": team.pk},
    }
    assert changed.remote_addr == "127.0.0.1"
    assert AuditEvent.objects.filter(
        action=AuditAction.USER_DEACTIVATED, target_user=user, actor=sre_lead
    ).exists()


def test_the_audit_row_rolls_back_with_its_change(sre_lead):
    user = UserFactory(username="fred")
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic(), acting_as(sre_lead):
        user.rank = "senior_engineer"
        user.save()
        raise RuntimeError("the change fails after the save")
    assert AuditEvent.objects.count() == before
    assert User.objects.get(pk=user.pk).rank == "engineer"


def test_signing_in_is_not_a_change(sre_lead):
    before = AuditEvent.objects.count()
    assert Client().login(username=sre_lead.username, password=PASSWORD)
    assert AuditEvent.objects.count() == before


# --- reading it -------------------------------------------------------------------------------
def test_sre_leads_read_the_audit_log_paginated_and_filtered(api, sre_lead, superuser_client):
    for name in ("gina", "hal"):
        user_create(actor=sre_lead, username=name, password="a-long-passphrase")
    client = api(sre_lead)
    body = client.get(AUDIT, {"page_size": 2}).json()
    assert body["count"] >= 4 and len(body["results"]) == 2 and body["next"]
    newest = body["results"][0]
    assert {"id", "at", "actor", "action", "target_user", "details", "remote_addr"} <= set(newest)
    by_target = client.get(AUDIT, {"target": "gina"}).json()["results"]
    assert {row["target_user"] for row in by_target} == {"gina"}
    created = client.get(AUDIT, {"action": "user.created", "actor": sre_lead.username}).json()
    assert sorted(row["target_user"] for row in created["results"]) == ["gina", "hal"]
    assert client.get(AUDIT, {"action": "no.such"}).status_code == 400
    # Present but empty is not "every action": the schema lists the values (fuzzing found it).
    empty = client.get(AUDIT, {"action": ""})
    assert empty.status_code == 400 and "action" in empty.json()
    assert superuser_client.get(AUDIT).status_code == 200


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


@pytest.mark.parametrize("who", ["responder", "viewer", "ic_user", "security_user"])
def test_only_sre_leads_read_the_audit_log(api, request, who):
    response = api(request.getfixturevalue(who)).get(AUDIT)
    assert response.status_code == 403
    assert "SRE lead" in response.json()["detail"]


def test_the_admin_shows_the_log_read_only(sre_lead, responder):
    user_create(actor=sre_lead, username="ivy", password="a-long-passphrase")
    row = AuditEvent.objects.filter(action=AuditAction.USER_CREATED).latest("id")
    client = admin_client(sre_lead)
    listing = client.get("/admin/incidents/auditevent/")
    assert listing.status_code == 200 and b"ivy" in listing.content
    change = client.get(f"/admin/incidents/auditevent/{row.pk}/change/")
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert client.get("/admin/incidents/auditevent/add/").status_code == 403
    assert client.post(f"/admin/incidents/auditevent/{row.pk}/delete/").status_code == 403
    assert client.post(f"/admin/incidents/auditevent/{row.pk}/change/", {}).status_code == 403
    assert AuditEvent.objects.filter(pk=row.pk).exists()
    outsider = admin_client(responder).get("/admin/incidents/auditevent/")
    assert outsider.status_code == 302
