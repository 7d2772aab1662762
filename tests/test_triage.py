"""The severity selection flowchart (procedures 2.2): every way out of it, the path walked, and
which answer the walk needs next."""

import pytest

from incidents.triage import ANSWER_KEYS, CRITERIA, QUESTIONS, BadAnswer, MissingAnswer, triage

# The flowchart's questions, word for word, in the order it asks them.
FLOWCHART = [
    ("all_users_unavailable", "Is service completely unavailable for all users?"),
    ("core_feature_unavailable", "Is a core feature (training/inference/encryption) unavailable?"),
    ("security_data_exposure", "Is there a security incident with potential data exposure?"),
    ("error_or_latency_breach", "Are >25% of requests failing or latency >2x baseline?"),
    ("workaround_available", "Is there a workaround available?"),
]
KEYS = [key for key, _ in FLOWCHART] + ["multiple_customers_affected"]

# (answers in the order asked, severity): the seven ways out of the flowchart.
OUTCOMES = {
    "service down for all users -> P1": ([True], "P1"),
    "core feature unavailable -> P2": ([False, True], "P2"),
    "security incident with data exposure -> P1": ([False, False, True], "P1"),
    ">25% failing or latency >2x -> P2": ([False, False, False, True], "P2"),
    "no workaround -> P2": ([False, False, False, False, False], "P2"),
    "workaround, multiple customers -> P3": ([False, False, False, False, True, True], "P3"),
    "workaround, single customer or internal -> P4": (
        [False, False, False, False, True, False],
        "P4",
    ),
}


def test_questions_are_the_flowcharts():
    assert list(QUESTIONS) == KEYS
    for key, text in FLOWCHART:
        assert QUESTIONS[key] == text


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_with_its_exact_path(outcome):
    answers, severity = OUTCOMES[outcome]
    result = triage(dict(zip(KEYS, answers, strict=False)))
    assert result.severity == severity
    assert result.path == [
        {"question": key, "text": QUESTIONS[key], "answer": answer}
        for key, answer in zip(KEYS, answers, strict=False)
    ]


def test_all_seven_outcomes_are_distinct_paths():
    assert len(OUTCOMES) == 7
    assert len({tuple(a) for a, _ in OUTCOMES.values()}) == 7
    assert sorted({s for _, s in OUTCOMES.values()}) == ["P1", "P2", "P3", "P4"]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_answers_beyond_the_decision_are_ignored_by_the_flowchart(outcome):
    """...by the flowchart; the criteria count them (see the tests of 2.1 below)."""
    answers, severity = OUTCOMES[outcome]
    everything = dict(zip(KEYS, [True] * len(KEYS), strict=True))
    everything.update(zip(KEYS, answers, strict=False))
    result = triage(everything)
    assert result.flowchart_severity == severity
    assert [step["question"] for step in result.path] == KEYS[: len(answers)]


def test_the_flowchart_asks_about_core_features_before_security():
    """The flowchart alone says P2; 2.1 calls an active breach with data exposure P1, and the
    more severe is proposed, with both walks shown."""
    result = triage(
        {
            "all_users_unavailable": False,
            "core_feature_unavailable": True,
            "security_data_exposure": True,
        }
    )
    assert result.flowchart_severity == "P2"
    assert [step["question"] for step in result.path] == [
        "all_users_unavailable",
        "core_feature_unavailable",
    ]
    assert result.criteria_severity == "P1"
    assert [c["criterion"] for c in result.criteria_matched] == [
        "security_data_exposure",
        "core_feature_unavailable",
    ]
    assert result.criteria_matched[0]["text"] == "Active security breach with data exposure risk"
    assert result.severity == "P1" and result.decided_by == "criteria"


@pytest.mark.parametrize("reached", range(len(KEYS)))
def test_a_missing_answer_names_the_question_the_walk_reached(reached):
    # Answer so as to walk on past every earlier question, then stop answering.
    walk_on = [False, False, False, False, True]
    answers = dict(zip(KEYS[:reached], walk_on[:reached], strict=True))
    with pytest.raises(MissingAnswer) as missing:
        triage(answers)
    assert missing.value.key == KEYS[reached]
    assert KEYS[reached] in str(missing.value)
    assert QUESTIONS[KEYS[reached]] in str(missing.value)


def test_none_counts_as_unanswered():
    with pytest.raises(MissingAnswer) as missing:
        triage({"all_users_unavailable": False, "core_feature_unavailable": None})
    assert missing.value.key == "core_feature_unavailable"


@pytest.mark.parametrize(
    ("answers", "severity"),
    [
        ({"all_users_unavailable": True}, "P1"),
        ({"all_users_unavailable": False, "core_feature_unavailable": True}, "P2"),
    ],
)
def test_only_the_answers_the_walk_needs_are_required(answers, severity):
    assert triage(answers).severity == severity


# --- the severity criteria (2.1) --------------------------------------------------------------
# The flowchart's way to P4: No to everything but the workaround.
NO_TO_ALL_ABOVE_P4 = {key: key == "workaround_available" for key in KEYS}


def test_every_criterion_of_2_1_has_one_key_with_the_documents_text():
    from incidents.policy import SEVERITY_DEFAULTS

    for severity, policy in SEVERITY_DEFAULTS.items():
        texts = [c.text for c in CRITERIA.values() if c.severity == severity]
        assert texts == policy["criteria"]
    assert len(ANSWER_KEYS) == len(set(ANSWER_KEYS)) == len(QUESTIONS) + len(CRITERIA) - 3
    # The three flowchart questions that are 2.1 criteria in other words share their key.
    assert {k for k in QUESTIONS if k in CRITERIA} == {
        "all_users_unavailable",
        "security_data_exposure",
        "core_feature_unavailable",
    }


def test_a_single_customer_with_a_workaround_is_p3_by_the_criteria():
    answers = {**NO_TO_ALL_ABOVE_P4, "single_customer_impact": True}
    result = triage(answers)
    assert result.flowchart_severity == "P4"
    assert result.criteria_severity == "P3"
    assert result.severity == "P3"
    assert result.criteria_matched == [
        {"criterion": "single_customer_impact", "severity": "P3", "text": "Single customer impact"}
    ]


@pytest.mark.parametrize(
    ("criterion", "severity"),
    [
        ("data_loss_multiple_customers", "P1"),
        ("payment_processing_failure", "P1"),
        ("complete_api_unavailable", "P1"),
        ("performance_degraded_over_50", "P2"),
        ("single_region_outage", "P2"),
        ("authentication_degraded", "P2"),
        ("performance_degraded_10_to_50", "P3"),
    ],
)
def test_criteria_the_flowchart_cannot_ask_raise_the_proposal(criterion, severity):
    result = triage({**NO_TO_ALL_ABOVE_P4, criterion: True})
    assert result.flowchart_severity == "P4"
    assert result.severity == severity == result.criteria_severity
    assert [c["criterion"] for c in result.criteria_matched] == [criterion]


def test_a_less_severe_criterion_leaves_the_flowcharts_proposal():
    answers = {**NO_TO_ALL_ABOVE_P4, "error_or_latency_breach": True, "cosmetic_issue": True}
    result = triage(answers)
    assert result.severity == "P2" and result.decided_by == "flowchart"
    assert result.criteria_severity == "P4"


def test_both_agreeing_is_decided_by_both():
    result = triage({"all_users_unavailable": True})
    assert result.severity == "P1" and result.decided_by == "both"
    assert result.criteria_open == []


def test_open_criteria_are_the_unanswered_ones_that_could_raise_the_proposal():
    result = triage({"all_users_unavailable": False, "core_feature_unavailable": True})
    assert result.severity == "P2"
    assert [c["criterion"] for c in result.criteria_open] == [
        "complete_api_unavailable",
        "security_data_exposure",
        "data_loss_multiple_customers",
        "payment_processing_failure",
    ]
    answered = triage(
        {
            "all_users_unavailable": False,
            "core_feature_unavailable": True,
            **{c["criterion"]: False for c in result.criteria_open},
        }
    )
    assert answered.criteria_open == [] and answered.severity == "P2"
    assert [a["answer"] for a in answered.criteria_answers] == [False] * 5 + [True]


@pytest.mark.parametrize("value", ["yes", 1, 0, [], "false"])
def test_an_answer_that_is_not_a_boolean_names_the_question(value):
    with pytest.raises(BadAnswer) as bad:
        triage({"all_users_unavailable": True, "payment_processing_failure": value})
    assert bad.value.key == "payment_processing_failure"
    assert "Payment processing failure" in str(bad.value)
