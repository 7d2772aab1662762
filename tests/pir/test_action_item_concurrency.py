"""Two people editing one action item at once, on the real PostgreSQL: with the version they
read, exactly one change applies and the other is refused (409) naming the current version;
nothing is half-applied."""

from datetime import date

import pytest

from incidents.errors import StaleWrite
from pir import services
from pir.models import ActionItem
from tests.factories import UserFactory, declare, drive_to
from tests.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EDITORS = 8


def test_editors_with_the_same_version_change_it_exactly_once():
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    lead = UserFactory(rank="engineering_manager", groups=["sre_lead"])
    incident = drive_to(declare(actor=ic), "resolved", ic)
    item = services.action_item_create(
        actor=ic,
        pir_id=incident.pir.pk,
        action="Add a canary",
        priority="P1",
        owner=ic,
        due_date=date(2026, 4, 1),
    )
    editors = [ic, lead] * (EDITORS // 2)
    for editor in editors:
        assert editor.group_names  # loaded here, not raced for in the threads
    due_dates = [date(2026, 5, day) for day in range(1, EDITORS + 1)]

    results, errors = run_at_once(
        EDITORS,
        lambda i: services.action_item_update(
            actor=editors[i],
            pir_id=incident.pir.pk,
            item_id=item.pk,
            version=1,
            due_date=due_dates[i],
        ),
    )

    won = [r for r in results if r is not None]
    assert len(won) == 1
    refused = [e for e in errors if e is not None]
    assert len(refused) == EDITORS - 1
    assert all(isinstance(e, StaleWrite) and e.extra["version"] == 2 for e in refused)
    stored = ActionItem.objects.get(pk=item.pk)
    assert (stored.version, stored.due_date) == (2, won[0].due_date)
