"""API tokens in the admin: SRE leads see who holds which (never a secret or its digest) and
revoke them through the tokens service, audited like the owner's own revocation. Second actors:
the owner, another lead revoking first, a staff member who is no lead, someone without the
admin, a lead and a superuser's token."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.test import Client
from rest_framework.test import APIClient

from incidents.admin.tokens import REVOKED_IN_ADMIN
from incidents.models import ApiToken, AuditEvent
from incidents.services import api_token_create, api_token_revoke_for
from incidents.states import AuditAction
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/incidents/apitoken/"
ME = "/api/v1/users/me/"


def works(secret: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = client.get(ME)
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200


def revoke(client, *tokens):
    return client.post(LIST, {"action": "revoke", "_selected_action": [t.pk for t in tokens]})


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def revocations():
    return AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", groups=["responder"])


@pytest.fixture
def tokens(alice):
    """alice's two tokens and bob's one, with their secrets."""
    bob = UserFactory(username="bob", groups=["responder"])
    made = {
        "ci": api_token_create(user=alice, name="ci"),
        "grafana": api_token_create(user=alice, name="grafana"),
        "bob": api_token_create(user=bob, name="laptop"),
    }
    return {name: {"token": token, "secret": secret} for name, (token, secret) in made.items()}


@pytest.fixture
def lead(client, sre_lead):
    client.force_login(sre_lead)
    return client


def test_a_lead_lists_tokens_without_their_secret_or_digest(lead, tokens):
    response = lead.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for entry in tokens.values():
        token = entry["token"]
        assert f"{token.prefix}…" in html and token.name in html
        assert entry["secret"] not in html and token.digest not in html
    assert "alice" in html and "bob" in html and "live" in html
    assert f'href="{LIST}"' in lead.get("/admin/").content.decode()
    token = tokens["ci"]["token"]
    page = lead.get(f"{LIST}{token.pk}/change/")
    assert page.status_code == 200
    assert token.digest not in page.content.decode()
    assert tokens["ci"]["secret"] not in page.content.decode()
    assert "digest" not in page.context["adminform"].form.fields


def test_the_list_is_read_only_even_for_a_lead(lead, tokens):
    token = tokens["ci"]["token"]
    assert lead.get(f"{LIST}add/").status_code == 403
    assert lead.post(f"{LIST}{token.pk}/delete/").status_code == 403
    assert lead.post(f"{LIST}{token.pk}/change/", {"name": "renamed"}).status_code == 403
    token.refresh_from_db()
    assert token.name == "ci" and ApiToken.objects.count() == 3


def test_a_lead_revokes_and_the_token_is_401_audited_like_the_owners_revocation(
    lead, sre_lead, alice, tokens
):
    ci = tokens["ci"]
    assert works(ci["secret"])
    response = revoke(lead, ci["token"])
    assert response.status_code == 302
    assert said(response) == ["1 token(s) revoked."]
    assert not works(ci["secret"])
    assert works(tokens["grafana"]["secret"]) and works(tokens["bob"]["secret"])
    event = revocations().get()
    assert (event.actor, event.target_user, event.target_id) == (
        sre_lead,
        alice,
        str(ci["token"].pk),
    )
    assert event.details == {"token_ids": [ci["token"].pk], "reason": REVOKED_IN_ADMIN}
    ci["token"].refresh_from_db()
    assert ci["token"].revoked_reason == REVOKED_IN_ADMIN
    assert "revoked" in lead.get(LIST, {"state": "revoked"}).content.decode()
    assert lead.get(LIST, {"state": "revoked"}).context["cl"].result_count == 1
    assert lead.get(LIST, {"state": "live"}).context["cl"].result_count == 2


def test_two_leads_revoke_one_token_and_the_second_changes_nothing(client, sre_lead, tokens):
    first, second = Client(), client
    first.force_login(sre_lead)
    second.force_login(UserFactory(username="other-lead", groups=["sre_lead"], is_staff=True))
    ci = tokens["ci"]["token"]
    revoke(first, ci)
    ci.refresh_from_db()
    revoked_at = ci.revoked_at
    late = revoke(second, ci)
    assert said(late) == [f"{ci} of alice: already revoked."]
    ci.refresh_from_db()
    assert ci.revoked_at == revoked_at
    assert [e.actor for e in revocations()] == [sre_lead]


def test_the_service_revokes_for_a_lead_the_owner_and_nobody_else(alice, tokens):
    """What the admin calls: a responder may not revoke someone else's token; the owner may."""
    bobs = tokens["bob"]["token"]
    with pytest.raises(PermissionDenied):
        api_token_revoke_for(actor=alice, token_id=bobs.pk)
    assert works(tokens["bob"]["secret"]) and not revocations().exists()
    api_token_revoke_for(actor=alice, token_id=tokens["ci"]["token"].pk)
    assert not works(tokens["ci"]["secret"])
    assert revocations().get().actor == alice


def test_a_lead_may_not_revoke_a_superusers_token_a_superuser_may(lead, tokens):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    token, secret = api_token_create(user=root, name="ops")
    response = revoke(lead, token, tokens["bob"]["token"])
    assert said(response) == [
        f"{token} of root: Only a superuser may revoke a superuser's API token.",
        "1 token(s) revoked.",
    ]
    assert works(secret) and not works(tokens["bob"]["secret"])
    assert revocations().count() == 1

    other = Client()
    other.force_login(root)
    assert said(revoke(other, token)) == ["1 token(s) revoked."]
    assert not works(secret)


def test_a_staff_member_who_is_no_lead_is_refused(client, tokens):
    client.force_login(UserFactory(groups=["incident_commander", "security"], is_staff=True))
    assert client.get(LIST).status_code == 403
    assert f'href="{LIST}"' not in client.get("/admin/").content.decode()
    assert revoke(client, tokens["ci"]["token"]).status_code == 403
    assert works(tokens["ci"]["secret"]) and not revocations().exists()


@pytest.mark.parametrize("who", ["anonymous", "lead not staff"])
def test_someone_without_the_admin_is_sent_to_sign_in(client, tokens, who):
    if who != "anonymous":
        client.force_login(UserFactory(groups=["sre_lead"], is_staff=False))
    response = client.get(LIST)
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    assert revoke(client, tokens["ci"]["token"]).status_code == 302
    assert works(tokens["ci"]["secret"]) and not revocations().exists()


def test_the_revoke_action_needs_the_csrf_token(sre_lead, tokens):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(sre_lead)
    assert revoke(browser, tokens["ci"]["token"]).status_code == 403
    assert works(tokens["ci"]["secret"]) and not revocations().exists()
