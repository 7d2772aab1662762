"""The declaration wizard walks the flowchart of 2.2 one question at a time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from incidents.triage import CRITERIA, QUESTIONS

pytestmark = pytest.mark.django_db
WIZARD = "/incidents/new/"
# A core feature down (flowchart: P2) and none of the P1 criteria (2.1) applying.
CORE_FEATURE_DOWN = {
    "all_users_unavailable": "no",
    "core_feature_unavailable": "yes",
    **{k: "no" for k, c in CRITERIA.items() if c.severity == "P1" and k not in QUESTIONS},
    "security_data_exposure": "no",
}


def asked(response) -> list[str]:
    """The keys of the questions the page asks now (the Yes/No buttons' names)."""
    text = response.content.decode()
    return [k for k in QUESTIONS if f'<button type="submit" name="{k}" value="yes"' in text]


def criteria_asked(response) -> list[str]:
    """The keys of the 2.1 criteria the page asks now (their Yes radio buttons)."""
    text = response.content.decode()
    return [k for k in CRITERIA if f'<input type="radio" name="{k}" value="yes"' in text]


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
    """With every criterion that could raise it answered No, the flowchart's result stands."""
    response = ic_client.get(WIZARD, answers)
    assert response.status_code == 200
    assert asked(response) == []
    open_criteria = criteria_asked(response)
    assert all(CRITERIA[k].severity < severity for k in open_criteria)
    response = ic_client.get(WIZARD, {**answers, **dict.fromkeys(open_criteria, "no")})
    assert response.status_code == 200 and criteria_asked(response) == []
    text = response.content.decode()
    assert f'Proposed severity <span class="badge sev-{severity.lower()}">{severity}</span>' in text
    assert f"Flowchart (2.2): <strong>{severity}</strong>" in text
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
        **CORE_FEATURE_DOWN,
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
    assert "Severity criteria (2.1): matched Core feature unavailable" in note.text
    assert "Proposed P2" in note.text
    assert "override" not in note.text


def test_override_needs_a_reason_which_is_recorded(ic_client):
    data = {
        **CORE_FEATURE_DOWN,
        "title": "Inference down",
        "severity": "P1",
        "detection_source": "monitoring",
    }
    response = ic_client.post(WIZARD, data)
    assert response.status_code == 400
    assert b"Triage proposed P2; say why this incident is P1." in response.content
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


def test_criteria_step_asks_what_could_raise_the_flowcharts_result(ic_client):
    """Core feature down is P2 by the flowchart, which never asks about security after it; the
    criteria step does, and a breach makes the proposal P1, showing both walks."""
    flowchart = {"all_users_unavailable": "no", "core_feature_unavailable": "yes"}
    response = ic_client.get(WIZARD, flowchart)
    assert response.status_code == 200
    assert criteria_asked(response) == [
        "complete_api_unavailable",
        "security_data_exposure",
        "data_loss_multiple_customers",
        "payment_processing_failure",
    ]
    assert b'name="title"' not in response.content  # no declaring before the criteria
    answers = {**CORE_FEATURE_DOWN, "security_data_exposure": "yes", "criteria_step": "1"}
    text = ic_client.get(WIZARD, answers).content.decode()
    assert 'Proposed severity <span class="badge sev-p1">P1</span>' in text
    assert "Flowchart (2.2): <strong>P2</strong>" in text
    assert "Criteria (2.1): <strong>P1</strong>" in text
    assert "Active security breach with data exposure risk (P1)" in text
    assert '<option value="P1" selected>' in text


def test_a_single_customer_with_a_workaround_is_proposed_p3(ic_client):
    # The flowchart's way to P4: No to everything but the workaround.
    flowchart = {k: "yes" if k == "workaround_available" else "no" for k in QUESTIONS}
    response = ic_client.get(WIZARD, flowchart)
    answers = dict.fromkeys(criteria_asked(response), "no")
    assert "single_customer_impact" in answers
    answers["single_customer_impact"] = "yes"
    text = ic_client.get(WIZARD, {**flowchart, **answers}).content.decode()
    assert 'Proposed severity <span class="badge sev-p3">P3</span>' in text
    assert "Flowchart (2.2): <strong>P4</strong>" in text


def test_a_criterion_left_unanswered_is_named(ic_client):
    answers = {k: v for k, v in CORE_FEATURE_DOWN.items() if k != "payment_processing_failure"}
    response = ic_client.get(WIZARD, {**answers, "criteria_step": "1"})
    assert response.status_code == 400
    assert b"Answer every criterion: Payment processing failure." in response.content
    assert criteria_asked(response) == ["payment_processing_failure"]


def test_a_bad_answer_is_an_error_naming_the_question(ic_client):
    response = ic_client.get(WIZARD, {"all_users_unavailable": "maybe"})
    assert response.status_code == 400
    assert b"all_users_unavailable must be yes or no, not &#x27;maybe&#x27;" in response.content
    assert asked(response) == ["all_users_unavailable"]
    response = ic_client.get(WIZARD, {**CORE_FEATURE_DOWN, "payment_processing_failure": "2"})
    assert response.status_code == 400
    assert b"payment_processing_failure must be yes or no" in response.content
    assert b"Payment processing failure" in response.content


def test_a_forged_post_without_the_criteria_declares_nothing(ic_client):
    data = {
        "all_users_unavailable": "no",
        "core_feature_unavailable": "yes",
        "title": "Inference down",
        "severity": "P2",
        "detection_source": "monitoring",
    }
    response = ic_client.post(WIZARD, data)
    assert response.status_code == 400
    assert "payment_processing_failure" in criteria_asked(response)
    assert not Incident.objects.exists()
    bad = ic_client.post(WIZARD, {**data, **CORE_FEATURE_DOWN, "cosmetic_issue": "sure"})
    assert bad.status_code == 400 and b"cosmetic_issue must be yes or no" in bad.content
    assert not Incident.objects.exists()
