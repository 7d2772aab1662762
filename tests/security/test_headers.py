"""Response headers: a Content-Security-Policy that forbids framing and X-Frame-Options DENY
on every kind of response (pages, API, admin, status page); HSTS and the redirect to HTTPS
when the site is served over HTTPS, with /healthz left to plain HTTP for load balancers."""

import pytest
from django.test import Client

from tests.factories import UserFactory

PAGES = ["/", "/reports/", "/oncall/", "/incidents/new/"]
API = ["/api/v1/incidents/", "/api/v1/policy/", "/api/schema/"]
ADMIN = ["/admin/", "/admin/incidents/incident/"]
STATUS = ["/status/", "/status/summary.json", "/status/feed.atom"]
FULL_POLICY = ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]


@pytest.fixture
def signed_in(db):
    client = Client()
    client.force_login(UserFactory(rank="cto", is_superuser=True, is_staff=True))
    return client


@pytest.mark.parametrize("url", PAGES + API + ADMIN + STATUS)
def test_every_response_refuses_framing(signed_in, url):
    response = signed_in.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    if response["Content-Type"].startswith("text/html"):
        for directive in FULL_POLICY:
            assert directive in response["Content-Security-Policy"], (url, directive)


def test_anonymous_status_page_and_login_have_the_headers(db):
    for url in ("/status/", "/login/", "/admin/login/"):
        response = Client().get(url)
        assert response["X-Frame-Options"] == "DENY", url
        for directive in FULL_POLICY:
            assert directive in response["Content-Security-Policy"], (url, directive)


@pytest.fixture
def https_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_https_requests_get_hsts(db, https_settings):
    for url in ("/status/", "/login/", "/api/schema/", "/admin/login/"):
        response = Client().get(url, HTTP_X_FORWARDED_PROTO="https")
        assert response.status_code == 200, url
        assert (
            response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        )


def test_plain_http_is_redirected_except_health_checks(db, https_settings):
    response = Client().get("/status/?x=1")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/status/?x=1"
    assert "Strict-Transport-Security" not in response  # only ever sent over HTTPS
    health = Client().get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert Client().get("/metrics").status_code == 200  # scraped over HTTP from 127.0.0.1


def test_development_serves_plain_http_without_hsts(db, settings):
    assert settings.SECURE_SSL_REDIRECT is False and settings.SECURE_HSTS_SECONDS == 0
    response = Client().get("/status/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
