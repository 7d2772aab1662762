"""Every page: 200 signed in, a redirect to the login page signed out, CSP on, no inline
script, and security incidents invisible to those who may not see them."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory, declare

from .conftest import parse

pytestmark = pytest.mark.django_db


def page_urls(incident):
    return [
        reverse("dashboard:board"),
        reverse("dashboard:declare"),
        reverse("dashboard:incident", args=[incident.pk]),
        reverse("dashboard:reports"),
        reverse("dashboard:oncall"),
    ]


def test_every_page_renders_for_a_signed_in_user(ic_client, incident):
    for url in page_urls(incident):
        response = ic_client.get(url)
        assert response.status_code == 200, url


def test_every_page_redirects_anonymous_users_to_login(client, incident):
    urls = [
        *page_urls(incident),
        reverse("dashboard:timeline", args=[incident.pk]),
        reverse("dashboard:mitigations", args=[incident.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("dashboard:login") + "?next="), url


def test_login_page_and_signing_in(client, ic):
    response = client.get(reverse("dashboard:login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    response = client.post(
        reverse("dashboard:login"), {"username": ic.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:board")
    response = client.post(reverse("dashboard:logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard:board")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, ic):
    response = client.post(reverse("dashboard:login"), {"username": ic.username, "password": "x"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


def test_csp_header_and_no_inline_script_on_any_page(ic_client, incident):
    urls = [*page_urls(incident), reverse("dashboard:declare") + "?all_users_unavailable=yes"]
    for url in urls:
        response = ic_client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, url
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp, url
        page = parse(response)
        assert page.inline_scripts == 0, url
        assert page.inline_handlers == [], url
        assert page.style_attrs == 0 and page.style_tags == 0, url
        assert any("vendor/htmx/htmx.min.js" in src for src in page.script_srcs), url
        assert b'"allowEval": false' in response.content
        assert b'"includeIndicatorStyles": false' in response.content
        assert b'hx-headers=\'{"X-CSRFToken": "' in response.content


def test_login_page_has_csp_and_no_inline_script(client):
    response = client.get(reverse("dashboard:login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert parse(response).inline_scripts == 0


def test_swagger_ui_is_exempt_and_json_only_refuses_framing(client):
    # Swagger UI starts itself with an inline script: no script policy, but never framed.
    assert client.get("/api/docs/")["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert client.get("/api/schema/")["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert client.get("/healthz")["Content-Type"].startswith("application/json")


def test_security_incident_is_invisible_everywhere(ic_client, ic, service):
    security_lead = UserFactory(rank="security_lead", groups=["security"])
    secret = declare(
        actor=security_lead, title="Token leak", severity="P1", security=True, services=[service]
    )
    board = ic_client.get(reverse("dashboard:board"))
    assert b"Token leak" not in board.content
    assert b"0 active incidents" in board.content
    urls = [
        reverse("dashboard:incident", args=[secret.pk]),
        reverse("dashboard:timeline", args=[secret.pk]),
        reverse("dashboard:mitigations", args=[secret.pk]),
        reverse("dashboard:rollback", args=[secret.pk]),
    ]
    for url in urls:
        assert ic_client.get(url).status_code == 404, url
    posts = {
        "acknowledge": {},
        "transition": {"to": "identified"},
        "add-note": {"text": "hello"},
        "assign-role": {"role": "scribe", "username": ic.username},
        "escalate": {"target": "cto", "reason": "x"},
        "page-user": {"username": ic.username, "reason": "x"},
    }
    for name, data in posts.items():
        response = ic_client.post(reverse(f"dashboard:{name}", args=[secret.pk]), data)
        assert response.status_code == 404, name
    reports = ic_client.get(reverse("dashboard:reports"))
    assert b"Over the 0 incidents" in reports.content
    secret.refresh_from_db()
    assert secret.acknowledged_at is None and not secret.timeline.filter(kind="note").exists()
    # ...and the security group sees it.
    ic_client.force_login(security_lead)
    assert ic_client.get(reverse("dashboard:incident", args=[secret.pk])).status_code == 200
    assert b"Token leak" in ic_client.get(reverse("dashboard:board")).content


def test_ack_page_still_renders_under_the_new_base(client, incident, ic):
    from incidents.services.paging import ack_token

    response = client.get(reverse("ack-link", args=[ack_token(incident, ic)]))
    assert response.status_code == 200
    assert b"Acknowledge as" in response.content
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert parse(response).inline_scripts == 0


# --- error pages ----------------------------------------------------------------------------
def test_an_unknown_page_is_a_styled_404_that_names_nothing(ic_client):
    response = ic_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<h1 id="error-title">Not found</h1>' in html
    assert "/static/css/dashboard.css" in html and "Back to the board" in html
    assert "Traceback" not in html and "urlpatterns" not in html
    api = ic_client.get("/api/v1/no-such-endpoint/")
    assert api.status_code == 404 and api.json()["detail"].startswith("Not found")


def test_403_and_500_pages_are_styled_and_the_500_needs_no_database(rf, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.views import defaults

    request = rf.get("/incidents/1/")
    request.user = AnonymousUser()
    denied = defaults.permission_denied(request, PermissionDenied("Viewers may not post notes."))
    assert denied.status_code == 403
    assert b"Viewers may not post notes." in denied.content
    assert b"/static/css/dashboard.css" in denied.content
    with django_assert_num_queries(0):
        failed = defaults.server_error(request)
    assert failed.status_code == 500
    assert b"Something went wrong on our side" in failed.content
    assert b"/static/css/dashboard.css" in failed.content
