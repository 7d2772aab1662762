import pytest

from tests.factories import declare, drive_to


@pytest.mark.django_db
def test_declared_incident_can_be_driven_to_resolved(ic_user):
    incident = declare(actor=ic_user)
    incident = drive_to(incident, "resolved", ic_user)
    assert incident.status == "resolved"
    assert incident.ttr_seconds is not None
