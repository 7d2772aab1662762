"""The detail's version query (incidents.selectors.incident_detail_version) writes the
visibility rule in SQL for speed; the rule itself lives in `incident_list_for_user`. Here the
two agree for every kind of viewer and incident, so a change to one without the other fails."""

import pytest
from django.utils import timezone

from incidents import services
from incidents.selectors import incident_detail_version, incident_list_for_user
from incidents.states import Role
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db


def test_the_version_query_sees_exactly_what_the_visibility_rule_lets_each_viewer_see(
    security_user, ic_user
):
    declarer = UserFactory(rank="senior_engineer", groups=["incident_commander"])
    holder = UserFactory(rank="engineer", groups=["responder"])
    relieved = UserFactory(rank="engineer", groups=["responder"])
    viewers = {
        "security": security_user,
        "declarer": declarer,
        "role holder": holder,
        "relieved role holder": relieved,
        "commander": ic_user,
        "responder": UserFactory(rank="engineer", groups=["responder"]),
        "viewer": UserFactory(rank="engineer", groups=["viewer"]),
        "no group": UserFactory(rank="engineer"),
        "superuser": UserFactory(rank="engineer", is_superuser=True),
        "inactive superuser": UserFactory(rank="engineer", is_superuser=True, is_active=False),
    }
    secret = declare(actor=declarer, severity="P2", security=True, title="Credential leak")
    for user, role in ((relieved, Role.SME), (holder, Role.SME)):
        services.incident_assign_role(
            actor=security_user, incident_id=secret.pk, role=role, user=user
        )
    services.incident_relieve_role(
        actor=security_user, incident_id=secret.pk, role=Role.SME, user=relieved
    )
    public = declare(actor=ic_user, severity="P3", title="Slow search")
    now = timezone.now()
    seen = {}
    for name, user in viewers.items():
        for incident in (secret, public):
            visible = incident_list_for_user(user).filter(pk=incident.pk).exists()
            versioned = incident_detail_version(user, incident.pk, now) is not None
            assert versioned == visible, (name, incident.title)
            seen[name, incident.title] = visible
    # The matrix is not trivial: some viewers see the security incident and some do not.
    assert {seen[name, "Credential leak"] for name in viewers} == {True, False}
