"""One exception handler for the API: every error is JSON with a readable `detail`.

- RuleViolation and validation errors: 400, naming the rule or the fields that failed.
- TransitionRefused, TransitionNotAllowed, ConcurrentTransition: 409 with `allowed`;
  StaleWrite: 409 with the row's current `version`.
- PermissionDenied: 403; Http404: 404 (DRF's own mapping).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import RuleViolation, StaleWrite, TransitionRefused


def _summarise(errors, prefix="") -> list[str]:
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            name = "" if key in ("non_field_errors", "__all__", "detail") else f"{prefix}{key}"
            out += _summarise(value, f"{name}." if name else prefix)
        return out
    if isinstance(errors, list):
        out = []
        for item in errors:
            out += _summarise(item, prefix)
        return out
    label = prefix.rstrip(".")
    return [f"{label}: {errors}" if label else str(errors)]


def exception_handler(exc, context):
    if isinstance(exc, (TransitionRefused, StaleWrite)):
        return Response({"detail": exc.detail, **exc.extra}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, (TransitionNotAllowed, ConcurrentTransition)):
        return Response(
            {
                "detail": "The incident changed while this request was handled; reload it and "
                "try again.",
                "allowed": [],
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RuleViolation):
        body = {"detail": exc.detail, "rule": exc.extra["rule"]}
        if "field" in exc.extra:
            body[exc.extra["field"]] = [exc.detail]
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(
            {
                "detail": "; ".join(_summarise(fields)),
                **{k: v for k, v in fields.items() if k != "detail"},
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, list):
        response.data = {"detail": "; ".join(_summarise(response.data)), "errors": response.data}
    elif isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "; ".join(_summarise(response.data)), **response.data}
    return response
