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


def test_core_feature_with_data_exposure_is_p1_by_the_criteria(api, viewer):
    """The flowchart asks about core features first and says P2; 2.1 calls an active breach P1.
    The proposal is the more severe, and both walks are in the answer."""
    answers = {
        "all_users_unavailable": False,
        "core_feature_unavailable": True,
        "security_data_exposure": True,
    }
    body = api(viewer).post(TRIAGE, answers, format="json").json()
    assert body["severity"] == "P1"
    assert body["decided_by"] == "criteria"
    assert body["flowchart"]["severity"] == "P2"
    assert body["flowchart"]["path"] == body["path"]
    assert [s["question"] for s in body["path"]] == [
        "all_users_unavailable",
        "core_feature_unavailable",
    ]
    assert body["criteria"]["severity"] == "P1"
    assert body["criteria"]["matched"][0] == {
        "criterion": "security_data_exposure",
        "severity": "P1",
        "text": "Active security breach with data exposure risk",
    }


def test_a_single_customer_with_a_workaround_is_p3(api, viewer):
    answers = {key: key == "workaround_available" for key in ORDER}  # the flowchart: P4
    body = api(viewer).post(TRIAGE, {**answers, "single_customer_impact": True}, format="json")
    body = body.json()
    assert (body["flowchart"]["severity"], body["criteria"]["severity"]) == ("P4", "P3")
    assert body["severity"] == "P3"
    assert [c["criterion"] for c in body["criteria"]["matched"]] == ["single_customer_impact"]


@pytest.mark.parametrize(
    "criterion",
    ["data_loss_multiple_customers", "payment_processing_failure", "performance_degraded_over_50"],
)
def test_criteria_the_flowchart_has_no_question_for_can_be_answered(api, viewer, criterion):
    answers = {key: key == "workaround_available" for key in ORDER}
    body = api(viewer).post(TRIAGE, {**answers, criterion: True}, format="json").json()
    assert body["flowchart"]["severity"] == "P4"
    assert body["severity"] == body["criteria"]["severity"] in ("P1", "P2")
    assert body["criteria"]["matched"][0]["criterion"] == criterion


def test_unanswered_criteria_that_could_raise_the_proposal_are_listed(api, viewer):
    answers = {"all_users_unavailable": False, "core_feature_unavailable": True}
    body = api(viewer).post(TRIAGE, answers, format="json").json()
    assert body["severity"] == "P2"  # a flowchart-only caller is answered as before
    assert {c["severity"] for c in body["criteria"]["unanswered"]} == {"P1"}
    assert "payment_processing_failure" in [c["criterion"] for c in body["criteria"]["unanswered"]]
    body = api(viewer).post(TRIAGE, {"all_users_unavailable": True}, format="json").json()
    assert body["criteria"]["unanswered"] == [] and body["decided_by"] == "both"


@pytest.mark.parametrize("value", ["maybe", 2, [], "true"])
def test_a_non_boolean_criterion_is_400_naming_it(api, viewer, value):
    answers = {"all_users_unavailable": True, "payment_processing_failure": value}
    body = assert_error(api(viewer).post(TRIAGE, answers, format="json"), 400)
    assert "payment_processing_failure" in body
    assert "payment_processing_failure" in body["detail"]


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
