"""Admin pages of rows that belong to incidents (in every app) never show a restricted
security incident to someone who may not see it."""

import pytest
from django.contrib.auth.models import Permission

from comms.models import CommsObligation
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

TITLE = "Exfiltration from the billing bucket"
PAGES = ["/admin/comms/commsobligation/", "/admin/incidents/deadline/"]


@pytest.fixture
def secret_incident():
    incident = declare(title=TITLE, severity="P1", security=True)
    assert CommsObligation.objects.filter(incident=incident).exists()
    return incident


@pytest.mark.parametrize("path", PAGES)
def test_an_sre_lead_outside_security_does_not_see_it(client, sre_lead, secret_incident, path):
    # Whatever admin permissions SRE leads hold, the rows come through the visibility filter.
    sre_lead.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_commsobligation", "view_deadline"])
    )
    client.force_login(sre_lead)
    response = client.get(path)
    assert response.status_code == 200
    assert TITLE.encode() not in response.content


@pytest.mark.parametrize("path", PAGES)
def test_a_superuser_sees_it(client, secret_incident, path):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.get(path)
    assert response.status_code == 200
    assert TITLE.encode() in response.content
