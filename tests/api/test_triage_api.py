"""`POST /api/v1/triage/`: the severity flowchart of procedures 2.2, branch by branch."""

import pytest

from .conftest import assert_error

pytestmark = pytest.mark.django_db

TRIAGE = "/api/v1/triage/"
ORDER = [
    "all_users_unavailable",
    "core_feature_unavailable",
    "security_data_exposure",
    "error_or_latency_breach",
    "workaround_available",
    "multiple_customers_affected",
]


@pytest.mark.parametrize(
    ("answers", "severity"),
    [
        ({"all_users_unavailable": True}, "P1"),
        ({"all_users_unavailable": False, "core_feature_unavailable": True}, "P2"),
        (
            {
                "all_users_unavailable": False,
                "core_feature_unavailable": False,
                "security_data_exposure": True,
            },
            "P1",
        ),
        (
            {
                "all_users_unavailable": False,
                "core_feature_unavailable": False,
                "security_data_exposure": False,
                "error_or_latency_breach": True,
            },
            "P2",
        ),
        (
            {
                "all_users_unavailable": False,
                "core_feature_unavailable": False,
                "security_data_exposure": False,
                "error_or_latency_breach": False,
                "workaround_available": False,
            },
            "P2",
        ),
        (
            {
                "all_users_unavailable": False,
                "core_feature_unavailable": False,
                "security_data_exposure": False,
                "error_or_latency_breach": False,
                "workaround_available": True,
                "multiple_customers_affected": True,
            },
            "P3",
        ),
        (
            {
                "all_users_unavailable": False,
                "core_feature_unavailable": False,
                "security_data_exposure": False,
                "error_or_latency_breach": False,
                "workaround_available": True,
                "multiple_customers_affected": False,
            },
            "P4",
        ),
    ],
    ids=[
        "all-users-P1",
        "core-feature-P2",
        "security-P1",
        "error-rate-P2",
        "no-workaround-P2",
        "many-customers-P3",
        "one-customer-P4",
    ],
)
def test_each_branch(api, viewer, answers, severity):
    response = api(viewer).post(TRIAGE, answers, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["severity"] == severity
    assert [step["question"] for step in body["path"]] == list(answers)
    assert [step["answer"] for step in body["path"]] == list(answers.values())
    assert all(step["text"].endswith("?") for step in body["path"])


def test_answers_past_the_deciding_question_are_not_on_the_path(api, viewer):
    answers = {key: True for key in ORDER}
    body = api(viewer).post(TRIAGE, answers, format="json").json()
    assert body["severity"] == "P1"
    assert [step["question"] for step in body["path"]] == ["all_users_unavailable"]


def test_core_feature_is_asked_before_security(api, viewer):
    """The flowchart's order: a core feature down is P2 even with data exposure."""
    answers = {
        "all_users_unavailable": False,
        "core_feature_unavailable": True,
        "security_data_exposure": True,
    }
    assert api(viewer).post(TRIAGE, answers, format="json").json()["severity"] == "P2"


@pytest.mark.parametrize("reached", range(len(ORDER)))
def test_a_missing_answer_the_walk_needs_is_400_naming_it(api, viewer, reached):
    # Answer everything before `reached` so the walk continues, and leave `reached` out.
    answers = {key: key == "workaround_available" for key in ORDER[:reached]}
    body = assert_error(api(viewer).post(TRIAGE, answers, format="json"), 400)
    missing = ORDER[reached]
    assert missing in body, body
    assert missing in body["detail"]
    assert body["rule"] == "flowchart answer required"


def test_null_counts_as_missing(api, viewer):
    body = assert_error(
        api(viewer).post(TRIAGE, {"all_users_unavailable": None}, format="json"), 400
    )
    assert "all_users_unavailable" in body


@pytest.mark.parametrize("value", ["maybe", 2, [], {"yes": True}, "sometimes"])
def test_a_non_boolean_answer_is_400(api, viewer, value):
    body = assert_error(
        api(viewer).post(TRIAGE, {"all_users_unavailable": value}, format="json"), 400
    )
    assert "all_users_unavailable" in body
    assert "all_users_unavailable" in body["detail"]


def test_an_unknown_field_is_400(api, viewer):
    body = assert_error(
        api(viewer).post(TRIAGE, {"all_users_unavailable": True, "users_sad": True}, format="json"),
        400,
    )
    assert "users_sad" in body
    assert "users_sad" in body["detail"]


def test_triage_needs_a_token(api, db):
    assert api().post(TRIAGE, {"all_users_unavailable": True}, format="json").status_code == 401
