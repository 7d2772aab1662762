"""Who may grant what (issue 12, finding 4): an SRE lead reached restricted incidents by
creating an account in `security`, by resetting a security member's password in the admin
and signing in as them, and by creating an `allow_restricted` webhook. Only a superuser and
the security lead may do these, through every door; a refusal changes nothing and leaves no
audit row, an allowed change leaves one."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from incidents.audit import acting_as
from incidents.models import AuditEvent, User
from incidents.states import AuditAction
from integrations.models import WebhookSubscription
from integrations.services.integrations import subscription_create
from tests.factories import PASSWORD, UserFactory
from tests.test_admin import _form_data

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def security_lead(db):
    """The security lead, also an SRE lead so the admin and the people API are open to them."""
    return UserFactory(
        username="sec-lead", rank="security_lead", groups=["security", "sre_lead"], is_staff=True
    )


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def member(db):
    """Someone in the security group (reads restricted incidents)."""
    return UserFactory(username="sec-analyst", groups=["security"])


@pytest.fixture
def plain(db):
    return UserFactory(username="plain", groups=["responder"])


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def audit_count() -> int:
    return AuditEvent.objects.count()


def groups_of(user) -> set[str]:
    return set(User.objects.get(pk=user.pk).groups.values_list("name", flat=True))


def new_user_body(**overrides) -> dict:
    return {
        "username": "newcomer",
        "password": "a-long-enough-passphrase",
        "email": "newcomer@tensafe.test",
        "rank": "engineer",
        "groups": ["security"],
        **overrides,
    }


# --- creating an account in `security` (API) --------------------------------------------------
def test_an_sre_lead_cannot_create_a_security_member_through_the_api(api, sre_lead):
    client = api(sre_lead)
    before = audit_count()
    response = client.post("/api/v1/users/", new_user_body(), format="json")
    assert response.status_code == 403, response.content
    assert "security lead or a superuser" in response.json()["detail"]
    assert not User.objects.filter(username="newcomer").exists()
    assert audit_count() == before


def test_an_sre_lead_cannot_create_a_security_lead_through_the_api(api, sre_lead):
    body = new_user_body(groups=["responder"], rank="security_lead")
    response = api(sre_lead).post("/api/v1/users/", body, format="json")
    assert response.status_code == 403, response.content
    assert "security_lead rank" in response.json()["detail"]
    assert not User.objects.filter(username="newcomer").exists()


@pytest.mark.parametrize("who", ["security_lead", "superuser"])
def test_the_security_lead_and_a_superuser_create_security_members(api, request, who):
    actor = request.getfixturevalue(who)
    response = api(actor).post("/api/v1/users/", new_user_body(), format="json")
    assert response.status_code == 201, response.content
    created = User.objects.get(username="newcomer")
    assert groups_of(created) == {"security"}
    rows = AuditEvent.objects.filter(target_user=created, actor=actor)
    assert set(rows.values_list("action", flat=True)) == {
        AuditAction.USER_CREATED,
        AuditAction.GROUP_ADDED,
    }
    assert rows.get(action=AuditAction.GROUP_ADDED).details == {"group": "security"}
    assert rows.first().remote_addr == "127.0.0.1"


def test_an_sre_lead_still_creates_other_people(api, sre_lead):
    body = new_user_body(groups=["responder"])
    assert api(sre_lead).post("/api/v1/users/", body, format="json").status_code == 201
    assert AuditEvent.objects.filter(
        actor=sre_lead, action=AuditAction.GROUP_ADDED, target_user__username="newcomer"
    ).exists()


# --- granting `security` in the admin -----------------------------------------------------------
def _change_groups(client, user, names):
    page = client.get(f"/admin/incidents/user/{user.pk}/change/")
    assert page.status_code == 200
    data = _form_data(page)
    data["groups"] = [str(g.pk) for g in Group.objects.filter(name__in=names)]
    return client.post(f"/admin/incidents/user/{user.pk}/change/", data)


@pytest.mark.parametrize("target", ["plain", "sre_lead"])  # someone else, or themselves
def test_an_sre_lead_cannot_grant_security_in_the_user_admin(request, sre_lead, target):
    user = request.getfixturevalue(target)
    had = groups_of(user)
    before = audit_count()
    response = _change_groups(admin_client(sre_lead), user, [*had, "security"])
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert "security lead or a superuser" in str(errors["groups"])
    assert groups_of(user) == had
    assert audit_count() == before


@pytest.mark.parametrize("who", ["security_lead", "superuser"])
def test_the_security_lead_and_a_superuser_grant_security_in_the_user_admin(request, plain, who):
    actor = request.getfixturevalue(who)
    response = _change_groups(admin_client(actor), plain, ["responder", "security"])
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert groups_of(plain) == {"responder", "security"}
    row = AuditEvent.objects.get(action=AuditAction.GROUP_ADDED, target_user=plain, actor=actor)
    assert row.details == {"group": "security"}


def test_removing_a_membership_in_the_admin_is_audited(sre_lead, plain):
    response = _change_groups(admin_client(sre_lead), plain, ["viewer"])
    assert response.status_code == 302
    actions = AuditEvent.objects.filter(target_user=plain, actor=sre_lead)
    assert {(row.action, row.details["group"]) for row in actions} == {
        (AuditAction.GROUP_REMOVED, "responder"),
        (AuditAction.GROUP_ADDED, "viewer"),
    }


def test_an_sre_lead_cannot_give_the_security_lead_rank_in_the_admin(sre_lead, plain):
    page = admin_client(sre_lead).get(f"/admin/incidents/user/{plain.pk}/change/")
    data = {**_form_data(page), "rank": "security_lead"}
    response = admin_client(sre_lead).post(f"/admin/incidents/user/{plain.pk}/change/", data)
    assert response.status_code == 200
    assert "security_lead rank" in str(response.context["adminform"].form.errors["rank"])
    assert User.objects.get(pk=plain.pk).rank == "engineer"


def test_an_sre_lead_cannot_open_the_group_admin(sre_lead):
    security = Group.objects.get(name="security")
    client = admin_client(sre_lead)
    assert client.get(f"/admin/auth/group/{security.pk}/change/").status_code == 403
    response = client.post(
        f"/admin/auth/group/{security.pk}/change/", {"name": "security", "permissions": []}
    )
    assert response.status_code == 403


def test_membership_added_from_the_group_side_is_checked_and_audited(sre_lead, superuser, plain):
    """Any other door (a group's user_set, the shell within a request) ends at the hook."""
    security = Group.objects.get(name="security")
    before = audit_count()
    with acting_as(sre_lead), pytest.raises(PermissionDenied), transaction.atomic():
        security.user_set.add(plain)
    assert "security" not in groups_of(plain)
    assert audit_count() == before
    with acting_as(superuser):
        security.user_set.add(plain)
    assert "security" in groups_of(plain)
    row = AuditEvent.objects.get(
        action=AuditAction.GROUP_ADDED, target_user=plain, details__group="security"
    )
    assert row.actor == superuser


# --- resetting a security member's password in the admin -------------------------------------
def _reset_password(client, user):
    return client.post(
        f"/admin/incidents/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def _signs_in(user, password) -> bool:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": password}, format="json"
    )
    return response.status_code == 200


@pytest.mark.parametrize("target", ["member", "security_lead"])
def test_an_sre_lead_cannot_reset_a_security_members_password(request, sre_lead, target):
    user = request.getfixturevalue(target)
    before = audit_count()
    response = _reset_password(admin_client(sre_lead), user)
    assert response.status_code == 200
    assert "security lead or a superuser" in response.content.decode()
    assert audit_count() == before
    assert _signs_in(user, PASSWORD)
    assert not _signs_in(user, NEW_PASSWORD)


@pytest.mark.parametrize("who", ["security_lead", "superuser"])
def test_the_security_lead_and_a_superuser_reset_a_members_password(request, member, who):
    actor = request.getfixturevalue(who)
    response = _reset_password(admin_client(actor), member)
    assert response.status_code == 302
    assert _signs_in(member, NEW_PASSWORD)
    row = AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET, target_user=member)
    assert row.latest("id").actor == actor


def test_an_sre_lead_still_resets_other_peoples_passwords(sre_lead, plain):
    assert _reset_password(admin_client(sre_lead), plain).status_code == 302
    assert _signs_in(plain, NEW_PASSWORD)
    row = AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET, target_user=plain)
    assert row.latest("id").actor == sre_lead


def test_the_password_hook_refuses_an_sre_lead_through_any_other_door(sre_lead, member):
    member.set_password(NEW_PASSWORD)
    with acting_as(sre_lead), pytest.raises(PermissionDenied), transaction.atomic():
        member.save()
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)


# --- allow_restricted webhooks ------------------------------------------------------------------
@pytest.fixture
def outbound(settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]


def webhook_body(**overrides) -> dict:
    return {
        "name": "siem",
        "url": "http://127.0.0.1:9/hook",
        "events": ["declared"],
        "allow_restricted": True,
        **overrides,
    }


def test_an_sre_lead_cannot_create_an_allow_restricted_webhook(api, sre_lead, outbound):
    client = api(sre_lead)
    before = audit_count()
    response = client.post("/api/v1/webhooks/", webhook_body(), format="json")
    assert response.status_code == 403, response.content
    assert "allow_restricted" in response.json()["detail"]
    assert not WebhookSubscription.objects.exists()
    assert audit_count() == before


def test_an_sre_lead_cannot_turn_allow_restricted_on(api, sre_lead, outbound):
    sub = subscription_create(actor=None, **webhook_body(allow_restricted=False))
    client = api(sre_lead)
    before = audit_count()
    response = client.patch(
        f"/api/v1/webhooks/{sub.pk}/", {"allow_restricted": True}, format="json"
    )
    assert response.status_code == 403, response.content
    assert WebhookSubscription.objects.get(pk=sub.pk).allow_restricted is False
    assert audit_count() == before
    # Other changes and turning it off stay the SRE lead's.
    off = client.patch(f"/api/v1/webhooks/{sub.pk}/", {"enabled": False}, format="json")
    assert off.status_code == 200


def test_an_sre_lead_cannot_set_allow_restricted_in_the_admin(sre_lead, outbound):
    client = admin_client(sre_lead)
    data = {
        "name": "siem",
        "url": "http://127.0.0.1:9/hook",
        "events": ["declared"],
        "enabled": "on",
        "allow_restricted": "on",
        "secret": "s" * 40,
    }
    response = client.post("/admin/integrations/webhooksubscription/add/", data)
    assert response.status_code == 200
    assert "security lead or a superuser" in str(
        response.context["adminform"].form.errors["allow_restricted"]
    )
    assert not WebhookSubscription.objects.exists()
    sub = subscription_create(actor=None, **webhook_body(allow_restricted=False))
    page = client.get(f"/admin/integrations/webhooksubscription/{sub.pk}/change/")
    data = {**_form_data(page), "allow_restricted": "on"}
    response = client.post(f"/admin/integrations/webhooksubscription/{sub.pk}/change/", data)
    assert response.status_code == 200
    assert WebhookSubscription.objects.get(pk=sub.pk).allow_restricted is False


@pytest.mark.parametrize("who", ["security_lead", "superuser"])
def test_the_security_lead_and_a_superuser_set_allow_restricted(api, request, who, outbound):
    actor = request.getfixturevalue(who)
    client = api(actor)
    response = client.post("/api/v1/webhooks/", webhook_body(), format="json")
    assert response.status_code == 201, response.content
    sub = WebhookSubscription.objects.get(name="siem")
    assert sub.allow_restricted
    off = client.patch(f"/api/v1/webhooks/{sub.pk}/", {"allow_restricted": False}, format="json")
    assert off.status_code == 200
    rows = AuditEvent.objects.filter(target_type="integrations.webhooksubscription").order_by("id")
    assert [(row.action, row.actor) for row in rows] == [
        (AuditAction.GRANT_ON, actor),
        (AuditAction.GRANT_OFF, actor),
    ]
    assert rows[0].details["grant"] == "allow_restricted"


def test_the_security_lead_sets_allow_restricted_in_the_admin(security_lead, outbound):
    sub = subscription_create(actor=None, **webhook_body(allow_restricted=False))
    client = admin_client(security_lead)
    page = client.get(f"/admin/integrations/webhooksubscription/{sub.pk}/change/")
    data = {**_form_data(page), "allow_restricted": "on"}
    response = client.post(f"/admin/integrations/webhooksubscription/{sub.pk}/change/", data)
    assert response.status_code == 302
    assert WebhookSubscription.objects.get(pk=sub.pk).allow_restricted
    row = AuditEvent.objects.get(action=AuditAction.GRANT_ON)
    assert (row.actor, row.target_id) == (security_lead, str(sub.pk))
