"""Proposing a severity: the selection flowchart (procedures 2.2) and the severity criteria
(2.1), each walked on its own, and the more severe of the two proposed.

The two disagree. The flowchart asks about core features before security exposure, so a core
feature down with data exposed comes out P2 where 2.1 calls an active breach P1; it sends a
single customer with a workaround to P4 where 2.1 lists "single customer impact" under P3; and
it has no question for data loss, payment failure or a >50% degradation at all. So both are
asked and neither is silently dropped: the result carries the flowchart's severity and path,
the criteria's severity and which criteria matched, and proposes the more severe.

Three flowchart questions are 2.1 criteria in other words and share their key (one answer
serves both): `all_users_unavailable` (P1 "All users unable to access core services"),
`security_data_exposure` (P1 "Active security breach with data exposure risk") and
`core_feature_unavailable` (P2 "Core feature unavailable"). The flowchart stops at its first
deciding question; the criteria count every answer given, even one the walk did not reach.

Only the criteria that could still raise the proposal matter: those more severe than it and
not answered yet are `criteria_open` (the wizard asks them; the API lists them, so a caller
knows the proposal is final only when that list is empty).
"""

from __future__ import annotations

from dataclasses import dataclass

from .policy import SEVERITY_DEFAULTS
from .states import Severity

QUESTIONS = {
    "all_users_unavailable": "Is service completely unavailable for all users?",
    "core_feature_unavailable": "Is a core feature (training/inference/encryption) unavailable?",
    "security_data_exposure": "Is there a security incident with potential data exposure?",
    "error_or_latency_breach": "Are >25% of requests failing or latency >2x baseline?",
    "workaround_available": "Is there a workaround available?",
    "multiple_customers_affected": "Is more than one customer affected?",
}

# One key per 2.1 criterion, in the document's order; the texts are the document's
# (`policy.SEVERITY_DEFAULTS`, held to it by tests/test_policy_document.py). The keys are API
# vocabulary, so they follow the document, not the policy an SRE lead may reword.
_CRITERIA_KEYS = {
    Severity.P1: [
        "all_users_unavailable",
        "complete_api_unavailable",
        "security_data_exposure",
        "data_loss_multiple_customers",
        "payment_processing_failure",
    ],
    Severity.P2: [
        "core_feature_unavailable",
        "performance_degraded_over_50",
        "requests_failing_over_25",
        "single_region_outage",
        "authentication_degraded",
    ],
    Severity.P3: [
        "non_critical_feature_unavailable",
        "performance_degraded_10_to_50",
        "intermittent_errors_under_10",
        "single_customer_impact",
        "monitoring_alerting_issue",
    ],
    Severity.P4: [
        "cosmetic_issue",
        "documentation_error",
        "non_urgent_maintenance",
        "feature_request",
    ],
}


@dataclass(frozen=True)
class Criterion:
    key: str
    severity: str
    text: str


CRITERIA: dict[str, Criterion] = {
    key: Criterion(key, str(severity), text)
    for severity, keys in _CRITERIA_KEYS.items()
    for key, text in zip(keys, SEVERITY_DEFAULTS[severity]["criteria"], strict=True)
}
# Every key the triage takes, flowchart first (a shared key once).
ANSWER_KEYS = [*QUESTIONS, *(key for key in CRITERIA if key not in QUESTIONS)]
SEVERITY_ORDER = [str(s) for s in Severity]  # most severe first


def more_severe(a: str, b: str | None) -> str:
    if b is None:
        return a
    return min(a, b, key=SEVERITY_ORDER.index)


class MissingAnswer(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"{key} is required: the flowchart reached '{QUESTIONS[key]}'")


class BadAnswer(ValueError):
    """An answer that is neither yes nor no (the entry points parse their own wire format)."""

    def __init__(self, key: str, value):
        self.key = key
        question = QUESTIONS.get(key) or f"2.1 criterion '{CRITERIA[key].text}'"
        super().__init__(f"{key} must be yes or no, not {value!r} ({question})")


@dataclass(frozen=True)
class TriageResult:
    severity: str  # the proposal: the more severe of the flowchart's and the criteria's
    path: list[dict]  # the flowchart's walk (2.2)
    flowchart_severity: str
    criteria_severity: str | None  # None: no criterion answered yes
    criteria_answers: list[dict]  # every criterion answered, yes or no, in 2.1's order
    criteria_matched: list[dict]  # those answered yes
    criteria_open: list[dict]  # unanswered and more severe than the proposal

    @property
    def decided_by(self) -> str:
        """Which walk the proposal comes from: "flowchart", "criteria" or "both"."""
        if self.criteria_severity != self.severity:
            return "flowchart"
        return "both" if self.flowchart_severity == self.severity else "criteria"


def _criterion(key: str, **extra) -> dict:
    c = CRITERIA[key]
    return {"criterion": key, "severity": c.severity, "text": c.text, **extra}


def _flowchart(answers: dict[str, bool | None]) -> tuple[str, list[dict]]:
    """Walk the flowchart. A question the walk reaches without an answer raises MissingAnswer
    naming it."""
    path: list[dict] = []

    def ask(key: str) -> bool:
        value = answers.get(key)
        if value is None:
            raise MissingAnswer(key)
        path.append({"question": key, "text": QUESTIONS[key], "answer": bool(value)})
        return bool(value)

    if ask("all_users_unavailable"):
        return Severity.P1, path
    if ask("core_feature_unavailable"):
        return Severity.P2, path
    if ask("security_data_exposure"):
        return Severity.P1, path
    if ask("error_or_latency_breach"):
        return Severity.P2, path
    if not ask("workaround_available"):
        return Severity.P2, path
    if ask("multiple_customers_affected"):
        return Severity.P3, path
    return Severity.P4, path


def triage(answers: dict[str, bool | None]) -> TriageResult:
    """Walk the flowchart and the criteria over `answers` (keys of ANSWER_KEYS to booleans,
    None or absent meaning unanswered) and propose the more severe result."""
    for key, value in answers.items():
        if value is not None and not isinstance(value, bool):
            raise BadAnswer(key, value)
    flowchart, path = _flowchart(answers)
    given = [key for key in CRITERIA if answers.get(key) is not None]
    matched = [_criterion(key) for key in given if answers[key]]
    criteria = matched[0]["severity"] if matched else None  # CRITERIA is most severe first
    proposal = more_severe(str(flowchart), criteria)
    rank = SEVERITY_ORDER.index(proposal)
    open_ = [
        _criterion(key)
        for key, c in CRITERIA.items()
        if answers.get(key) is None and SEVERITY_ORDER.index(c.severity) < rank
    ]
    return TriageResult(
        severity=proposal,
        path=path,
        flowchart_severity=str(flowchart),
        criteria_severity=criteria,
        criteria_answers=[_criterion(key, answer=answers[key]) for key in given],
        criteria_matched=matched,
        criteria_open=open_,
    )
