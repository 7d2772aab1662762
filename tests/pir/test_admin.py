"""Admin reaches reviews through the selectors and changes them through the services."""

import pytest
from django.contrib.messages import get_messages

from incidents.states import TimelineKind

pytestmark = pytest.mark.django_db


def test_admin_lists_edits_and_publishes_through_the_services(p1_pir, client, sre_lead):
    pir, _ic = p1_pir
    client.force_login(sre_lead)
    assert client.get("/admin/pir/postincidentreview/").status_code == 200
    page = client.get(f"/admin/pir/postincidentreview/{pir.pk}/change/")
    assert page.status_code == 200
    response = client.post(
        "/admin/pir/postincidentreview/",
        {"action": "publish", "_selected_action": [pir.pk]},
        follow=True,
    )
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "is draft; it cannot move to published" in messages
    client.post(
        "/admin/pir/postincidentreview/",
        {"action": "submit_for_review", "_selected_action": [pir.pk]},
    )
    pir.refresh_from_db()
    assert pir.status == "in_review"
    assert pir.incident.timeline.filter(kind=TimelineKind.NOTE, data__pir=pir.pk).exists()
    assert client.get("/admin/pir/actionitem/").status_code == 200
    assert client.get("/admin/pir/actiondigestdelivery/").status_code == 200


def test_admin_saves_go_through_the_service(p1_pir, client, sre_lead):
    from pir.models import PostIncidentReview
    from tests.test_admin import _form_data

    pir, _ic = p1_pir
    client.force_login(sre_lead)
    url = f"/admin/pir/postincidentreview/{pir.pk}/change/"
    data = _form_data(client.get(url))
    data["summary"] = "Edited in admin."
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert PostIncidentReview.objects.get(pk=pir.pk).summary == "Edited in admin."
