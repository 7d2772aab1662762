"""Two security members approving a security incident's public words at the same moment, and
two people flipping its flag at once, on the real PostgreSQL: the incident's row lock makes them
take turns, so the stored words are one approval's whole (never one's title with the other's
text), each change is on the timeline once, and a repeated flip is refused."""

import pytest

from incidents import services
from incidents.errors import RuleViolation
from incidents.models import AuditEvent, Incident, TimelineEvent
from incidents.states import AuditAction, TimelineKind
from tests.factories import UserFactory, declare
from tests.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def members():
    members = [
        UserFactory(username=f"sec-{n}", rank="security_lead", groups=["security"])
        for n in range(2)
    ]
    for member in members:
        assert member.group_names  # loaded here, not raced for in the threads
    return members


@pytest.fixture
def breach(members):
    return declare(actor=members[0], severity="P1", security=True, title="Signing key leaked")


def approvals(incident) -> list[TimelineEvent]:
    return list(
        TimelineEvent.objects.filter(
            incident=incident, kind=TimelineKind.PUBLIC_TEXT_APPROVED
        ).order_by("id")
    )


def test_two_members_approving_the_same_words_at_once_write_one_approval(members, breach):
    _results, errors = run_at_once(
        2,
        lambda i: services.incident_public_text_approve(
            actor=members[i],
            incident_id=breach.pk,
            public_title="Sign-in disruption",
            public_text="We are investigating.",
        ),
    )
    assert errors == [None, None]
    (event,) = approvals(breach)
    breach.refresh_from_db()
    assert breach.public_approved_by == event.actor


def test_two_members_approving_different_words_at_once_take_turns(members, breach):
    words = [("Sign-in disruption", "We are investigating."), ("Login trouble", "Fix under way.")]
    _results, errors = run_at_once(
        2,
        lambda i: services.incident_public_text_approve(
            actor=members[i],
            incident_id=breach.pk,
            public_title=words[i][0],
            public_text=words[i][1],
        ),
    )
    assert errors == [None, None]
    first, last = approvals(breach)
    assert first.actor != last.actor
    assert last.data["replaces"] == {
        "public_title": first.data["public_title"],
        "public_text": first.data["public_text"],
    }
    breach = Incident.objects.get(pk=breach.pk)
    stored = (breach.public_title, breach.public_text)
    assert stored in words  # one approval's whole
    assert stored == (last.data["public_title"], last.data["public_text"])
    assert breach.public_approved_by == last.actor


def test_two_flips_at_once_change_the_flag_once(members, breach):
    _results, errors = run_at_once(
        2,
        lambda i: services.incident_security_set(
            actor=members[i], incident_id=breach.pk, security=False, reason=f"not a breach ({i})"
        ),
    )
    assert sorted(type(e).__name__ for e in errors if e) == [RuleViolation.__name__]
    assert AuditEvent.objects.filter(action=AuditAction.INCIDENT_UNRESTRICTED).count() == 1
    assert (
        TimelineEvent.objects.filter(incident=breach, kind=TimelineKind.SECURITY_CHANGED).count()
        == 1
    )
    assert not Incident.objects.get(pk=breach.pk).security
