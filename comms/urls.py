"""Pages and endpoints outside /api/v1/ (mounted at the site root)."""

from django.urls import path

from . import chat_links, chatops, subscribers
from .status import views as status_views

urlpatterns: list = [
    # Public status page (no login): HTML, JSON, feeds, email subscriptions.
    path("status/", status_views.status_page, name="status-page"),
    path("status/summary.json", status_views.status_summary_json, name="status-summary-json"),
    path("status/incidents/<int:pk>/", status_views.status_incident, name="status-incident"),
    path("status/feed.atom", status_views.status_feed_atom, name="status-feed-atom"),
    path("status/feed.rss", status_views.status_feed_rss, name="status-feed-rss"),
    path("status/subscribe", subscribers.subscribe_view, name="status-subscribe"),
    path(
        "status/subscribe/confirm/<str:token>/",
        subscribers.confirm_view,
        name="status-subscribe-confirm",
    ),
    path(
        "status/unsubscribe/<str:token>/", subscribers.unsubscribe_view, name="status-unsubscribe"
    ),
    # Slack slash commands (procedures 9.3), signed with SLACK_SIGNING_SECRET.
    path("chatops/slack/", chatops.slack_command_view, name="chatops-slack"),
    path(
        "chatops/slack/interactions/",
        chatops.slack_interaction_view,
        name="chatops-slack-interactions",
    ),
    # Linking a Slack user to the signed-in person, and their own links (comms/chat_links.py).
    path("chat/link/<str:token>/", chat_links.chat_link_view, name="chat-link"),
    path("account/chat/", chat_links.chat_identities_view, name="chat-identities"),
    path("account/chat/<int:pk>/unlink/", chat_links.chat_unlink_view, name="chat-unlink"),
]
