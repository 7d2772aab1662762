"""The severity selection flowchart (procedures 2.2), as one function.

The questions are asked in the flowchart's order and the first that decides wins, so the
answer is exactly what the flowchart gives (note that it asks about core features before
security exposure).
"""

from dataclasses import dataclass

from .states import Severity

QUESTIONS = {
    "all_users_unavailable": "Is service completely unavailable for all users?",
    "core_feature_unavailable": "Is a core feature (training/inference/encryption) unavailable?",
    "security_data_exposure": "Is there a security incident with potential data exposure?",
    "error_or_latency_breach": "Are >25% of requests failing or latency >2x baseline?",
    "workaround_available": "Is there a workaround available?",
    "multiple_customers_affected": "Is more than one customer affected?",
}


class MissingAnswer(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"{key} is required: the flowchart reached '{QUESTIONS[key]}'")


@dataclass(frozen=True)
class TriageResult:
    severity: str
    path: list[dict]


def triage(answers: dict[str, bool | None]) -> TriageResult:
    """Walk the flowchart. `answers` maps question keys to booleans; a question the walk
    reaches without an answer raises MissingAnswer naming it."""
    path: list[dict] = []

    def ask(key: str) -> bool:
        value = answers.get(key)
        if value is None:
            raise MissingAnswer(key)
        path.append({"question": key, "text": QUESTIONS[key], "answer": bool(value)})
        return bool(value)

    if ask("all_users_unavailable"):
        return TriageResult(Severity.P1, path)
    if ask("core_feature_unavailable"):
        return TriageResult(Severity.P2, path)
    if ask("security_data_exposure"):
        return TriageResult(Severity.P1, path)
    if ask("error_or_latency_breach"):
        return TriageResult(Severity.P2, path)
    if not ask("workaround_available"):
        return TriageResult(Severity.P2, path)
    if ask("multiple_customers_affected"):
        return TriageResult(Severity.P3, path)
    return TriageResult(Severity.P4, path)
