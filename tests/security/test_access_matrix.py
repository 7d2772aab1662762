"""Who may reach what: every route of the URLconf, for anonymous and each group, from an explicit
rule table (RULES below, ADMIN_* for the admin's generated pages).

- A route without a rule fails the test, naming the route: a new route needs a decision.
- Routes that take an incident (directly, or through its review, checklist item, review
  entry or action item) are requested for a normal incident, a restricted security incident
  and an id that does not exist. Outside the security group the security incident must be
  answered exactly like the missing id (404 where a GET is served); the security group sees
  it like the normal one.
- No response to someone outside the security group contains the security incident's title
  (lists, boards, reports, feeds, exports, admin pages), except the acknowledge link, whose
  signed token is the credential of the person it was sent to.
- The matrix only GETs, so nothing changes. Unsafe methods: an anonymous POST to every
  route is refused, except the sign-in and public forms, which answer it and change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.db.models import ForeignKey
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from comms.models import ChatIdentity
from comms.services import chat_link_start
from comms.subscribers import confirm_url, subscriber_subscribe, unsubscribe_url
from incidents import services
from incidents.models import ChecklistItem, ContactMethod, Incident, Schedule
from incidents.selectors import policy_for
from incidents.services.paging import ack_token
from integrations.services.integrations import integration_create, subscription_create
from pir.models import PirTimelineEntry, PostIncidentReview
from pir.services import action_item_create
from tests.factories import TeamFactory, UserFactory, declare, drive_to

pytestmark = pytest.mark.django_db

GROUPS = ["viewer", "responder", "incident_commander", "sre_lead", "security"]
PRINCIPALS = ["anonymous", *GROUPS]
VARIANTS = ["normal", "missing", "security"]
SECRET_TITLE = "Quartzite credential exfiltration"
MISSING = 987654321

LOGIN = "redirect to /login/"
ADMIN_LOGIN = "redirect to /admin/login/"
ADMIN_INDEX = "redirect to /admin/"


# --- the rule table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """`expect`: outcome per principal ("*" for the rest) when the route is requested with the
    normal incident (or with no incident). `args(world, variant)` fills the URL's arguments.
    `incident`: the arguments name an incident, so the three variants are requested; a missing
    one is answered with `missing` (404 unless the route serves no GET)."""

    expect: dict[str, Any]
    args: Any = None
    incident: bool = False
    missing: Any = 404
    query: str = ""
    url: str = ""  # for the admin's regular-expression routes: the URL to request
    shows_secret: bool = False  # a credential in the URL reveals the incident by design


def public(status=200, **kw) -> dict:
    return {"*": status, **kw}


def api(status=200, **per) -> dict:
    return {"anonymous": 401, "*": status, **per}


def api_sre(status=200) -> dict:
    return {"anonymous": 401, "*": 403, "sre_lead": status}


def page(status=200, **per) -> dict:
    return {"anonymous": LOGIN, "*": status, **per}


def inc(w, v):
    return {"pk": w.incident_id(v)}


def pir(w, v):
    return {"pk": w.pir_id(v)}


RULES: dict[str, Rule] = {
    # API documentation: public by design (api-contract: the schema needs no auth).
    "api/schema/": Rule(public()),
    "api/docs/": Rule(public()),
    "api/redoc/": Rule(public()),
    # Sign-in endpoints answer GET with 405 (POST only) and are open to anyone.
    "api/v1/auth/token/": Rule(public(405)),
    "api/v1/auth/tokens/": Rule(api()),  # one's own tokens only (tests/api/test_tokens.py)
    "api/v1/auth/tokens/<int:token_id>/": Rule(api(405), lambda w, v: {"token_id": MISSING}),
    "api/v1/audit/": Rule(api_sre()),
    "api/v1/outbox/": Rule(api_sre()),
    "api/v1/outbox/<slug:kind>/<int:row_id>/retry/": Rule(
        api(405), lambda w, v: {"kind": "pir-digest", "row_id": MISSING}
    ),
    "api/v1/outbox/<slug:kind>/<int:row_id>/give-up/": Rule(
        api(405), lambda w, v: {"kind": "pir-digest", "row_id": MISSING}
    ),
    "api/v1/incidents/": Rule(api()),
    "api/v1/incidents/<int:pk>/": Rule(api(), inc, incident=True),
    "api/v1/incidents/<int:pk>/acknowledge/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/transition/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/roles/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/security/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/public-text/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/bridge/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/escalation-responses/<int:response_id>/page-next/": Rule(
        api(405),
        lambda w, v: {"pk": w.incident_id(v), "response_id": MISSING},
        incident=True,
        missing=405,
    ),
    "api/v1/incidents/<int:pk>/timeline/": Rule(api(), inc, incident=True),
    "api/v1/incidents/<int:pk>/checklists/": Rule(api(), inc, incident=True),
    "api/v1/incidents/<int:pk>/checklists/<int:item_id>/": Rule(
        api(405),
        lambda w, v: {"pk": w.incident_id(v), "item_id": w.checklist_item_id(v)},
        incident=True,
        missing=405,
    ),
    "api/v1/incidents/<int:pk>/escalate/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/page/": Rule(api(405), inc, incident=True, missing=405),
    "api/v1/incidents/<int:pk>/pages/": Rule(api(), inc, incident=True),
    "api/v1/incidents/<int:pk>/updates/": Rule(api(), inc, incident=True),
    "api/v1/incidents/<int:pk>/updates/draft/": Rule(
        api(), inc, incident=True, query="?channel=status_page"
    ),
    "api/v1/incidents/<int:pk>/conformance/": Rule(api(), inc, incident=True),
    "api/v1/deadlines/": Rule(api()),
    "api/v1/deadlines/lateness/": Rule(api()),
    "api/v1/oncall/": Rule(api()),
    "api/v1/users/me/contact-methods/": Rule(api()),
    # Someone else's contact method: nobody reaches it through "me" (DELETE only anyway).
    "api/v1/users/me/contact-methods/<int:method_id>/": Rule(
        api(405), lambda w, v: {"method_id": w.others_contact_method.pk}
    ),
    "api/v1/oncall/me/feed/": Rule(api()),
    "api/v1/schedules/<slug:slug>/shifts/": Rule(api(), lambda w, v: {"slug": w.schedule.slug}),
    "api/v1/escalation-contacts/": Rule(api()),
    "api/v1/triage/": Rule(api(405)),
    "api/v1/policy/": Rule(api()),
    "api/v1/services/": Rule(api()),
    "api/v1/users/": Rule(api_sre()),
    "api/v1/users/me/": Rule(api()),
    # Reviews: reached through their incident's visibility.
    "api/v1/pirs/": Rule(api()),
    "api/v1/pirs/action-items/": Rule(api()),
    "api/v1/pirs/action-items/metrics/": Rule(api()),
    "api/v1/pirs/action-items/csv/": Rule(api()),
    "api/v1/pirs/action-items/jira/": Rule(api()),
    "api/v1/pirs/<int:pk>/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/transition/": Rule(api(405), pir, incident=True, missing=405),
    "api/v1/pirs/<int:pk>/timeline/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/timeline/<int:entry_id>/": Rule(
        api(405),
        lambda w, v: {"pk": w.pir_id(v), "entry_id": w.pir_entry_id(v)},
        incident=True,
        missing=405,
    ),
    "api/v1/pirs/<int:pk>/agenda/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/pdf/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/markdown/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/action-items/": Rule(api(), pir, incident=True),
    "api/v1/pirs/<int:pk>/action-items/<int:item_id>/": Rule(
        api(),
        lambda w, v: {"pk": w.pir_id(v), "item_id": w.action_item_id(v)},
        incident=True,
    ),
    # Integrations and outgoing webhooks: SRE leads only.
    "api/v1/integrations/": Rule(api_sre()),
    "api/v1/integrations/<str:pk>/": Rule(api_sre(), lambda w, v: {"pk": str(w.integration.pk)}),
    "api/v1/integrations/<str:pk>/rotate-secret/": Rule(
        {"anonymous": 401, "*": 405}, lambda w, v: {"pk": str(w.integration.pk)}
    ),
    "api/v1/webhooks/": Rule(api_sre()),
    "api/v1/webhooks/<int:pk>/": Rule(api_sre(), lambda w, v: {"pk": w.subscription.pk}),
    "api/v1/webhooks/<int:pk>/deliveries/": Rule(api_sre(), lambda w, v: {"pk": w.subscription.pk}),
    # The public status page and its feeds; subscribing is public, tokens are credentials.
    "status/": Rule(public()),
    "status/summary.json": Rule(public()),
    "status/feed.atom": Rule(public()),
    "status/feed.rss": Rule(public()),
    # An incident's permanent public page: the world's incidents were never posted publicly,
    # so it is the same 404 for everyone (tests/comms/test_status_story.py has the 200s).
    "status/incidents/<int:pk>/": Rule(public(404), inc, missing=404),
    "status/subscribe": Rule(public()),  # the public subscription form
    "status/subscribe/confirm/<str:token>/": Rule(
        public(200), lambda w, v: {"token": w.subscriber_confirm_token}
    ),
    "status/unsubscribe/<str:token>/": Rule(
        public(200), lambda w, v: {"token": w.subscriber_unsubscribe_token}
    ),
    "chatops/slack/": Rule(public(405)),
    "chatops/slack/interactions/": Rule(public(405)),  # Slack's signed button clicks
    # Linking a Slack user: the token is not a credential (it only names the Slack user), the
    # signed-in person is; GET shows whom it would link, only a POST links. Everyone's own
    # links; removing one is POST only.
    "chat/link/<str:token>/": Rule(page(), lambda w, v: {"token": w.chat_link_token}),
    "account/chat/": Rule(page()),
    "account/chat/<int:pk>/unlink/": Rule(page(405), lambda w, v: {"pk": w.chat_identity.pk}),
    # Senders post alerts with the integration's secret; GET is not served.
    "integrations/<str:integration_id>/alerts/": Rule(
        public(405), lambda w, v: {"integration_id": str(w.integration.pk)}
    ),
    # PagerDuty's clients post events here (a PagerDuty integration's routing key).
    "integrations/<str:integration_id>/v2/enqueue": Rule(
        public(405), lambda w, v: {"integration_id": str(w.integration.pk)}
    ),
    # From 127.0.0.1 (the test client's address) /metrics is open; elsewhere it takes a token.
    "metrics": Rule(public()),
    # The PIR's page.
    "pirs/<int:pk>/": Rule(page(), pir, incident=True),
    # The dashboard.
    "": Rule(page()),
    "favicon.ico": Rule(public(204)),
    "login/": Rule(public(200, **dict.fromkeys(GROUPS, 302))),
    "logout/": Rule(public(405)),
    "incidents/new/": Rule(page()),
    "incidents/<int:pk>/": Rule(page(), inc, incident=True),
    "incidents/<int:pk>/acknowledge/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/transition/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/roles/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/roles/relieve/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/checklist/<int:item_id>/": Rule(
        page(405),
        lambda w, v: {"pk": w.incident_id(v), "item_id": w.checklist_item_id(v)},
        incident=True,
        missing=405,
    ),
    "incidents/<int:pk>/notes/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/security/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/public-text/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/bridge/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/escalation-responses/<int:response_id>/page-next/": Rule(
        page(405),
        lambda w, v: {"pk": w.incident_id(v), "response_id": MISSING},
        incident=True,
        missing=405,
    ),
    "incidents/<int:pk>/timeline/": Rule(page(), inc, incident=True),
    # The incident page's live check (tests/dashboard/test_live_panels.py): without `v`, the panels.
    "incidents/<int:pk>/changes/": Rule(page(), inc, incident=True),
    "incidents/<int:pk>/escalate/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/page/": Rule(page(405), inc, incident=True, missing=405),
    "incidents/<int:pk>/mitigations/": Rule(page(), inc, incident=True),
    "incidents/<int:pk>/rollback/": Rule(page(), inc, incident=True),
    "incidents/<int:pk>/comms/draft/": Rule(
        page(), inc, incident=True, query="?channel=status_page"
    ),
    "incidents/<int:pk>/comms/": Rule(page(405), inc, incident=True, missing=405),
    "reports/": Rule(page()),
    "oncall/": Rule(page()),
    "healthz": Rule(public()),
    # A page's acknowledge link: the signed token is the paged person's credential, so the
    # page shows its incident to whoever holds it (it acknowledges only on POST).
    "ack/<str:token>/": Rule(public(), lambda w, v: {"token": w.ack_token}, shows_secret=True),
    # Calendar feeds: the unguessable token in the URL is the credential (calendar apps send
    # no login); they hold shifts, never incidents.
    "oncall/ical/schedule/<str:token>.ics": Rule(
        public(), lambda w, v: {"token": w.schedule.feed_token}
    ),
    "oncall/ical/user/<str:token>.ics": Rule(
        public(), lambda w, v: {"token": w.users["viewer"].feed_token}
    ),
    # The admin's own pages (the generated model pages follow ADMIN_MODEL_PAGES).
    "admin/login/": Rule(public(200, sre_lead=ADMIN_INDEX)),
    "admin/": Rule(admin_page := {"*": ADMIN_LOGIN, "sre_lead": 200}),
    # GET does not sign out (POST only); the admin sends non-staff to its index first.
    "admin/logout/": Rule({"*": ADMIN_INDEX, "sre_lead": 405}),
    "admin/password_change/": Rule(admin_page),
    "admin/password_change/done/": Rule(admin_page),
    "admin/autocomplete/": Rule({"*": ADMIN_LOGIN, "sre_lead": 403}),
    "admin/jsi18n/": Rule(admin_page),
    # Every outbox kind's deliveries (incidents/admin/deliveries.py): SRE leads, like the API
    # list; staff who are no lead get 403 (tests/test_admin_outbox.py).
    "admin/outbox/": Rule(admin_page),
    "admin/r/<path:content_type_id>/<path:object_id>/": Rule(
        # "View on site": incidents have no public URL of their own.
        {"*": ADMIN_LOGIN, "sre_lead": 404},
        lambda w, v: {"content_type_id": w.incident_content_type_id, "object_id": w.incident_id(v)},
        incident=True,
    ),
    "admin/^(?P<app_label>auth|incidents|comms|pir|integrations)/$": Rule(
        admin_page, url="/admin/incidents/"
    ),
    # Anything else under /admin/: the sign-in for non-staff, 404 for staff.
    "admin/(?P<url>.*)$": Rule({"*": ADMIN_LOGIN, "sre_lead": 404}, url="/admin/no-such-page/"),
}

# The admin's generated pages of every registered model. Non-staff get the admin's sign-in.
# Staff get what the model's admin grants them (its has_*_permission: the group permissions
# of incidents/groups.py and pir/groups.py, or the admin's own rule, e.g. integrations are
# SRE leads' only): the page, or 403. An object page of a row that belongs to the security
# incident is answered to staff outside the security group exactly as a missing row is.
# "<object_id>/" alone is the admin's redirect to the change page.
ADMIN_MODEL_PAGES = {
    "": "view",
    "add/": "add",
    "<path:object_id>/history/": "view",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/change/": "view",
    "<path:object_id>/": "redirect",
    "<id>/password/": "change",
}
ADMIN_MISSING = {403, 404, ADMIN_INDEX}


# --- the world the routes are requested against -----------------------------------------------
@dataclass
class World:
    users: dict
    incidents: dict
    pirs: dict
    checklist_items: dict
    pir_entries: dict
    action_items: dict
    schedule: Any
    others_contact_method: Any
    integration: Any
    subscription: Any
    ack_token: str
    subscriber_confirm_token: str
    subscriber_unsubscribe_token: str
    chat_link_token: str
    chat_identity: Any
    incident_content_type_id: int
    clients: dict = field(default_factory=dict)

    def incident_id(self, variant):
        return self.incidents[variant].pk if variant != "missing" else MISSING

    def pir_id(self, variant):
        return self.pirs[variant].pk if variant != "missing" else MISSING

    def checklist_item_id(self, variant):
        return self.checklist_items[variant].pk if variant != "missing" else MISSING

    def pir_entry_id(self, variant):
        return self.pir_entries[variant].pk if variant != "missing" else MISSING

    def action_item_id(self, variant):
        return self.action_items[variant].pk if variant != "missing" else MISSING


@pytest.fixture
def world(db, settings) -> World:
    from django.contrib.contenttypes.models import ContentType

    policy_for("P1")
    users = {
        group: UserFactory(
            username=f"matrix-{group}",
            rank="engineer",
            groups=[group],
            is_staff=group == "sre_lead",  # as incidents/services/users.py makes them
        )
        for group in GROUPS
    }
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    team = TeamFactory(slug="platform", name="Platform")
    schedule = Schedule.objects.create(team=team, slug="platform-primary", name="Platform")
    outsider = UserFactory(username="matrix-outsider")
    method = ContactMethod.objects.create(user=outsider, kind="email", target="o@tensafe.test")
    integration, _ = integration_create(actor=None, kind="webhook", name="matrix")
    subscription = subscription_create(
        actor=None,
        name="matrix",
        url="http://127.0.0.1:9/ir",  # never called: nothing is delivered in this test
        events=["declared", "resolved"],
        allow_restricted=True,
    )
    # Neither incident's commander is one of the principals: no principal holds a role.
    normal_ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    security_ic = UserFactory(rank="engineering_manager", groups=["security"])
    incidents = {
        "normal": declare(actor=normal_ic, title="Gateway 502s", severity="P1"),
        "security": declare(actor=security_ic, title=SECRET_TITLE, severity="P1", security=True),
    }
    ics = {"normal": normal_ic, "security": security_ic}
    # Its public words approved, so its status page draft answers as the normal one's does
    # (they never hold its title: the leak check below greps every answer for it).
    services.incident_public_text_approve(
        actor=security_ic,
        incident_id=incidents["security"].pk,
        public_title="Sign-in disruption",
        public_text="We are investigating a problem with signing in.",
    )
    pirs, entries, actions, items = {}, {}, {}, {}
    for variant, incident in incidents.items():
        items[variant] = ChecklistItem.objects.filter(incident=incident).first()
        drive_to(incident, "resolved", ics[variant])
        pirs[variant] = PostIncidentReview.objects.get(incident=incident)
        entries[variant] = PirTimelineEntry.objects.filter(pir=pirs[variant]).first()
        actions[variant] = action_item_create(
            actor=ics[variant],
            pir_id=pirs[variant].pk,
            action="Add a canary",
            priority="P2",
            owner=ics[variant],
            due_date=incident.detected_at.date(),
        )
    # An open one too, so boards, lists and counts of open incidents have it to leak.
    declare(actor=security_ic, title=f"{SECRET_TITLE}, second host", severity="P2", security=True)
    subscriber = subscriber_subscribe(email="reader@example.com")
    chat_link = chat_link_start(team_id="T0001", team_domain="tensafe", user_id="U0NEW", name="n")
    chat_identity = ChatIdentity.objects.create(
        slack_team_id="T0001", slack_user_id="U0OUTSIDER", user=outsider
    )

    return World(
        users=users,
        incidents=incidents,
        pirs=pirs,
        checklist_items=items,
        pir_entries=entries,
        action_items=actions,
        schedule=schedule,
        others_contact_method=method,
        integration=integration,
        subscription=subscription,
        ack_token=ack_token(incidents["security"], security_ic),
        subscriber_confirm_token=confirm_url(subscriber).rstrip("/").rsplit("/", 1)[1],
        subscriber_unsubscribe_token=unsubscribe_url(subscriber).rstrip("/").rsplit("/", 1)[1],
        chat_link_token=chat_link.rstrip("/").rsplit("/", 1)[1],
        chat_identity=chat_identity,
        incident_content_type_id=ContentType.objects.get_for_model(Incident).pk,
    )


# --- walking the URLconf ----------------------------------------------------------------------
def all_routes() -> list[tuple[str, URLPattern]]:
    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern), entry

    return list(walk(get_resolver().url_patterns, ""))


def admin_model_of(route: str):
    """(model, page) when `route` is one of the admin's generated model pages."""
    for model in admin.site._registry:
        base = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if route.startswith(base) and route[len(base) :] in ADMIN_MODEL_PAGES:
            return model, route[len(base) :]
    return None


def test_every_route_has_a_rule():
    missing = [
        route for route, _ in all_routes() if route not in RULES and not admin_model_of(route)
    ]
    assert missing == [], f"routes without a rule in the access matrix: {missing}"
    stale = sorted(set(RULES) - {route for route, _ in all_routes()})
    assert stale == [], f"rules for routes that no longer exist: {stale}"


def _url(route: str, kwargs: dict) -> str:
    pattern = route
    for name, value in kwargs.items():
        pattern = re.sub(r"<(?:\w+:)?" + name + ">", str(value), pattern)
    assert "<" not in pattern, f"{route}: arguments not filled: {pattern}"
    return "/" + pattern


def _client(world: World, principal: str) -> Client:
    if principal not in world.clients:
        client = Client()
        if principal != "anonymous":
            client.force_login(world.users[principal])
        world.clients[principal] = client
    return world.clients[principal]


def _outcome(response) -> Any:
    if response.status_code in (301, 302):
        location = response["Location"]
        if location.startswith("/login/?next="):
            return LOGIN
        if location.startswith("/admin/login/?next="):
            return ADMIN_LOGIN
        if location == "/admin/":
            return ADMIN_INDEX
    return response.status_code


def _expected(expect: dict, principal: str):
    return expect.get(principal, expect["*"])


def _check(world, failures, route, url, principal, expected, check_secret=True) -> None:
    """GET `url` as `principal`: the outcome is `expected` (or one of them, given a tuple), and
    nobody outside the security group is shown the security incident."""
    response = _client(world, principal).get(url)
    got = _outcome(response)
    if got not in (expected if isinstance(expected, tuple) else (expected,)):
        failures.append(f"{route} as {principal}: GET {url} -> {got}, expected {expected}")
    body = b"".join(response) if response.streaming else response.content
    if check_secret and principal != "security" and SECRET_TITLE.encode() in body:
        failures.append(f"{route} as {principal}: GET {url} shows the security incident")


def test_access_matrix(world, monkeypatch):
    # Access is decided before a PIR is rendered; WeasyPrint's second per PDF is tested in
    # tests/pir. Here the document's HTML stands in for the PDF, so the title check reads it.
    monkeypatch.setattr("pir.render.pdf.html_to_pdf", lambda html, fetcher=None: html.encode())
    failures: list[str] = []
    for route, _ in all_routes():
        model_page = admin_model_of(route)
        if model_page:
            _check_admin_model_page(world, failures, route, *model_page)
            continue
        rule = RULES[route]
        for variant in VARIANTS if rule.incident else ["normal"]:
            kwargs = rule.args(world, variant) if rule.args else {}
            url = rule.url or _url(route, kwargs) + rule.query
            for principal in PRINCIPALS:
                expected = _expected(rule.expect, principal)
                sees = variant == "normal" or (variant == "security" and principal == "security")
                if not sees and expected not in REFUSED:
                    expected = rule.missing
                _check(world, failures, route, url, principal, expected, not rule.shows_secret)
    assert failures == [], "\n".join(failures)


def _admin_object_pk(world: World, model, variant: str):
    """A row of `model` for the page's object: one of the variant's incident when the model
    belongs to incidents (or reviews); any row otherwise (then there is no security variant)."""
    if variant == "missing":
        return MISSING
    if model is Incident:
        return world.incident_id(variant)
    links = [
        f.name
        for f in model._meta.fields
        if isinstance(f, ForeignKey) and f.related_model in (Incident, PostIncidentReview)
    ]
    rows = model._default_manager.order_by("pk")
    if links:
        target = model._meta.get_field(links[0]).related_model
        owner = world.incidents[variant] if target is Incident else world.pirs[variant]
        rows = rows.filter(**{links[0]: owner})
    elif variant == "security":
        return None
    row = rows.first()
    return row.pk if row is not None else MISSING


def _admin_grants(world: World, model, action: str) -> bool:
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = world.users["sre_lead"]
    return {
        "view": model_admin.has_view_or_change_permission,
        "add": model_admin.has_add_permission,
        "change": model_admin.has_change_permission,
        "delete": model_admin.has_delete_permission,
    }[action](request)


def _check_admin_model_page(world, failures, route, model, page):
    action = ADMIN_MODEL_PAGES[page]
    takes_object = "object_id" in page or "<id>" in page
    missing_outcome = None
    for variant in VARIANTS if takes_object else ["normal"]:
        pk = _admin_object_pk(world, model, variant) if takes_object else None
        if takes_object and pk is None:
            continue
        url = "/" + re.sub(r"<[^>]+>", str(pk), route)
        for principal in PRINCIPALS:
            if principal != "sre_lead":
                # The admin sends non-staff to its sign-in before it looks at any row: one
                # request per page and principal says it.
                if variant == "normal":
                    _check(world, failures, route, url, principal, ADMIN_LOGIN)
            elif action == "redirect":
                _check(world, failures, route, url, principal, 302)
            elif variant == "normal" and pk != MISSING:
                allowed = _admin_grants(world, model, action)
                _check(world, failures, route, url, principal, 200 if allowed else 403)
            elif variant == "missing" or pk == MISSING:
                missing_outcome = _outcome(_client(world, principal).get(url))
                if missing_outcome not in ADMIN_MISSING:
                    failures.append(f"{route}: a missing row -> {missing_outcome}")
            else:  # the security incident's row, to staff outside the security group
                _check(world, failures, route, url, principal, missing_outcome)


# --- unsafe methods ---------------------------------------------------------------------------
# Routes an anonymous POST may reach by design, and what an empty one gets there: the sign-in
# forms answer with their errors, signing nobody out goes back to an index, the public
# subscription form wants an address.
ANONYMOUS_POST = {
    "api/v1/auth/token/": 400,
    "login/": 200,
    "admin/login/": 200,
    "logout/": 302,
    "admin/logout/": ADMIN_INDEX,
    "status/subscribe": 400,
}
# Routes whose URL token is the credential are posted a forged token (the real one acts on
# purpose: acknowledges, confirms, unsubscribes; their own tests cover that).
FORGED = {
    "ack/<str:token>/": {"token": "forged"},
    "status/subscribe/confirm/<str:token>/": {"token": "forged"},
    "status/unsubscribe/<str:token>/": {"token": "forged"},
}
REFUSED = {400, 401, 403, 404, 405, LOGIN, ADMIN_LOGIN}


def test_anonymous_post_is_refused_everywhere(world):
    models = (Incident, PostIncidentReview, ChecklistItem, PirTimelineEntry)
    before = {model.__name__: model._default_manager.count() for model in models}
    # Their ICs acknowledged the resolved incidents by taking command; nothing else may.
    acknowledged = set(Incident.objects.values_list("pk", "acknowledged_at", "acknowledged_by"))
    failures = []
    for route, _ in all_routes():
        if admin_model_of(route):
            url = "/" + re.sub(r"<[^>]+>", str(MISSING), route)
        else:
            rule = RULES[route]
            kwargs = FORGED.get(route) or (rule.args(world, "normal") if rule.args else {})
            url = rule.url or _url(route, kwargs)
        got = _outcome(Client().post(url, {}))
        expected = ANONYMOUS_POST.get(route)
        if got != expected and (expected is not None or got not in REFUSED):
            failures.append(f"{route}: anonymous POST {url} -> {got}")
    assert failures == [], "\n".join(failures)
    assert {model.__name__: model._default_manager.count() for model in models} == before
    assert (
        set(Incident.objects.values_list("pk", "acknowledged_at", "acknowledged_by"))
        == acknowledged
    )
