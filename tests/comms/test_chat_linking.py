"""Who a Slack user is in TenSafe IR (issue 12, finding 2): only a linked (workspace, user id)
acts as a person. Slack's `user_name` is the user's own choice and names nobody. An unlinked
user gets a one-time link and nothing else happens; the link is completed in the browser by
a signed-in person who confirms which Slack user will act as them. Two people (two browsers)
throughout: the one the link was meant for and one who must not get in."""

import re

import pytest
from django.test import Client

from comms.models import ChatIdentity, ChatLinkToken, Update
from comms.services import chat_link_start
from incidents import services
from incidents.models import AuditEvent, Incident, Page
from incidents.states import Role
from tests.comms.chat import SECRET, TEAM, answer, form, link, link_path, slack
from tests.factories import PASSWORD, UserFactory, declare

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SLACK_SIGNING_SECRET = SECRET


@pytest.fixture
def security_lead(db):
    return UserFactory(username="security-lead", rank="security_lead", groups=["security"])


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="admin", groups=[])
    user.is_superuser = user.is_staff = True
    user.save()
    return user


@pytest.fixture
def ann(db):
    return UserFactory(username="ann", rank="engineering_manager", groups=["incident_commander"])


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", groups=["responder"])


@pytest.fixture
def incident(ann):
    """Ann's P1, not yet acknowledged (an IC taking command would have acknowledged it)."""
    incident = declare(actor=ann, severity="P1", title="Checkout failing")
    services.incident_assign_role(actor=ann, incident_id=incident.pk, role=Role.TECH_LEAD, user=ann)
    return incident


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def link_for(client, *, user_id="U0ANN", name="ann", team_id=TEAM) -> str:
    """Run a command as an unlinked Slack user: the path of the link it is answered."""
    reply = answer(
        slack(client, form("/incident", "status", user=name, user_id=user_id, team_id=team_id))
    )
    assert reply["response_type"] == "ephemeral"
    return link_path(reply)


def acts_as(client, incident, *, user_id="U0ANN", team_id=TEAM) -> dict:
    fields = form(
        "/incident",
        "status",
        user_id=user_id,
        team_id=team_id,
        channel=incident.channel_name.lstrip("#"),
    )
    return answer(slack(client, fields))


# --- the requests -------------------------------------------------------------------
def test_an_unlinked_user_named_security_lead_reads_nothing(client, security_lead):
    """Issue 12: an unlinked user id with user_name=security-lead read a restricted incident
    with `/incident status`."""
    secret = declare(actor=security_lead, severity="P1", security=True, title="Key exfiltration")
    fields = form(
        "/incident",
        f"status INC-{secret.pk}",
        user="security-lead",
        user_id="U0MALLORY",
        channel=secret.channel_name.lstrip("#"),
    )
    reply = answer(slack(client, fields))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Link your account: http")
    assert "Key exfiltration" not in reply["text"]
    assert f"INC-{secret.pk}" not in reply["text"]
    assert not ChatIdentity.objects.exists()


def test_an_unlinked_user_named_admin_posts_nothing(client, admin_user, incident):
    """Issue 12: with user_name=admin it posted to the public status page."""
    fields = form(
        "/status",
        'update "We are down. Visit evil.example for refunds" state=identified',
        user="admin",
        user_id="U0MALLORY",
        channel=incident.channel_name.lstrip("#"),
    )
    reply = answer(slack(client, fields))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Link your account: http")
    assert not Update.objects.exists()


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/incident", "ack"),
        ("/incident", 'declare "Fake outage" severity=P1'),
        ("/pd", 'page @bob "wake up"'),
        ("/status", 'update "hello"'),
        ("/incident", "nonsense"),
    ],
)
def test_an_unlinked_user_changes_nothing_with_any_command(
    client, ann, bob, incident, command, text
):
    reply = answer(
        slack(
            client,
            form(
                command,
                text,
                user="ann",
                user_id="U0EVE",
                channel=incident.channel_name.lstrip("#"),
            ),
        )
    )
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Link your account: http")
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert Incident.objects.count() == 1
    assert not Page.objects.filter(recipient=bob).exists()
    assert not Update.objects.exists()
    assert not ChatIdentity.objects.exists()


def test_the_username_does_not_count_even_when_the_id_is_linked_elsewhere(
    client, ann, bob, incident
):
    """bob's Slack user renamed to "ann" still acts as bob, and ann's workspace matters."""
    link(bob, user_id="U0BOB")
    reply = acts_as(client, incident, user_id="U0BOB")
    assert "Checkout failing" in reply["text"]
    fields = form(
        "/incident", "ack", user="ann", user_id="U0BOB", channel=incident.channel_name.lstrip("#")
    )
    assert answer(slack(client, fields))["text"] == f"INC-{incident.pk} acknowledged by @bob."
    other_workspace = acts_as(client, incident, user_id="U0BOB", team_id="T0OTHER")
    assert other_workspace["text"].startswith("Link your account: http")


# --- the link flow ----------------------------------------------------------------------------
def test_linking_signs_in_shows_who_and_links_on_confirmation(client, ann, incident):
    path = link_for(client, user_id="U0ANN", name="ann.slack")
    token = ChatLinkToken.objects.get()
    assert (token.slack_team_id, token.slack_user_id, token.slack_name) == (
        TEAM,
        "U0ANN",
        "ann.slack",
    )
    assert path not in token.token_hash  # only a hash of the token is stored

    anna = browser()
    to_login = anna.get(path)
    assert to_login.status_code == 302
    assert to_login["Location"].startswith("/login/?next=")
    signed_in = anna.post(
        "/login/", {"username": "ann", "password": PASSWORD, "next": path}, follow=True
    )
    page = signed_in.content.decode()
    assert signed_in.redirect_chain[-1][0] == path
    assert "ann.slack" in page and "U0ANN" in page and TEAM in page and "tensafe" in page
    assert "will act as you (ann)" in page
    assert not ChatIdentity.objects.exists()  # seeing the page links nothing

    done = anna.post(path)
    assert done.status_code == 200
    assert "Linked" in done.content.decode()
    identity = ChatIdentity.objects.get()
    assert (identity.slack_team_id, identity.slack_user_id, identity.user) == (TEAM, "U0ANN", ann)
    audited = AuditEvent.objects.get(action="chat_identity.link")
    assert (audited.actor, audited.target_user) == (ann, ann)
    assert audited.details == {
        "slack_team_id": TEAM,
        "slack_user_id": "U0ANN",
        "slack_name": "ann.slack",
        "via": "link",
    }

    reply = acts_as(client, incident, user_id="U0ANN")
    assert reply["text"].startswith(f"*INC-{incident.pk}* Checkout failing")


def test_a_used_link_is_refused_to_someone_else(client, ann, bob, incident):
    path = link_for(client)
    assert browser(ann).post(path).status_code == 200
    bobs = browser(bob)
    seen = bobs.get(path)
    assert seen.status_code == 410
    assert "already been used" in seen.content.decode()
    assert bobs.post(path).status_code == 410
    assert ChatIdentity.objects.get().user == ann


def test_a_link_opened_by_someone_else_first_links_them_only_if_they_confirm(
    client, ann, bob, incident
):
    path = link_for(client, user_id="U0ANN", name="ann")
    bobs = browser(bob)
    page = bobs.get(path)
    assert page.status_code == 200
    text = page.content.decode()
    assert "U0ANN" in text and "will act as you (bob)" in text
    assert "Only confirm if you ran the command in Slack yourself" in text
    assert not ChatIdentity.objects.exists()
    # ann's own commands still do nothing until someone confirms.
    assert acts_as(client, incident)["text"].startswith("Link your account: http")

    assert bobs.post(path).status_code == 200
    assert ChatIdentity.objects.get().user == bob
    assert browser(ann).post(path).status_code == 410
    assert ChatIdentity.objects.get().user == bob


def test_a_slack_user_linked_to_someone_cannot_be_taken_over(client, ann, bob, incident):
    first = link_for(client)
    second = link_for(client)  # the same Slack user ran two commands before linking
    assert first != second
    assert browser(ann).post(first).status_code == 200
    taken = browser(bob).post(second)
    assert taken.status_code == 409
    assert "already linked to another TenSafe IR account" in taken.content.decode()
    assert ChatIdentity.objects.get().user == ann
    assert browser(bob).get(second).status_code == 409


@pytest.mark.parametrize("forge", ["forged-token", "tampered"])
def test_forged_or_tampered_links_are_refused(client, ann, forge):
    path = link_for(client)
    token = path.rstrip("/").rsplit("/", 1)[1]
    bad = (
        "x" * len(token)
        if forge == "forged-token"
        else token[:-1] + ("A" if token[-1] != "A" else "B")
    )
    bad_path = path.replace(token, bad)
    anna = browser(ann)
    for response in (anna.get(bad_path), anna.post(bad_path)):
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
    assert not ChatIdentity.objects.exists()
    assert ChatLinkToken.objects.get().used_at is None


def test_an_expired_link_is_refused(client, ann, time_machine, settings):
    settings.TENSAFE_CHAT_LINK_MINUTES = 10
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    path = link_for(client)
    time_machine.move_to("2026-03-02 10:10:01+00:00", tick=False)
    anna = browser(ann)
    for response in (anna.get(path), anna.post(path)):
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert "10 minutes" in response.content.decode()
    assert not ChatIdentity.objects.exists()


def test_the_link_needs_the_csrf_token(client, ann):
    path = link_for(client)
    anna = Client(enforce_csrf_checks=True)
    anna.force_login(ann)
    assert anna.post(path).status_code == 403
    assert not ChatIdentity.objects.exists()
    page = anna.get(path).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert anna.post(path, {"csrfmiddlewaretoken": csrf}).status_code == 200
    assert ChatIdentity.objects.get().user == ann


def test_link_tokens_are_single_use_and_hashed(ann):
    url = chat_link_start(team_id=TEAM, team_domain="tensafe", user_id="U0ANN", name="ann")
    raw = url.rstrip("/").rsplit("/", 1)[1]
    row = ChatLinkToken.objects.get()
    assert raw not in row.token_hash and len(row.token_hash) == 64


# --- seeing and removing one's links ----------------------------------------------------------
def test_people_see_and_remove_their_own_links(client, ann, bob, incident):
    mine = link(ann, user_id="U0ANN")
    bobs_link = link(bob, user_id="U0BOB")
    anna = browser(ann)
    page = anna.get("/account/chat/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "U0ANN" in text and "U0BOB" not in text
    assert 'href="/account/chat/"' in anna.get("/").content.decode()  # from the header

    # Someone else's link cannot be removed through one's own page.
    assert anna.post(f"/account/chat/{bobs_link.pk}/unlink/").status_code == 404
    assert ChatIdentity.objects.filter(pk=bobs_link.pk).exists()

    assert acts_as(client, incident, user_id="U0ANN")["text"].startswith("*INC-")
    removed = anna.post(f"/account/chat/{mine.pk}/unlink/")
    assert removed.status_code == 302 and removed["Location"] == "/account/chat/"
    assert not ChatIdentity.objects.filter(pk=mine.pk).exists()
    unlinked = AuditEvent.objects.get(action="chat_identity.unlink")
    assert (unlinked.actor, unlinked.target_user, unlinked.details["via"]) == (ann, ann, "account")
    assert acts_as(client, incident, user_id="U0ANN")["text"].startswith("Link your account:")


def test_the_account_page_needs_sign_in():
    response = Client().get("/account/chat/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_deactivated_persons_link_acts_as_nobody(client, ann, incident):
    link(ann, user_id="U0ANN")
    ann.is_active = False
    ann.save()
    reply = acts_as(client, incident, user_id="U0ANN")
    assert "Checkout failing" not in reply["text"]
    assert "deactivated" in reply["text"]
    assert not ChatLinkToken.objects.exists()


def test_unlinking_in_the_admin_is_audited(admin_user, ann):
    identity = link(ann, user_id="U0ANN")
    admin_client = browser(admin_user)
    assert admin_client.get("/admin/comms/chatidentity/add/").status_code == 403
    response = admin_client.post(
        f"/admin/comms/chatidentity/{identity.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ChatIdentity.objects.exists()
    unlinked = AuditEvent.objects.get(action="chat_identity.unlink")
    assert (unlinked.actor, unlinked.target_user, unlinked.details["via"]) == (
        admin_user,
        ann,
        "admin",
    )


def test_old_links_are_cleaned_up_when_new_ones_are_made(client, ann, time_machine):
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    link_for(client)
    time_machine.move_to("2026-03-03 10:09:59+00:00", tick=False)  # expired a day ago, nearly
    link_for(client)
    assert ChatLinkToken.objects.count() == 2
    time_machine.move_to("2026-03-03 10:10:01+00:00", tick=False)
    link_for(client)
    assert ChatLinkToken.objects.count() == 2  # the first one went
