"""Alerts in: a stored delivery becomes alerts, and a new alert group becomes an incident.

Senders deliver at least once and retry; this side turns that into exactly one alert and one
incident. The request only validates and stores the delivery (`inbound_accept`: one INSERT,
committed); workers apply stored deliveries (`inbound_apply_pending`), each group's one after
another in the order received. The identity of a group and of an alert is a unique
constraint, and everything that decides "is this new?" runs while holding the group's row
lock, so each delivery sees what the previous one of its group left.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from incidents.models import Incident, Service
from incidents.notify import backoff_seconds
from incidents.selectors import incident_get_for_user, incident_transitions_from
from incidents.services import incident_acknowledge, incident_declare, incident_transition
from incidents.services.timeline import timeline_record
from incidents.states import DetectionSource, Status, TimelineKind

from ..models import Alert, AlertGroup, InboundDelivery, Integration
from ..payloads import PARSERS, Batch, IncomingAlert

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 5
# A failed try is retried after 2, 4, 8, 16 s: a poison delivery is marked failed within
# half a minute instead of holding its group's later deliveries back.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 60.0
SEVERITY_ORDER = ("P1", "P2", "P3", "P4")


def inbound_accept(
    integration: Integration,
    *,
    body: str,
    headers: dict,
    group_key: str,
    generated_dedup_key: str | None = None,
) -> InboundDelivery:
    """Store the raw request (autocommit: it is durable before any processing starts)."""
    result = {"dedup_key": generated_dedup_key} if generated_dedup_key else {}
    return InboundDelivery.objects.create(
        integration=integration,
        received_at=timezone.now(),
        group_key=group_key[:500],
        body=body,
        headers=headers,
        result=result,
    )


def inbound_process(delivery: InboundDelivery | int, *, batch: Batch | None = None) -> str:
    """Apply one stored delivery; returns "processed" or "skipped".

    1. Parse the stored body (it was validated when accepted; parsing is deterministic, and a
       PagerDuty key generated at acceptance is stored with the row). A caller that already
       parsed it passes the batch.
    2. A repeat (every alert already known, in the state it reports) changes nothing that
       needs a decision: its counters are bumped without taking the group lock
       (`_apply_repeat`).
    3. Anything else is applied under the group's row lock (`_apply`), and the delivery is
       marked processed by a conditional UPDATE in the same transaction: if another worker
       applied it meanwhile, that UPDATE changes nothing and everything rolls back.
    On an error the transaction rolls back, the attempt is counted, the row stays `received`
    with a `retry_at` (backoff), and after MAX_PROCESS_ATTEMPTS it is marked failed (admin,
    /metrics).
    """
    if not isinstance(delivery, InboundDelivery):
        delivery = InboundDelivery.objects.select_related("integration").get(pk=delivery)
    if delivery.status != InboundDelivery.Status.RECEIVED:
        return "skipped"
    integration = delivery.integration
    try:
        if batch is None:
            batch = PARSERS[integration.kind](
                json.loads(delivery.body), generated_dedup_key=delivery.result.get("dedup_key")
            )
        with transaction.atomic():
            now = timezone.now()
            result = _apply_repeat(integration, batch, now)
            if result is None:
                result = _apply(integration, batch, now)
            done = InboundDelivery.objects.filter(
                pk=delivery.pk, status=InboundDelivery.Status.RECEIVED
            ).update(
                status=InboundDelivery.Status.PROCESSED,
                processed_at=now,
                attempts=F("attempts") + 1,
                retry_at=None,
                result={**delivery.result, **result},
                error="",
            )
            if not done:
                raise _AlreadyApplied
    except _AlreadyApplied:
        return "skipped"
    except Exception as exc:
        log.exception("could not process inbound delivery %s", delivery.pk)
        _record_failure(delivery.pk, exc)
        raise
    return InboundDelivery.Status.PROCESSED


class _AlreadyApplied(Exception):
    pass


def _next_pending() -> InboundDelivery | None:
    """The oldest received delivery that is due and that no other worker holds, and only if
    no earlier received delivery of its group is still waiting (locked by another worker or
    retrying): one group's deliveries are applied in the order received. Locked FOR UPDATE
    (SKIP LOCKED), so parallel workers share the queue without taking the same row."""
    now = timezone.now()
    earlier_of_group = InboundDelivery.objects.filter(
        integration_id=OuterRef("integration_id"),
        group_key=OuterRef("group_key"),
        status=InboundDelivery.Status.RECEIVED,
        pk__lt=OuterRef("pk"),
    )
    return (
        InboundDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("integration")
        .filter(status=InboundDelivery.Status.RECEIVED)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .exclude(Exists(earlier_of_group))
        .order_by("id")
        .first()
    )


def inbound_apply_pending(*, budget_seconds: float = 20.0) -> int:
    """Apply stored deliveries until none is due or the budget is spent; returns how many
    were tried. Safe to run in any number of workers at once (see `_next_pending`)."""
    deadline = time.monotonic() + budget_seconds
    tried = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            delivery = _next_pending()
            if delivery is None:
                break
            tried += 1
            try:
                inbound_process(delivery)
            except Exception:  # counted on the row (retry_at); the loop goes on with others
                log.warning("inbound delivery %s not applied this time", delivery.pk)
    return tried


def _apply_repeat(integration: Integration, batch: Batch, now: datetime) -> dict | None:
    """The delivery repeats what is known (same alerts, same states) and asks nothing else:
    count it and return the result; None when it needs the locked path."""
    if batch.acknowledge or not batch.alerts:
        return None
    group = AlertGroup.objects.filter(integration=integration, group_key=batch.group_key).first()
    if group is None:
        return None
    incoming = {alert.fingerprint: alert.status for alert in batch.alerts}
    known = dict(
        Alert.objects.filter(group=group, fingerprint__in=incoming).values_list(
            "fingerprint", "status"
        )
    )
    if known != incoming:
        return None
    Alert.objects.filter(group=group, fingerprint__in=incoming).update(
        last_received_at=now, times_received=F("times_received") + 1
    )
    return {"group": group.pk, "incident": group.incident_id, "repeat": True}


def _record_failure(delivery_id: int, exc: Exception) -> None:
    delivery = InboundDelivery.objects.get(pk=delivery_id)
    delivery.attempts += 1
    delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
    if delivery.attempts >= MAX_PROCESS_ATTEMPTS:
        delivery.status = InboundDelivery.Status.FAILED
        delivery.retry_at = None
    else:
        delay = backoff_seconds(
            delivery.attempts, None, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS
        )
        delivery.retry_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "error", "status", "retry_at"])


# --- applying a batch ----------------------------------------------------------------------
def _group_for_update(integration: Integration, batch: Batch) -> AlertGroup:
    """The group row, created if new, locked FOR UPDATE. A concurrent first delivery of the
    same group blocks on the unique index until the other commits, then finds its row."""
    existing = (
        AlertGroup.objects.select_for_update()
        .filter(integration=integration, group_key=batch.group_key)
        .first()
    )
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            group = AlertGroup.objects.create(
                integration=integration, group_key=batch.group_key, title=batch.title[:200]
            )
    except IntegrityError:
        group = AlertGroup.objects.get(integration=integration, group_key=batch.group_key)
    return AlertGroup.objects.select_for_update().get(pk=group.pk)


def _open_incident(incident_id: int | None) -> Incident | None:
    if incident_id is None:
        return None
    incident = incident_get_for_user(None, incident_id, for_update=True)
    return incident if incident.status != Status.RESOLVED else None


def _apply(integration: Integration, batch: Batch, now: datetime) -> dict:
    group = _group_for_update(integration, batch)
    incoming = {alert.fingerprint: alert for alert in batch.alerts}  # last one of a key wins
    # Locked too: repeats bump counters without the group lock (_apply_repeat), and this
    # read-modify-write must not overwrite their increments.
    known = {
        a.fingerprint: a
        for a in Alert.objects.select_for_update().filter(group=group, fingerprint__in=incoming)
    }
    fired, resolved, new_rows, changed_rows = [], [], [], []
    for fingerprint, alert in incoming.items():
        row = known.get(fingerprint)
        if row is None:
            row = Alert(
                group=group,
                fingerprint=fingerprint,
                status=alert.status,
                first_received_at=now,
                last_received_at=now,
            )
            new_rows.append(row)
            (fired if alert.status == Alert.Status.FIRING else resolved).append(row)
        else:
            row.last_received_at = now
            row.times_received += 1
            changed_rows.append(row)
            if row.status != alert.status:
                row.status = alert.status
                (fired if alert.status == Alert.Status.FIRING else resolved).append(row)
        _copy(alert, row, integration)

    incident = _open_incident(group.incident_id)
    opened = False
    if fired and incident is None:
        incident = _declare(integration, group, [incoming[r.fingerprint] for r in fired], now)
        group.incident = incident
        group.save(update_fields=["incident", "updated_at"])
        opened = True
    for row in fired:
        row.incident = incident
    for row in resolved:
        if row.incident_id is None and incident is not None:
            row.incident = incident
    Alert.objects.bulk_create(new_rows)
    Alert.objects.bulk_update(
        changed_rows,
        [
            "status",
            "incident",
            "title",
            "severity",
            "labels",
            "annotations",
            "source_url",
            "starts_at",
            "ends_at",
            "last_received_at",
            "times_received",
        ],
    )
    if fired:
        _record(incident, TimelineKind.ALERT_RECEIVED, integration, group, fired, now)
    touched = _resolve(integration, group, resolved, now)
    if batch.acknowledge and incident is not None:
        incident_acknowledge(actor=None, incident_id=incident.pk, at=now, via=integration.name)
    return {
        "group": group.pk,
        "incident": incident.pk if incident else None,
        "opened": opened,
        "fired": [r.fingerprint for r in fired],
        "resolved": [r.fingerprint for r in resolved],
        "incidents_resolved_alerts": touched,
        "acknowledged": bool(batch.acknowledge and incident is not None),
    }


def _copy(alert: IncomingAlert, row: Alert, integration: Integration) -> None:
    row.title = alert.title[:300]
    row.severity = integration.severity_for(alert.severity_label) or ""
    row.labels = alert.labels
    row.annotations = alert.annotations
    row.source_url = alert.source_url
    if alert.starts_at is not None:
        row.starts_at = alert.starts_at
    row.ends_at = alert.ends_at


def _declare(
    integration: Integration, group: AlertGroup, alerts: list[IncomingAlert], now: datetime
) -> Incident:
    """Open the group's incident: the most severe mapped severity of its firing alerts (the
    integration's default when none maps), the services their labels name, detected when the
    earliest of them started (never in the future: senders' clocks drift). A security tool's
    alerts (the integration `declares_security`, or an alert labelled security=true) open a
    security incident (4.1), restricted from the start; an alert joining an open incident
    never changes its flag (after declaration people decide that, with a reason)."""
    severities = [s for a in alerts if (s := integration.severity_for(a.severity_label))]
    severity = min(severities, key=SEVERITY_ORDER.index, default=integration.default_severity)
    slugs = {slug for a in alerts for slug in a.services}
    services = list(Service.objects.filter(slug__in=slugs)) if slugs else []
    starts = [a.starts_at for a in alerts if a.starts_at is not None]
    detected_at = min([*starts, now])
    security = integration.declares_security or any(a.security for a in alerts)
    lines = [f"Opened by {integration.name} ({integration.get_kind_display()})."]
    for alert in alerts[:20]:
        line = f"- {alert.title}"
        if alert.description and alert.description not in alert.title:
            line += f": {alert.description}"
        if alert.source_url:
            line += f" ({alert.source_url})"
        lines.append(line)
    return incident_declare(
        actor=None,
        title=(group.title or alerts[0].title)[:200],
        severity=severity,
        detection_source=DetectionSource.SECURITY_TOOL if security else DetectionSource.MONITORING,
        description="\n".join(lines),
        services=services,
        security=security,
        detected_at=detected_at,
    )


def _summary(rows: list[Alert]) -> str:
    titles = [r.title for r in rows[:5]]
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return "; ".join(titles) + more


def _record(
    incident: Incident,
    kind: str,
    integration: Integration,
    group: AlertGroup,
    rows: list[Alert],
    now: datetime,
) -> None:
    verb = "firing" if kind == TimelineKind.ALERT_RECEIVED else "resolved"
    noun = "alert" if len(rows) == 1 else f"{len(rows)} alerts"
    timeline_record(
        incident,
        kind,
        f"{integration.name}: {noun} {verb}: {_summary(rows)}",
        occurred_at=now,
        data={
            "integration": str(integration.pk),
            "integration_name": integration.name,
            "integration_kind": integration.kind,
            "group_key": group.group_key,
            "alerts": [
                {
                    "fingerprint": r.fingerprint,
                    "title": r.title,
                    "severity": r.severity,
                    "starts_at": r.starts_at.isoformat() if r.starts_at else None,
                    "ends_at": r.ends_at.isoformat() if r.ends_at else None,
                    "url": r.source_url,
                }
                for r in rows
            ],
        },
    )


def _resolve(
    integration: Integration, group: AlertGroup, rows: list[Alert], now: datetime
) -> list[int]:
    """Resolved alerts go on their incident's timeline; when the integration says so and no
    alert of an incident still fires, the incident moves to Monitoring — or, when that is not
    a legal move from where it is, the timeline says so instead."""
    by_incident: dict[int, list[Alert]] = {}
    for row in rows:
        if row.incident_id is not None:
            by_incident.setdefault(row.incident_id, []).append(row)
    touched = []
    for incident_id, its_rows in by_incident.items():
        incident = _open_incident(incident_id)
        if incident is None:
            continue
        touched.append(incident_id)
        _record(incident, TimelineKind.ALERT_RESOLVED, integration, group, its_rows, now)
        if not integration.resolve_to_monitoring or incident.status == Status.MONITORING:
            continue
        if Alert.objects.filter(incident=incident, status=Alert.Status.FIRING).exists():
            continue
        reason = f"all alerts resolved ({integration.name})"
        if Status.MONITORING in incident_transitions_from(incident):
            incident_transition(
                actor=None, incident_id=incident.pk, to=Status.MONITORING, reason=reason, at=now
            )
        else:
            timeline_record(
                incident,
                TimelineKind.NOTE,
                f"All alerts resolved ({integration.name}); not moved to Monitoring: that is "
                f"not a step from {Status(incident.status).label}. Move it when the fix is "
                "confirmed.",
                occurred_at=now,
                data={"integration": str(integration.pk), "wanted": Status.MONITORING},
            )
    return touched
