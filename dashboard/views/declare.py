from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from incidents.errors import DomainError
from incidents.permissions import is_writer
from incidents.triage import ANSWER_KEYS, QUESTIONS, BadAnswer, MissingAnswer, triage

from ..forms import DeclareForm
from ..services import incident_declare_from_wizard
from .common import attach_error

ANSWER_VALUES = {"yes": True, "no": False}
QUESTION_KEYS = list(QUESTIONS)


def _answers(data) -> tuple[dict[str, bool], list[str]]:
    """(answers, errors): each answer "yes" or "no"; anything else is an error naming the
    question (and the answer is left out, so the question is asked again)."""
    answers, errors = {}, []
    for key in ANSWER_KEYS:
        value = data.get(key)
        if value in (None, ""):
            continue
        if value not in ANSWER_VALUES:
            errors.append(str(BadAnswer(key, value)))
            continue
        answers[key] = ANSWER_VALUES[value]
    return answers, errors


def _encode(answers: dict[str, bool]) -> dict[str, str]:
    return {k: "yes" if v else "no" for k, v in answers.items()}


def _walk(answers: dict[str, bool]):
    """(result, next_key, the flowchart's answers used, the criteria's answers used). The
    flowchart asks its questions in the order of `QUESTIONS` and stops at the first that
    decides, so its answers used are those before the question it stopped at (or the result's
    path); once it has decided, every criterion answered counts."""
    try:
        result = triage(answers)
    except MissingAnswer as missing:
        before = QUESTION_KEYS[: QUESTION_KEYS.index(missing.key)]
        return None, missing.key, {k: answers[k] for k in before}, {}
    flowchart = {step["question"]: step["answer"] for step in result.path}
    criteria = {a["criterion"]: a["answer"] for a in result.criteria_answers}
    return result, None, flowchart, criteria


def _given(used: dict[str, bool]) -> list[dict]:
    """The flowchart's answers so far, each with the link that asks its question again."""
    base = reverse("dashboard:declare")
    out = []
    for index, key in enumerate(k for k in QUESTION_KEYS if k in used):
        earlier = {k: used[k] for k in QUESTION_KEYS[:index] if k in used}
        out.append(
            {
                "key": key,
                "text": QUESTIONS[key],
                "answer": "Yes" if used[key] else "No",
                "change_url": f"{base}?{urlencode(_encode(earlier))}" if earlier else base,
            }
        )
    return out


def _criteria_step(result, flowchart: dict[str, bool], submitted: bool) -> dict:
    """The 2.1 criteria that could still raise the proposal, asked together; `submitted`:
    the step's form came back, so any still unanswered is named as missing."""
    return {
        "open": result.criteria_open,
        "answers": result.criteria_answers,
        "missing": [c["text"] for c in result.criteria_open] if submitted else [],
        "change_url": f"{reverse('dashboard:declare')}?{urlencode(_encode(flowchart))}",
    }


@login_required
@require_http_methods(["GET", "POST"])
def declare(request):
    """The declaration wizard: the flowchart's questions one at a time (2.2), then the 2.1
    criteria that could still raise its result, the proposed severity (the more severe of
    the two) with both walks, then the details; declares through the core's service."""
    data = request.POST if request.method == "POST" else request.GET
    answers, errors = _answers(data)
    result, next_key, flowchart, criteria = _walk(answers)
    context = {
        "can_write": is_writer(request.user),
        "given": _given(flowchart),
        "hidden_answers": _encode({**flowchart, **criteria}),
        "answer_errors": errors,
        "step": len(flowchart) + 1,
        "result": result,
    }
    if result is None:
        context["question"] = {"key": next_key, "text": QUESTIONS[next_key]}
        return render(request, "dashboard/declare.html", context, status=400 if errors else 200)
    context["criteria"] = _criteria_step(result, flowchart, submitted="criteria_step" in data)
    if result.criteria_open or errors:
        # A declaration waits for every criterion that could change the proposal.
        bad = request.method == "POST" or errors or context["criteria"]["missing"]
        return render(request, "dashboard/declare.html", context, status=400 if bad else 200)
    form = DeclareForm(request.POST if request.method == "POST" else None, proposed=result.severity)
    context["form"] = form
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        override_reason = fields.pop("override_reason")
        fields["services"] = list(fields["services"])
        try:
            incident = incident_declare_from_wizard(
                actor=request.user, triage=result, override_reason=override_reason, **fields
            )
        except (DomainError, PermissionDenied) as exc:
            attach_error(form, exc)
        else:
            messages.success(request, f"Declared {incident.reference} ({incident.severity}).")
            return redirect("dashboard:incident", pk=incident.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/declare.html", context, status=status)
