from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a misspelt field is an error, never silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}
                    | {"non_field_errors": [f"unknown field(s): {', '.join(unknown)}"]}
                )
        return super().to_internal_value(data)


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
