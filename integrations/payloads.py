"""What each sender posts, validated and turned into one shape (`Batch` of `IncomingAlert`s).

The serializers follow the senders' documentation field for field:

- Prometheus Alertmanager webhook_config, payload version "4".
- Grafana unified alerting webhook contact point, payload version "1" (Alertmanager's shape
  plus orgId, title, state, message and per-alert values/silenceURL/dashboardURL/panelURL).
- PagerDuty Events API v2 (`/v2/enqueue`): routing_key, event_action, dedup_key, payload{...}.
- The generic webhook (documented in docs/architecture.md): title, severity?, status,
  dedup_key, started_at?, service?, description?.

Senders add fields over time, so unknown fields are ignored (not refused, unlike our own API);
a missing or mistyped documented field is a 400 naming it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from rest_framework import serializers

ZERO_TIME_YEAR = 1  # Alertmanager's endsAt for a firing alert: 0001-01-01T00:00:00Z


class PayloadInvalid(Exception):
    def __init__(self, errors: dict):
        super().__init__("invalid payload")
        self.errors = errors

    @property
    def fields(self) -> list[str]:
        return _paths(self.errors)

    @property
    def detail(self) -> str:
        return "; ".join(f"{path}: {message}" for path, message in _messages(self.errors))


def _messages(errors, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            if key == "non_field_errors":
                name = prefix
            elif isinstance(key, int):  # DRF reports list items by index
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else key
            out += _messages(value, name)
        return out
    if isinstance(errors, list):
        if errors and all(isinstance(e, (dict, list)) for e in errors):
            out = []
            for index, item in enumerate(errors):
                out += _messages(item, f"{prefix}[{index}]")
            return out
        return [(prefix or "body", str(e)) for e in errors]
    return [(prefix or "body", str(errors))]


def _paths(errors) -> list[str]:
    return list(dict.fromkeys(path for path, _ in _messages(errors)))


@dataclass
class IncomingAlert:
    fingerprint: str
    status: str  # firing | resolved
    title: str
    severity_label: str | None = None
    services: list[str] = field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    source_url: str = ""
    description: str = ""
    security: bool = False  # the sender says it is a security alert (4.1: SIEM, WAF)


@dataclass
class Batch:
    group_key: str
    title: str
    alerts: list[IncomingAlert]
    acknowledge: bool = False  # PagerDuty event_action "acknowledge"
    reply: dict = field(default_factory=dict)  # what the sender is told besides "accepted"


# --- field helpers ---------------------------------------------------------------------------
class StringMap(serializers.DictField):
    child = serializers.CharField(allow_blank=True, trim_whitespace=False)


class TimeField(serializers.DateTimeField):
    """RFC 3339 as the senders write it (nanoseconds allowed). Alertmanager's zero time
    (0001-01-01T00:00:00Z, "no end yet") reads as None."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        return None if parsed.year == ZERO_TIME_YEAR else parsed


STATUS = ("firing", "resolved")


def _title(labels: dict, annotations: dict, fallback: str = "") -> str:
    """The title as "<alertname>: <summary>" (either alone when the other is missing);
    `fallback` when neither is there."""
    name = labels.get("alertname", "")
    summary = annotations.get("summary") or ""
    parts = [p for p in (name, summary if summary != name else "") if p]
    return (": ".join(parts) or fallback)[:200]


def _group_title(valid: dict, alerts: list[IncomingAlert]) -> str:
    """An Alertmanager/Grafana group's incident title: the alert name, the group labels that
    set this group apart from the other groups of that alert (they are in the title so that
    two groups of one alert get two recognisable incidents and channel names), the summary."""
    labels = valid["commonLabels"]
    name = labels.get("alertname") or valid["groupLabels"].get("alertname", "")
    if not name:
        return alerts[0].title
    apart = ", ".join(
        f"{k}={v}" for k, v in sorted(valid["groupLabels"].items()) if k != "alertname"
    )
    title = f"{name} ({apart})" if apart else name
    return _title({"alertname": title}, valid["commonAnnotations"], title)


def _services(labels: dict) -> list[str]:
    return [value for key in ("service", "component") if (value := labels.get(key))]


SECURITY_LABEL = "security"


def _says_security(value) -> bool:
    """A `security` label (or field) of true, yes or 1 marks a security tool's alert (4.1)."""
    return str(value).strip().lower() in ("true", "yes", "1")


def _validate(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        raise PayloadInvalid({"body": ["Expected a JSON object."]})
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise PayloadInvalid(serializer.errors)
    return serializer.validated_data


# --- Alertmanager ----------------------------------------------------------------------------
class AlertmanagerAlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(STATUS)
    labels = StringMap()
    annotations = StringMap(required=False, default=dict)
    startsAt = TimeField()
    endsAt = TimeField(required=False, allow_null=True, default=None)
    generatorURL = serializers.CharField(required=False, allow_blank=True, default="")
    fingerprint = serializers.CharField(max_length=300)


class AlertmanagerSerializer(serializers.Serializer):
    version = serializers.ChoiceField(["4"])
    groupKey = serializers.CharField(max_length=500)
    truncatedAlerts = serializers.IntegerField(min_value=0, required=False, default=0)
    status = serializers.ChoiceField(STATUS)
    receiver = serializers.CharField(allow_blank=True)
    groupLabels = StringMap()
    commonLabels = StringMap()
    commonAnnotations = StringMap()
    externalURL = serializers.CharField(allow_blank=True)
    alerts = AlertmanagerAlertSerializer(many=True, allow_empty=False)


def _am_alerts(data: dict) -> list[IncomingAlert]:
    return [
        IncomingAlert(
            fingerprint=a["fingerprint"],
            status=a["status"],
            title=_title(a["labels"], a["annotations"], f"alert {a['fingerprint']}"),
            severity_label=a["labels"].get("severity"),
            services=_services(a["labels"]),
            starts_at=a["startsAt"],
            ends_at=a["endsAt"],
            labels=a["labels"],
            annotations=a["annotations"],
            source_url=a["generatorURL"][:1000],
            description=a["annotations"].get("description", ""),
            security=_says_security(a["labels"].get(SECURITY_LABEL, "")),
        )
        for a in data["alerts"]
    ]


def parse_alertmanager(data, **_context) -> Batch:
    valid = _validate(AlertmanagerSerializer, data)
    alerts = _am_alerts(valid)
    return Batch(group_key=valid["groupKey"], title=_group_title(valid, alerts), alerts=alerts)


# --- Grafana ---------------------------------------------------------------------------------
class GrafanaAlertSerializer(AlertmanagerAlertSerializer):
    values = serializers.DictField(required=False, allow_null=True, default=None)
    silenceURL = serializers.CharField(required=False, allow_blank=True, default="")
    dashboardURL = serializers.CharField(required=False, allow_blank=True, default="")
    panelURL = serializers.CharField(required=False, allow_blank=True, default="")


class GrafanaSerializer(serializers.Serializer):
    receiver = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(STATUS)
    orgId = serializers.IntegerField()
    alerts = GrafanaAlertSerializer(many=True, allow_empty=False)
    groupLabels = StringMap()
    commonLabels = StringMap()
    commonAnnotations = StringMap()
    externalURL = serializers.CharField(allow_blank=True)
    version = serializers.ChoiceField(["1"])
    groupKey = serializers.CharField(max_length=500)
    truncatedAlerts = serializers.IntegerField(min_value=0, required=False, default=0)
    title = serializers.CharField(required=False, allow_blank=True, default="")
    state = serializers.CharField(required=False, allow_blank=True, default="")
    message = serializers.CharField(required=False, allow_blank=True, default="")


def parse_grafana(data, **_context) -> Batch:
    valid = _validate(GrafanaSerializer, data)
    alerts = _am_alerts(valid)
    for alert, raw in zip(alerts, valid["alerts"], strict=True):
        alert.source_url = (raw["panelURL"] or raw["dashboardURL"] or alert.source_url)[:1000]
    return Batch(group_key=valid["groupKey"], title=_group_title(valid, alerts), alerts=alerts)


# --- PagerDuty Events API v2 -----------------------------------------------------------------
PD_SEVERITIES = ("critical", "error", "warning", "info")


class PagerDutyPayloadSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=1024)
    source = serializers.CharField(max_length=255)
    severity = serializers.ChoiceField(PD_SEVERITIES)
    timestamp = TimeField(required=False, allow_null=True, default=None)
    component = serializers.CharField(required=False, allow_blank=True, default="")
    group = serializers.CharField(required=False, allow_blank=True, default="")
    # "class" is a Python keyword: declared below under its wire name.
    custom_details = serializers.JSONField(required=False, allow_null=True, default=None)


PagerDutyPayloadSerializer._declared_fields["class"] = serializers.CharField(
    required=False, allow_blank=True, default=""
)


class PagerDutySerializer(serializers.Serializer):
    routing_key = serializers.CharField(max_length=64)
    event_action = serializers.ChoiceField(["trigger", "acknowledge", "resolve"])
    dedup_key = serializers.CharField(max_length=255, required=False, allow_blank=False)
    payload = PagerDutyPayloadSerializer(required=False)
    links = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    images = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    client = serializers.CharField(required=False, allow_blank=True, default="")
    client_url = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["event_action"] == "trigger" and "payload" not in attrs:
            raise serializers.ValidationError({"payload": ["Required for a trigger event."]})
        if attrs["event_action"] != "trigger" and not attrs.get("dedup_key"):
            raise serializers.ValidationError(
                {"dedup_key": [f"Required for an {attrs['event_action']} event."]}
            )
        return attrs


def routing_key_digest(routing_key: str) -> str:
    # The routing key may be the integration's secret (PagerDuty clients authenticate with it):
    # only a digest of it goes into stored keys.
    return hashlib.sha256(routing_key.encode()).hexdigest()[:16]


def new_dedup_key() -> str:
    return uuid.uuid4().hex


def parse_pagerduty(data, *, generated_dedup_key: str | None = None) -> Batch:
    """`generated_dedup_key`: the key given to a trigger that came without one (decided once,
    when the request is accepted, and stored with it, so processing it again keeps it)."""
    valid = _validate(PagerDutySerializer, data)
    dedup_key = valid.get("dedup_key") or generated_dedup_key or new_dedup_key()
    action = valid["event_action"]
    payload = valid.get("payload") or {}
    details = payload.get("custom_details")
    alert = IncomingAlert(
        fingerprint=dedup_key,
        status="resolved" if action == "resolve" else "firing",
        title=(payload.get("summary") or dedup_key)[:200],
        severity_label=payload.get("severity"),
        services=[c for c in (payload.get("component"),) if c],
        starts_at=payload.get("timestamp"),
        labels={
            k: str(v)
            for k, v in (
                ("source", payload.get("source")),
                ("component", payload.get("component")),
                ("group", payload.get("group")),
                ("class", payload.get("class")),
                ("severity", payload.get("severity")),
            )
            if v
        },
        annotations={"custom_details": details} if details is not None else {},
        security=isinstance(details, dict) and _says_security(details.get(SECURITY_LABEL, "")),
        source_url=(valid["client_url"] or next((x.get("href", "") for x in valid["links"]), ""))[
            :1000
        ],
    )
    return Batch(
        group_key=f"{routing_key_digest(valid['routing_key'])}:{dedup_key}",
        title=alert.title,
        alerts=[alert] if action != "acknowledge" else [],
        acknowledge=action == "acknowledge",
        reply={"dedup_key": dedup_key},
    )


# --- generic webhook -------------------------------------------------------------------------
class GenericSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(STATUS)
    dedup_key = serializers.CharField(max_length=255)
    started_at = TimeField(required=False, allow_null=True, default=None)
    service = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    security = serializers.BooleanField(required=False, default=False)


def parse_webhook(data, **_context) -> Batch:
    valid = _validate(GenericSerializer, data)
    labels = {k: valid[k] for k in ("severity", "service") if valid[k]}
    if valid["security"]:
        labels[SECURITY_LABEL] = "true"
    alert = IncomingAlert(
        fingerprint=valid["dedup_key"],
        status=valid["status"],
        title=valid["title"],
        severity_label=valid["severity"] or None,
        services=[valid["service"]] if valid["service"] else [],
        starts_at=valid["started_at"],
        labels=labels,
        annotations={"description": valid["description"]} if valid["description"] else {},
        description=valid["description"],
        security=valid["security"],
    )
    return Batch(group_key=valid["dedup_key"], title=valid["title"], alerts=[alert])


PARSERS = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "pagerduty": parse_pagerduty,
    "webhook": parse_webhook,
}
