"""The incident commander's path through the dashboard, in a real browser.

The stability window (7.4) is waited out by moving `mitigated_at` back in the test database
(an UPDATE of that one column), not by sleeping: the page's refusal and its lifting are the
same code either way, and the test stays within seconds."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Incident
from incidents.selectors import policy_settings
from tests.factories import ServiceFactory, TeamFactory, UserFactory

from .conftest import shot

pytestmark = pytest.mark.django_db(transaction=True)

RESOLUTION_KEYS = [
    "root_cause_addressed",
    "error_rates_baseline",
    "latency_baseline",
    "no_customer_impact",
    "monitoring_stable",
]


@pytest.fixture
def people():
    policy_settings()  # the transactional database starts empty: seed the policy in force
    team = TeamFactory(slug="browser-platform", name="Browser Platform")
    ServiceFactory(slug="checkout-api", name="Checkout API", team=team)
    ic = UserFactory(username="erin", rank="engineering_manager", groups=["incident_commander"])
    scribe = UserFactory(username="sasha", rank="engineer", groups=["responder"])
    return ic, scribe


def test_commander_declares_works_and_resolves_a_p1(open_page, live_server, people, problems):
    ic, scribe = people
    page = open_page(ic)
    base = live_server.url

    # --- declare through the wizard, answering the flowchart (2.2) -----------------------
    page.get_by_role("link", name="Declare", exact=True).click()
    expect(page.get_by_role("group")).to_contain_text("completely unavailable for all users")
    shot(page, "wizard-1-question")
    page.get_by_role("button", name="No").click()
    expect(page.get_by_role("group")).to_contain_text("core feature")
    shot(page, "wizard-2-question")
    page.get_by_role("link", name=re.compile("Change")).click()  # back to question 1
    page.get_by_role("button", name="Yes").click()
    expect(page.locator("#proposal")).to_contain_text("P1")
    page.get_by_label("Title").fill("Checkout API returns 503 for everyone")
    page.get_by_label("Symptoms").fill("Checkout fails with 503")
    page.get_by_label("Checkout API").check()
    page.get_by_label("Detected by (4.1)").select_option("monitoring")
    shot(page, "wizard-3-details")
    page.get_by_role("button", name="Declare incident").click()
    page.wait_for_url(re.compile(r"/incidents/\d+/$"))
    incident = Incident.objects.get(title="Checkout API returns 503 for everyone")
    assert incident.severity == "P1"
    url = f"{base}/incidents/{incident.pk}/"
    expect(page.locator("#timeline-events")).to_contain_text("Severity flowchart (2.2)")

    # --- acknowledge, take command --------------------------------------------------------
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Acknowledged")
    roles = page.locator("#roles")
    roles.get_by_label("Role").select_option("incident_commander")
    roles.get_by_label("Person").select_option("erin")
    roles.get_by_role("button", name="Assign role").click()
    expect(page.locator("#roles table")).to_contain_text("Incident Commander")

    # --- a second person on the same page sees the timeline move without reloading ---------
    other = open_page(scribe)
    other.goto(url)
    note = "Scribe check: error rate 100% on checkout-api"
    page.get_by_label("Note for the timeline").fill(note)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#timeline-events")).to_contain_text(note, timeout=8_000)
    expect(other.locator("#timeline-events")).to_contain_text(note, timeout=8_000)
    assert other.locator(f"#timeline-events li:has-text('{note}')").count() == 1
    other.close()  # its timeline poll would race the test's own writes below (SQLite)

    # --- identified -> monitoring -----------------------------------------------------------
    page.get_by_role("button", name="Cause identified").click()
    expect(page.locator(".incident-head")).to_contain_text("Identified")
    page.get_by_role("button", name="Fix in: start monitoring").click()
    expect(page.locator(".incident-head")).to_contain_text("Monitoring")

    # --- try to resolve: refused, saying why ----------------------------------------------
    resolve = page.locator("#actions").get_by_role("button", name="Resolve", exact=True)
    expect(resolve).to_be_disabled()
    why = page.locator("#resolve-why")
    expect(why).to_contain_text("resolution criterion not ticked: Error rates returned to baseline")
    expect(why).to_contain_text("stability window requires")
    shot(page, "incident-monitoring")

    # --- tick the resolution criteria (htmx), then wait out the stability window -------------
    for key in RESOLUTION_KEYS:
        page.locator(f'#checklist-resolution button[data-item="{key}"]').click()
        expect(page.locator(f'#checklist-resolution button[data-item="{key}"]')).to_have_attribute(
            "aria-pressed", "true"
        )
    expect(why).not_to_contain_text("not ticked")
    expect(why).to_contain_text("stability window requires")
    window = policy_settings().stability_window_minutes
    # The test writes to the database itself: with no page open, no timeline poll runs beside
    # it (on the in-memory SQLite test database the server shares the test's connection, and
    # a poll at that instant failed with "database table is locked").
    page.goto("about:blank")
    Incident.objects.filter(pk=incident.pk).update(
        mitigated_at=timezone.now() - timedelta(minutes=window, seconds=5)
    )
    page.goto(url)
    page.locator("#actions").get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".incident-head")).to_contain_text("Resolved")
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    expect(page.get_by_label(re.compile("Reason to reopen"))).to_be_visible()

    # --- the copy button works or falls back visibly ---------------------------------------
    page.get_by_role("button", name="Copy channel").click()
    expect(page.locator(".copy-hint").first).to_have_text(re.compile("Copied|Selected"))
    shot(page, "incident-resolved")

    assert problems.items == []


def test_pages_render_without_console_errors(open_page, live_server, people, problems):
    ic, _ = people
    from tests.factories import declare, drive_to

    for title, severity in (("Auth outage", "P1"), ("Training queue stuck", "P2")):
        drive_to(declare(actor=ic, title=title, severity=severity), "resolved", ic)

    open_incident = declare(
        actor=ic,
        title="Inference latency doubled",
        severity="P2",
        detected_at=timezone.now() - timedelta(minutes=20),
    )
    page = open_page(ic)
    base = live_server.url
    expect(page.locator("#board-results")).to_contain_text("Inference latency doubled")
    expect(page.locator("#board-results .countdown").first).to_be_visible()
    shot(page, "board")
    page.goto(f"{base}/incidents/{open_incident.pk}/")
    page.get_by_label("Symptom").select_option("High latency")
    expect(page.locator("#mitigation-result")).to_contain_text("Scale up, traffic shed, cache")
    page.get_by_label("Deployment").fill("inference-api")
    expect(page.locator("#rollback-result input")).to_have_value(
        "kubectl rollout undo deployment/inference-api -n production"
    )
    shot(page, "incident")
    page.goto(f"{base}/reports/")
    expect(page.get_by_role("heading", name="Resolution-target compliance (2.1)")).to_be_visible()
    shot(page, "reports")
    page.goto(f"{base}/oncall/")
    expect(page.get_by_role("heading", name="Your calendar")).to_be_visible()
    shot(page, "oncall")

    # Keyboard: the skip link is the first stop and moves focus to the main content.
    page.goto(f"{base}/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()

    phone = open_page(ic, width=390, height=844)
    expect(phone.locator("#board-results")).to_contain_text("Inference latency doubled")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the board scrolls sideways at 390 px ({width} px wide)"
    shot(phone, "board-390px")
    phone.goto(f"{base}/incidents/{open_incident.pk}/")
    wide = phone.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > 391)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"
    )
    assert wide == [], f"wider than 390 px: {wide}"
    shot(phone, "incident-390px")

    anonymous = open_page()
    anonymous.goto(f"{base}/")
    expect(anonymous.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(anonymous, "login")
    # Pages built by others keep working under the CSP.
    anonymous.goto(f"{base}/admin/login/")
    expect(anonymous.get_by_role("button", name=re.compile("Log in"))).to_be_visible()
    from incidents.services.paging import ack_token

    anonymous.goto(f"{base}/ack/{ack_token(open_incident, ic)}/")
    expect(anonymous.get_by_role("button", name=re.compile("Acknowledge as"))).to_be_visible()
    anonymous.goto(f"{base}/api/docs/")
    expect(anonymous.locator(".swagger-ui").first).to_be_visible()

    assert problems.items == []
