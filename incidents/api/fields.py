from rest_framework import serializers

# DRF's own message for a string with NUL in it (CharField's ProhibitNullCharactersValidator).
NUL_REFUSED = "Null characters are not allowed."


def _expected_json_type(field) -> tuple[tuple[type, ...], str] | None:
    """The JSON types `field` takes, as the schema states them, or None for any."""
    if isinstance(field, serializers.BooleanField):
        return (bool,), "true or false"
    if isinstance(field, serializers.IntegerField):
        return (int,), "a whole number"
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return (int, float), "a number"
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return (list,), "a list"
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,), "an object"
    if isinstance(field, serializers.ChoiceField):
        if all(isinstance(key, str) for key in field.choices):
            return (str,), "a string"
        return None
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return (int,), "a whole number"
    if isinstance(
        field,
        serializers.CharField
        | serializers.SlugRelatedField
        | serializers.DateTimeField
        | serializers.DateField
        | serializers.TimeField
        | serializers.UUIDField,
    ):
        return (str,), "a string"
    return None


def _kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "an object"
    )


def json_type_errors(field, value) -> list[str]:
    """Messages for a value whose JSON type is not the one the schema gives `field` (DRF
    would turn "true" into True, 1 into "1" and 2.0 into 2; strict input takes neither)."""
    if value is None:
        return []  # allow_null is the field's own rule
    expected = _expected_json_type(field)
    if expected is None:
        return []
    types, name = expected
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        return [f"Must be {name}, not {_kind(value)}."]
    if isinstance(value, str) and "\x00" in value and isinstance(field, serializers.RelatedField):
        return [NUL_REFUSED]  # looked up in the database, which cannot search for NUL
    if isinstance(value, dict) and any("\x00" in key for key in value):
        return [f"Keys: {NUL_REFUSED}"]
    child = getattr(field, "child", None)  # ListField, DictField, many=True
    if child is None:
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [f"{key}: {message}" for key, item in items for message in json_type_errors(child, item)]


# The docstring below is every input body's description in the OpenAPI schema, which also
# states these rules (incidents/api/schema.py: `additionalProperties: false`, `minProperties`).
class StrictInputMixin:
    """Strict input: a field not listed here, or a value of another JSON type than the one
    given (the string "true" for a boolean, a number for a string), is refused with a 400
    naming the field."""

    at_least_one_field = False

    def writable_field_names(self) -> set[str]:
        return {name for name, field in self.fields.items() if not field.read_only}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - self.writable_field_names())
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}
                    | {"non_field_errors": [f"unknown field(s): {', '.join(unknown)}"]}
                )
            wrong = {
                name: messages
                for name, value in data.items()
                if (messages := json_type_errors(self.fields[name], value))
            }
            if wrong:
                raise serializers.ValidationError(wrong)
            if self.at_least_one_field and not data:
                raise serializers.ValidationError(
                    {"non_field_errors": ["Nothing to change: give at least one field."]}
                )
        return super().to_internal_value(data)


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    pass


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset (api-contract): a time without one is ambiguous and refused."""

    default_error_messages = {
        "naive": "Give the time with a UTC offset, e.g. 2026-01-31T14:05:00Z or +01:00.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            text = value.strip()
            has_offset = text.endswith(("Z", "z")) or (
                len(text) > 19 and ("+" in text[19:] or "-" in text[19:])
            )
            if not has_offset:
                self.fail("naive")
        return super().to_internal_value(value)


# Primary keys are 64-bit (BigAutoField): a larger number is no id (and SQLite refuses it).
MAX_ID = 2**63 - 1
# The OpenAPI schema of an id in a query parameter.
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def id_param(request, name: str, what: str = "a positive integer id") -> int | None:
    """The query parameter `name` as an id, or None without one; anything else is a 400."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise serializers.ValidationError({name: [f"{name} must be {what}."]})
    return int(value)


def incident_from_query(request, name: str = "incident"):
    """The incident the query parameter `name` names, or None without one: a value that is not
    an id is a 400; an incident that does not exist or is not visible to you is a 404."""
    from ..selectors import incident_get_for_user

    incident_id = id_param(request, name, "an incident id")
    return None if incident_id is None else incident_get_for_user(request.user, incident_id)


def query_text(request, name: str) -> str | None:
    """A free-text query parameter, or None without one. NUL cannot be stored or searched for
    in PostgreSQL text, so a value containing it is a 400 (not a database error)."""
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise serializers.ValidationError({name: [NUL_REFUSED]})
    return value
