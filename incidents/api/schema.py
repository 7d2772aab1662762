"""The OpenAPI schema documents every status an operation can answer with, not only success.

The exception handler (errors.py) answers the same few error shapes everywhere, and most of
them follow from the shape of the operation alone: a request body or query parameters can be
invalid (400) or sent as a media type the API does not parse (415), a protected operation can
be called without credentials (401), a write can be refused by role or, with session auth, by
CSRF (403), an object named in the path may not exist or not be visible to you, a page may
be past the last, a `format` one the operation cannot render (404), and sign-in may be over
its rate limit (429). `ApiAutoSchema` adds
those to every operation that has them, with the error bodies below; a view declares the rest
itself (409 from the lifecycle, 403 on a read only some roles may make, 404 for an object
named in a query parameter or the body). It also states what strict input means
(fields.StrictInputMixin). The schema fuzzer (tests/fuzz) holds every answer against this.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_list_serializer, is_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .fields import StrictInputMixin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# At least one character that is not whitespace as Python's str.strip() (DRF's trimming)
# sees it, spelled out because JSON Schema's regex (ECMA 262) and Python disagree on `\s`.
NOT_ONLY_WHITESPACE = (
    "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0"
    "\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)


class ErrorOutputSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")


class ValidationErrorOutputSerializer(ErrorOutputSerializer):
    """`detail` sums the problems up; each failing field also has its own list of messages
    under its name (additional properties)."""

    rule = serializers.CharField(
        required=False, help_text="The rule of the procedures that was broken, when one was."
    )


class ConflictOutputSerializer(ErrorOutputSerializer):
    allowed = serializers.ListField(
        child=serializers.CharField(), help_text="What is allowed now instead."
    )
    missing = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="What still has to be done first (a refused resolve or publish).",
    )


class RateLimitedOutputSerializer(ErrorOutputSerializer):
    retry_after = serializers.IntegerField(help_text="Seconds until a new try may succeed.")


RULE = OpenApiResponse(
    ValidationErrorOutputSerializer,
    description="Invalid input, or a rule was broken: `detail` quotes it, `rule` names it.",
)
CONFLICT = OpenApiResponse(
    ConflictOutputSerializer,
    description="Not allowed from the current state: `detail`, `allowed`, and `missing`.",
)
FORBIDDEN = OpenApiResponse(
    ErrorOutputSerializer, description="Your role does not allow this: `detail` names the rule."
)
NOT_FOUND = OpenApiResponse(
    ErrorOutputSerializer,
    description="No such object (or not one visible to you), page or format.",
)
UNAUTHENTICATED = OpenApiResponse(
    ErrorOutputSerializer, description="No valid credentials: send `Authorization: Token <token>`."
)
TOO_MANY_REQUESTS = OpenApiResponse(
    RateLimitedOutputSerializer,
    description="Too many failed sign-ins for this username or from this address "
    "(incidents/ratelimit.py); the `Retry-After` header says when to try again.",
)
UNSUPPORTED_MEDIA_TYPE = OpenApiResponse(
    ErrorOutputSerializer, description="The body is not in a media type this operation takes."
)


class ApiAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer, direction):
        """Strict input serializers (fields.StrictInputMixin) refuse unknown fields and, with
        `at_least_one_field`, an empty body: the schema says so."""
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictInputMixin):
            schema["additionalProperties"] = False
            if serializer.at_least_one_field:
                schema["minProperties"] = 1
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and field.trim_whitespace
            and "pattern" not in schema
        ):
            # DRF trims the value first: only whitespace is blank, and blank is refused.
            schema["pattern"] = NOT_ONLY_WHITESPACE
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        if getattr(field, "allow_empty", True) is False and schema.get("type") == "array":
            schema.setdefault("minItems", 1)

    def _get_request_for_media_type(self, serializer, direction="request"):
        """A PATCH body is validated as its serializer declares it (optional fields say
        required=False), not as drf-spectacular assumes (every PATCH field optional), and a
        body that must name at least one field is a required body."""
        serializer = force_instance(serializer)
        if (
            self.method != "PATCH"
            or not is_serializer(serializer)
            or is_list_serializer(serializer)
        ):
            return super()._get_request_for_media_type(serializer, direction)
        component = self.resolve_serializer(serializer, direction)
        if not component:
            return None, False
        required = bool(component.schema.get("required")) or "minProperties" in component.schema
        return component.ref, required

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            # `?status=` cannot be told from a list with one empty value: lists in the query
            # string have at least one item, and an empty one is a 400.
            if parameter["in"] == "query" and parameter["schema"].get("type") == "array":
                parameter["schema"]["minItems"] = 1
        responses = operation["responses"]
        for code, response in self._error_responses(operation).items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    response, code, media_types=["application/json"]
                )
        return operation

    def _error_responses(self, operation: dict) -> dict[str, OpenApiResponse]:
        parameters = operation.get("parameters", [])
        where = {parameter["in"] for parameter in parameters}
        names = {parameter["name"] for parameter in parameters}
        has_body = "requestBody" in operation
        security = operation.get("security", [])
        needs_auth = bool(security) and {} not in security
        errors = {}
        if has_body or "query" in where:
            errors["400"] = RULE
        if needs_auth:
            errors["401"] = UNAUTHENTICATED
            if self.method not in SAFE_METHODS:
                errors["403"] = FORBIDDEN
        if "path" in where or names & {"page", "format"}:
            errors["404"] = NOT_FOUND
        if has_body:
            errors["415"] = UNSUPPORTED_MEDIA_TYPE
        # Sign-in is rate limited (api/urls.py): the view names the methods that sign in.
        if self.method in getattr(self.view, "sign_in_methods", ()):
            errors["429"] = TOO_MANY_REQUESTS
        return errors
