from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from incidents.errors import DomainError
from incidents.permissions import is_writer
from incidents.triage import QUESTIONS, MissingAnswer, triage

from ..forms import DeclareForm
from ..services import incident_declare_from_wizard
from .common import attach_error

ANSWER_VALUES = {"yes": True, "no": False}
QUESTION_KEYS = list(QUESTIONS)


def _answers(data) -> dict[str, bool]:
    return {k: ANSWER_VALUES[data[k]] for k in QUESTION_KEYS if data.get(k) in ANSWER_VALUES}


def _encode(answers: dict[str, bool]) -> dict[str, str]:
    return {k: "yes" if v else "no" for k, v in answers.items()}


def _walk(answers: dict[str, bool]):
    """(result, next_key, answers the walk used). The flowchart asks its questions in the order
    of `QUESTIONS` and stops at the first that decides, so the answers used are those before
    the question it stopped at (or the result's path)."""
    try:
        result = triage(answers)
    except MissingAnswer as missing:
        before = QUESTION_KEYS[: QUESTION_KEYS.index(missing.key)]
        return None, missing.key, {k: answers[k] for k in before}
    return result, None, {step["question"]: step["answer"] for step in result.path}


def _given(used: dict[str, bool]) -> list[dict]:
    """The answers so far, each with the link that asks its question again."""
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


@login_required
@require_http_methods(["GET", "POST"])
def declare(request):
    """The declaration wizard: the flowchart's questions one at a time (2.2), the proposed
    severity with its path, then the details; declares through the core's service."""
    data = request.POST if request.method == "POST" else request.GET
    result, next_key, used = _walk(_answers(data))
    context = {
        "can_write": is_writer(request.user),
        "given": _given(used),
        "hidden_answers": _encode(used),
        "step": len(used) + 1,
        "result": result,
    }
    if result is None:
        context["question"] = {"key": next_key, "text": QUESTIONS[next_key]}
        return render(request, "dashboard/declare.html", context)
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
