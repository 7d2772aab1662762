"""The declaration wizard walks the flowchart of 2.2 one question at a time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from incidents.triage import QUESTIONS

pytestmark = pytest.mark.django_db
WIZARD = "/incidents/new/"


def asked(response) -> list[str]:
    """The keys of the questions the page asks now (the Yes/No buttons' names)."""
    text = response.content.decode()
    return [k for k in QUESTIONS if f'<button type="submit" name="{k}" value="yes"' in text]


@pytest.mark.parametrize(
    ("answers", "severity"),
    [
        ({"all_users_unavailable": "yes"}, "P1"),
        ({"all_users_unavailable": "no", "core_feature_unavailable": "yes"}, "P2"),
        (
            {
                "all_users_unavailable": "no",
                "core_feature_unavailable": "no",
                "security_data_exposure": "yes",
            },
            "P1",
        ),
        (
            {
                "all_users_unavailable": "no",
                "core_feature_unavailable": "no",
                "security_data_exposure": "no",
                "error_or_latency_breach": "no",
                "workaround_available": "no",
            },
            "P2",
        ),
        (
            {
                "all_users_unavailable": "no",
                "core_feature_unavailable": "no",
                "security_data_exposure": "no",
                "error_or_latency_breach": "no",
                "workaround_available": "yes",
                "multiple_customers_affected": "no",
            },
            "P4",
        ),
    ],
)
def test_paths_end_in_the_flowcharts_severity(ic_client, answers, severity):
    response = ic_client.get(WIZARD, answers)
    assert response.status_code == 200
    assert asked(response) == []
    text = response.content.decode()
    assert (
        f'The flowchart proposes <span class="badge sev-{severity.lower()}">{severity}</span>'
        in text
    )
    assert f'<option value="{severity}" selected>' in text


def test_each_step_asks_only_the_next_question(ic_client):
    keys = list(QUESTIONS)
    answers = {}
    for key in keys:
        response = ic_client.get(WIZARD, answers)
        assert asked(response) == [key]
        assert QUESTIONS[key].replace(">", "&gt;") in response.content.decode()
        answers[key] = "no" if key != "workaround_available" else "yes"
    assert asked(ic_client.get(WIZARD, answers)) == []


def test_later_answers_are_dropped_when_an_earlier_one_decides(ic_client):
    response = ic_client.get(WIZARD, {"all_users_unavailable": "yes", "workaround_available": "no"})
    assert b'name="workaround_available"' not in response.content
    assert b'<input type="hidden" name="all_users_unavailable" value="yes">' in response.content


def test_declaring_records_the_path_and_redirects(ic_client, service):
    data = {
        "all_users_unavailable": "no",
        "core_feature_unavailable": "yes",
        "title": "Inference down",
        "severity": "P2",
        "detection_source": "monitoring",
        "services": [service.pk],
        "symptoms": "Timeouts",
    }
    response = ic_client.post(WIZARD, data)
    incident = Incident.objects.get(title="Inference down")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:incident", args=[incident.pk])
    assert incident.severity == "P2" and incident.symptoms == "Timeouts"
    assert list(incident.services.all()) == [service]
    note = TimelineEvent.objects.get(incident=incident, kind="note")
    assert "Severity flowchart (2.2)" in note.text and "⇒ P2" in note.text
    assert "override" not in note.text


def test_override_needs_a_reason_which_is_recorded(ic_client):
    data = {
        "all_users_unavailable": "no",
        "core_feature_unavailable": "yes",
        "title": "Inference down",
        "severity": "P1",
        "detection_source": "monitoring",
    }
    response = ic_client.post(WIZARD, data)
    assert response.status_code == 400
    assert b"The flowchart proposed P2; say why this incident is P1." in response.content
    assert not Incident.objects.exists()
    data["override_reason"] = "Largest customer's launch day"
    response = ic_client.post(WIZARD, data)
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert incident.severity == "P1"
    note = TimelineEvent.objects.get(incident=incident, kind="note")
    assert "Severity override: proposed P2, declared P1" in note.text
    assert "Largest customer's launch day" in note.text


def test_rule_violations_show_next_to_the_field_and_declare_nothing(ic_client):
    base = {"all_users_unavailable": "yes", "severity": "P1", "detection_source": "monitoring"}
    response = ic_client.post(WIZARD, {**base, "title": ""})
    assert response.status_code == 400 and b"This field is required." in response.content
    future = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = ic_client.post(WIZARD, {**base, "title": "T", "detected_at": future})
    assert response.status_code == 400
    text = response.content.decode()
    assert "detected_at is in the future. (rule: detected_at not in the future)" in text
    assert text.index("detected_at is in the future") > text.index('id="id_detected_at"')
    now = timezone.now()
    response = ic_client.post(
        WIZARD,
        {
            **base,
            "title": "T",
            "detected_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "started_at": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 400
    assert b"started_at is after detected_at" in response.content
    assert not Incident.objects.exists()


def test_viewers_cannot_declare(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(groups=["viewer"]))
    response = client.get(WIZARD)
    assert b"Viewers cannot declare incidents" in response.content
    response = client.post(
        WIZARD,
        {
            "all_users_unavailable": "yes",
            "title": "T",
            "severity": "P1",
            "detection_source": "monitoring",
        },
    )
    assert response.status_code == 400
    assert not Incident.objects.exists()
