from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Deadline
from tests.factories import ServiceFactory, TeamFactory, declare, drive_to

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    text = response.content.decode()
    found = [(text.index(t), t) for t in ("Alpha", "Bravo", "Charlie", "Delta") if t in text]
    return [t for _, t in sorted(found)]


@pytest.fixture
def board_data(ic):
    platform = TeamFactory(slug="test-platform", name="Test Platform")
    data = TeamFactory(slug="test-data", name="Test Data")
    gateway = ServiceFactory(slug="test-gw", name="Test Gateway", team=platform)
    db = ServiceFactory(slug="test-db", name="Test Database", team=data)
    now = timezone.now()
    declare(
        actor=ic,
        title="Bravo",
        severity="P2",
        services=[gateway],
        detected_at=now - timedelta(minutes=30),
    )
    declare(
        actor=ic,
        title="Alpha",
        severity="P1",
        services=[db],
        detected_at=now - timedelta(minutes=5),
    )
    declare(
        actor=ic,
        title="Charlie",
        severity="P2",
        services=[db],
        detected_at=now - timedelta(minutes=50),
    )
    done = declare(actor=ic, title="Delta", severity="P1", services=[gateway])
    drive_to(done, "resolved", ic)


def test_board_orders_by_severity_then_age_and_hides_resolved(ic_client, board_data):
    response = ic_client.get(reverse("dashboard:board"))
    assert response.status_code == 200
    assert titles(response) == ["Alpha", "Charlie", "Bravo"]


def test_board_filters(ic_client, board_data):
    board = reverse("dashboard:board")
    assert titles(ic_client.get(board, {"severity": "P2"})) == ["Charlie", "Bravo"]
    assert titles(ic_client.get(board, {"service": "test-gw"})) == ["Bravo"]
    assert titles(ic_client.get(board, {"team": "test-data"})) == ["Alpha", "Charlie"]
    assert titles(ic_client.get(board, {"status": "identified"})) == []
    response = ic_client.get(board, {"severity": "P9"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content


def test_htmx_refresh_returns_only_the_results(ic_client, board_data):
    response = ic_client.get(reverse("dashboard:board"), {"severity": "P1"}, HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert text.lstrip().startswith('<section id="board-results"')
    assert 'hx-trigger="every 15s"' in text and "<html" not in text
    assert "Alpha" in text and "Charlie" not in text


def test_overdue_escalation_is_said_in_words(ic_client, ic, service):
    incident = declare(
        actor=ic,
        title="Late one",
        severity="P1",
        services=[service],
        detected_at=timezone.now() - timedelta(minutes=7),
    )
    pending = Deadline.objects.filter(incident=incident, kind="escalation", status="pending")
    assert pending.filter(due_at__lt=timezone.now()).exists()
    text = ic_client.get(reverse("dashboard:board")).content.decode()
    assert "OVERDUE by" in text
    assert 'class="countdown is-overdue" role="timer"' in text
    assert "⚠" in text and 'aria-label="Escalation to Backup on-call' in text
