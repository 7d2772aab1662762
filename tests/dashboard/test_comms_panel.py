"""The incident page's communications panel, when comms provides its drafts and service."""

import pytest
from django.urls import reverse

from incidents import services
from tests.factories import UserFactory

pytest.importorskip("comms.render")
pytest.importorskip("comms.services")

from comms.models import Update

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_composer_offers_the_current_status_template_prefilled(ic_client, ic, incident):
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role="incident_commander", user=ic
    )
    page = ic_client.get(reverse("dashboard:incident", args=[incident.pk])).content.decode()
    assert "Post an update (6.2 templates)" in page
    assert '<option value="investigating" selected>Investigating (current status)' in page
    assert "Investigating Issues" in page  # the 6.2 status page template, prefilled
    assert "Conformance so far" in page
    draft = ic_client.get(
        reverse("dashboard:comms-draft", args=[incident.pk]),
        {"channel": "status_page", "template": "identified"},
    )
    assert b"Issue Identified" in draft.content and b'id="comms-text"' in draft.content


def test_the_draft_refresh_sends_only_the_two_choices(ic_client, ic, incident):
    """The draft is fetched by GET when the channel or template changes: the CSRF token and the
    text being written must not ride along into the URL (and the access log)."""
    import re

    page = ic_client.get(reverse("dashboard:incident", args=[incident.pk])).content.decode()
    selects = re.findall(r'<select id="comms-(?:channel|template)"[^>]*>', page)
    assert len(selects) == 2
    for select in selects:
        assert 'hx-include="#comms-channel, #comms-template"' in select
        assert "closest form" not in select


def test_posting_an_update_and_a_refusal(client, ic, incident):
    responder = UserFactory(rank="engineer", groups=["responder"])
    client.force_login(responder)
    page = client.get(reverse("dashboard:incident", args=[incident.pk])).content.decode()
    # Not the IC or Comms Lead: the public channels are not offered...
    assert '<option value="internal"' in page and '<option value="status_page"' not in page
    url = reverse("dashboard:comms-post", args=[incident.pk])
    # ...and posting to one anyway is refused with the rule, changing nothing.
    response = client.post(
        url, {"channel": "status_page", "template": "investigating", "text": "x"}, **HTMX
    )
    assert response.status_code == 403
    assert b"Communications Lead" in response.content
    assert not Update.objects.filter(incident=incident).exists()
    response = client.post(url, {"channel": "internal", "template": "investigating", "text": ""})
    assert response.status_code == 400
    assert not Update.objects.filter(incident=incident).exists()
    response = client.post(
        url, {"channel": "internal", "template": "investigating", "text": "All hands on it"}
    )
    assert response.status_code == 302
    assert Update.objects.get(incident=incident).text == "All hands on it"
