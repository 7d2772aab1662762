"""A small Slack Web API on 127.0.0.1, for tests of what the platform asks of a Slack workspace.
It speaks Slack's wire format (api.slack.com/web): `POST /api/<method>` with
`Authorization: Bearer <bot token>`, arguments as JSON or form-encoded (slack_sdk sends
both, by method), and answers HTTP 200 `{"ok": true, ...}` or `{"ok": false, "error": "..."}`,
or 429 with Retry-After when rate limited. It keeps the channels, their members, topics,
messages and pins, for the methods the platform uses.

`respond(*answers)` queues answers for the next calls (an int status, or ("429", seconds));
when the queue is empty each call is judged as Slack would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from tests.http_target import LoopbackServer

CHANNEL_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    is_archived: bool = False


class SlackFake(LoopbackServer):
    def __init__(self, token: str):
        self.token = token
        self.calls: list[tuple[str, dict]] = []  # every call, in order, with its arguments
        self.channels: dict[str, Channel] = {}
        self._ts = 1700000000
        self.add_channel("incidents")  # where announcements go

    def start(self) -> SlackFake:
        self.serve_json(
            lambda path, headers, body: self._answer(
                path, headers.get("Authorization", ""), headers.get("Content-Type", ""), body
            )
        )
        return self

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def add_channel(self, name: str, is_private: bool = False) -> Channel:
        channel = Channel(f"C{len(self.channels) + 1:08d}", name, is_private)
        self.channels[channel.id] = channel
        return channel

    def channel_named(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    # --- the API -------------------------------------------------------------------------
    def _answer(self, path: str, auth: str, content_type: str, body: bytes):
        method = path.removeprefix("/api/")
        if content_type.startswith("application/json"):
            args = json.loads(body or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        with self.lock:
            self.calls.append((method, args))
        queued = self.next_answer()
        if isinstance(queued, tuple) and queued[0] == "429":
            return 429, {"Retry-After": str(queued[1])}, {"ok": False, "error": "ratelimited"}
        if queued is not None:
            return queued, {}, {"ok": False, "error": "fatal_error"}
        if auth != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        with self.lock:
            return 200, {}, handler(args)

    def _channel(self, args) -> Channel | None:
        ref = str(args.get("channel", ""))
        if ref.startswith("#"):
            return self.channel_named(ref[1:])
        return self.channels.get(ref) or self.channel_named(ref)

    def _conversations_create(self, args):
        name = str(args.get("name", ""))
        if not name or len(name) > 80 or set(name) - CHANNEL_NAME_CHARS:
            return {"ok": False, "error": "invalid_name_specials"}
        if self.channel_named(name):
            return {"ok": False, "error": "name_taken"}
        private = str(args.get("is_private", "")).lower() in ("1", "true")
        channel = self.add_channel(name, private)
        return {"ok": True, "channel": {"id": channel.id, "name": name, "is_private": private}}

    def _conversations_setTopic(self, args):
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if len(str(args.get("topic", ""))) > 250:
            return {"ok": False, "error": "too_long"}
        channel.topic = str(args["topic"])
        return {"ok": True, "channel": {"id": channel.id, "topic": {"value": channel.topic}}}

    def _chat_postMessage(self, args):
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        self._ts += 1
        blocks = args.get("blocks")
        message = {
            "ts": f"{self._ts}.000100",
            "text": args.get("text", ""),
            "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
        }
        channel.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}

    def _pins_add(self, args):
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(args.get("timestamp", ""))
        if ts not in {m["ts"] for m in channel.messages}:
            return {"ok": False, "error": "message_not_found"}
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.append(ts)
        return {"ok": True}

    def _conversations_invite(self, args):
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        if set(users) <= channel.members:
            return {"ok": False, "error": "already_in_channel"}
        channel.members |= set(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_archive(self, args):
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "already_archived"}
        channel.is_archived = True
        return {"ok": True}

    def _conversations_list(self, args):
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        rows = list(self.channels.values())
        page = rows[start : start + limit]
        cursor = str(start + limit) if start + limit < len(rows) else ""
        return {
            "ok": True,
            "channels": [{"id": c.id, "name": c.name, "is_private": c.is_private} for c in page],
            "response_metadata": {"next_cursor": cursor},
        }
