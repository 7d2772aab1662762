"""Sending signed Slack slash commands in tests, and linking a Slack user to a TenSafe IR
user the way a test needs it (tests/comms/test_chat_linking.py walks the real link flow)."""

import re
import time
from urllib.parse import urlencode, urlsplit

from comms.chatops import slack_signature
from comms.models import ChatIdentity

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
URL = "/chatops/slack/"
TEAM = "T0001"


def slack_id(username: str) -> str:
    return "U0" + re.sub(r"[^A-Z0-9]", "", username.upper())


def form(command, text, *, user="ian", user_id=None, team_id=TEAM, channel="general", **extra):
    """A slash command's form as Slack posts it; `user` is the Slack display name, which
    users edit themselves, and `user_id` defaults to the id `link()` gives that username."""
    return {
        "token": "legacy-unused",
        "team_id": team_id,
        "team_domain": "tensafe",
        "channel_name": channel,
        "user_id": user_id or slack_id(user),
        "user_name": user,
        "command": command,
        "text": text,
        "response_url": extra.pop("response_url", ""),
        "trigger_id": extra.pop("trigger_id", f"trigger-{time.monotonic_ns()}"),
        **extra,
    }


def slack(client, fields, *, secret=SECRET, timestamp=None, signature=None):
    body = urlencode(fields)
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = signature or slack_signature(secret, timestamp, body.encode())
    return client.post(
        URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature,
    )


def answer(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def link(user, *, user_id=None, team_id=TEAM) -> ChatIdentity:
    """`user`'s Slack identity (id from their username), as the link flow leaves it."""
    return ChatIdentity.objects.create(
        slack_team_id=team_id,
        slack_user_id=user_id or slack_id(user.username),
        slack_name=user.username,
        user=user,
    )


def link_path(reply: dict) -> str:
    """The path of the one-time link in an unlinked user's answer."""
    match = re.search(r"https?://\S+", reply["text"])
    assert match, reply
    return urlsplit(match.group(0).rstrip(">).,")).path
