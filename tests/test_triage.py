"""The severity selection flowchart (procedures 2.2): every way out of it, the path walked, and
which answer the walk needs next."""

import pytest

from incidents.triage import QUESTIONS, MissingAnswer, triage

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
def test_answers_beyond_the_decision_are_ignored(outcome):
    answers, severity = OUTCOMES[outcome]
    everything = dict(zip(KEYS, [True] * len(KEYS), strict=True))
    everything.update(zip(KEYS, answers, strict=False))
    result = triage(everything)
    assert result.severity == severity
    assert [step["question"] for step in result.path] == KEYS[: len(answers)]


def test_the_flowchart_asks_about_core_features_before_security():
    result = triage(
        {
            "all_users_unavailable": False,
            "core_feature_unavailable": True,
            "security_data_exposure": True,
        }
    )
    assert result.severity == "P2"


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
