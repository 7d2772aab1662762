"""API tokens (issue 12, finding 5): hashed at rest, expiring, listed and revoked by their
owner, revoked all at once by a password change or a deactivation. Two users throughout:
what one does to their tokens never touches the other's."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import ApiToken, AuditEvent
from incidents.services import user_password_set
from incidents.states import AuditAction
from tests.factories import PASSWORD, UserFactory

from .conftest import assert_error

TOKEN = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"
ME = "/api/v1/users/me/"


def sign_in(user, name="") -> dict:
    response = APIClient().post(
        TOKEN, {"username": user.username, "password": PASSWORD, "name": name}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", groups=["responder"])


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", groups=["responder"])


def test_sign_in_gives_a_new_token_each_time_with_its_expiry(alice, settings):
    settings.TENSAFE_API_TOKEN_DAYS = 30
    first, second = sign_in(alice, "ci"), sign_in(alice, "grafana")
    assert first["token"] != second["token"]
    assert {"id", "expires_at", "name", "prefix"} <= set(first)
    token = ApiToken.objects.get(pk=first["id"])
    assert token.expires_at - token.created_at == timedelta(days=30)
    for body in (first, second):
        assert client_with(body["token"]).get(ME).json()["username"] == "alice"


def test_the_token_is_stored_hashed_nowhere_in_clear(alice):
    secret = sign_in(alice)["token"]
    row = ApiToken.objects.get(user=alice)
    assert secret not in (row.digest, row.prefix, row.name)
    assert secret.startswith(row.prefix) and len(row.prefix) < len(secret) // 4
    with connection.cursor() as cursor:
        for table in ("incidents_apitoken", "incidents_auditevent"):
            cursor.execute(f"SELECT * FROM {table}")
            assert not any(secret in str(value) for rows in cursor.fetchall() for value in rows)


def test_an_expired_token_is_401_saying_expired(alice, settings):
    settings.TENSAFE_API_TOKEN_DAYS = 30
    secret = sign_in(alice)["token"]
    with time_machine.travel(timezone.now() + timedelta(days=30, seconds=1)):
        body = assert_error(client_with(secret).get(ME), 401)
    assert "expired" in body["detail"].lower()
    with time_machine.travel(timezone.now() + timedelta(days=29)):
        assert client_with(secret).get(ME).status_code == 200


def test_delete_revokes_the_calling_token_only(alice, bob):
    first, second = sign_in(alice)["token"], sign_in(alice)["token"]
    bobs = sign_in(bob)["token"]
    assert client_with(first).delete(TOKEN).status_code == 204
    body = assert_error(client_with(first).get(ME), 401)
    assert "revoked" in body["detail"].lower()
    assert client_with(second).get(ME).status_code == 200
    assert client_with(bobs).get(ME).status_code == 200
    revoked = AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED, target_user=alice)
    assert revoked.count() == 1 and revoked.get().actor == alice


def test_delete_with_a_session_names_the_other_way(alice):
    client = Client()
    client.force_login(alice)
    body = assert_error(client.delete(TOKEN), 400)
    assert "/api/v1/auth/tokens/" in body["detail"]


def test_list_shows_only_ones_own_tokens_without_secrets(alice, bob):
    mine = [sign_in(alice, "ci"), sign_in(alice, "grafana")]
    sign_in(bob, "bob's")
    response = client_with(mine[0]["token"]).get(TOKENS)
    assert response.status_code == 200
    rows = response.json()
    assert sorted(row["name"] for row in rows) == ["ci", "grafana"]
    assert {row["id"] for row in rows} == {body["id"] for body in mine}
    assert all("token" not in row and "digest" not in row for row in rows)
    assert all(row["prefix"] and row["revoked_at"] is None for row in rows)


def test_revoke_one_of_ones_own_by_id_and_anothers_is_404(alice, bob):
    alices, other = sign_in(alice), sign_in(alice)
    bobs = sign_in(bob)
    client = client_with(alices["token"])
    assert_error(client.delete(f"{TOKENS}{bobs['id']}/"), 404)
    assert client_with(bobs["token"]).get(ME).status_code == 200
    assert client.delete(f"{TOKENS}{other['id']}/").status_code == 204
    assert_error(client_with(other["token"]).get(ME), 401)
    assert client.get(ME).status_code == 200
    assert_error(client.delete(f"{TOKENS}{2**70}/"), 404)


def test_last_used_is_written_at_most_once_a_minute(alice):
    body = sign_in(alice)
    client = client_with(body["token"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(ME)
        client.get(ME)
    row = ApiToken.objects.get(pk=body["id"])
    assert row.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        client.get(ME)
    assert ApiToken.objects.get(pk=body["id"]).last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get(ME)
    assert ApiToken.objects.get(pk=body["id"]).last_used_at == start + timedelta(seconds=61)


def test_a_password_change_revokes_all_of_that_users_tokens(alice, bob):
    alices = [sign_in(alice)["token"] for _ in range(2)]
    bobs = sign_in(bob)["token"]
    user_password_set(actor=alice, user=alice, password="a-new-long-passphrase")
    for secret in alices:
        assert "revoked" in assert_error(client_with(secret).get(ME), 401)["detail"].lower()
    assert client_with(bobs).get(ME).status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.PASSWORD_CHANGED, target_user=alice, actor=alice
    ).exists()
    revoked = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED, target_user=alice)
    assert revoked.details["reason"] == "password changed"
    assert len(revoked.details["token_ids"]) == 2


def test_a_password_change_in_the_admin_revokes_the_tokens(alice, bob):
    alices = sign_in(alice)["token"]
    bobs = sign_in(bob)["token"]
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(superuser)
    response = admin.post(
        f"/admin/incidents/user/{alice.pk}/password/",
        {"password1": "another-long-passphrase", "password2": "another-long-passphrase"},
    )
    assert response.status_code == 302, response.content
    assert_error(client_with(alices).get(ME), 401)
    assert client_with(bobs).get(ME).status_code == 200


def test_a_password_change_on_the_admins_own_page_revokes_the_tokens(alice):
    alice.is_staff = True
    alice.save()
    secret = sign_in(alice)["token"]
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "yet-another-passphrase",
            "new_password2": "yet-another-passphrase",
        },
    )
    assert response.status_code == 302, response.content
    assert_error(client_with(secret).get(ME), 401)
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGED, actor=alice).exists()


def test_a_password_set_outside_any_request_revokes_the_tokens(alice):
    """`manage.py changepassword`, the shell: set_password and save."""
    secret = sign_in(alice)["token"]
    alice.password = make_password("from-the-shell-123")
    alice.save()
    assert_error(client_with(secret).get(ME), 401)
    row = AuditEvent.objects.filter(target_user=alice).latest("id")
    assert (row.action, row.actor) == (AuditAction.TOKEN_REVOKED, None)
    reset = AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET, target_user=alice)
    assert reset.latest("id").actor is None


def test_deactivation_revokes_the_tokens_and_reactivation_does_not_bring_them_back(alice, bob):
    secret = sign_in(alice)["token"]
    bobs = sign_in(bob)["token"]
    alice.is_active = False
    alice.save()
    assert_error(client_with(secret).get(ME), 401)
    alice.is_active = True
    alice.save()
    assert "revoked" in assert_error(client_with(secret).get(ME), 401)["detail"].lower()
    assert client_with(bobs).get(ME).status_code == 200
    actions = set(AuditEvent.objects.filter(target_user=alice).values_list("action", flat=True))
    assert {
        AuditAction.USER_DEACTIVATED,
        AuditAction.USER_ACTIVATED,
        AuditAction.TOKEN_REVOKED,
    } <= actions


def test_sign_in_takes_a_form_body_as_it_always_did(alice):
    response = APIClient().post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.content
    assert client_with(response.json()["token"]).get(ME).status_code == 200


def test_a_stale_token_does_not_stop_signing_in(alice):
    client = client_with("0" * 40)
    response = client.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_token_routes_need_a_token(db):
    assert_error(APIClient().get(TOKENS), 401)
    assert_error(APIClient().delete(TOKEN), 401)
    assert_error(APIClient().delete(f"{TOKENS}1/"), 401)


def test_the_compiled_lookup_reads_what_the_orm_reads_in_one_query(alice, bob):
    """incidents.api.authentication.token_with_user sends SQL the ORM compiled once: the same
    token and user, every field as the ORM gives it (times, booleans, the team), for each
    token; an unknown digest is None; one query."""
    from django.test.utils import CaptureQueriesContext

    from incidents.api.authentication import token_with_user
    from incidents.models import User
    from incidents.models.accounts import token_digest

    def fields(obj) -> dict:
        return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}

    User.objects.filter(pk=bob.pk).update(last_login=timezone.now(), is_staff=True)
    for user in (alice, bob):
        digest = token_digest(sign_in(user)["token"])
        expected = ApiToken.objects.select_related("user").get(digest=digest)
        with CaptureQueriesContext(connection) as queries:
            token = token_with_user(digest)
        assert len(queries) == 1
        assert fields(token) == fields(expected)
        assert fields(token.user) == fields(expected.user)
        assert token.user.pk == user.pk and token._state.db == expected._state.db
    assert token_with_user(token_digest("forged-" + "x" * 40)) is None
