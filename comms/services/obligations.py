"""Communication obligations (procedures 2.1, 6.3): which updates an incident owes, by when,
and whether each was met. One open (pending) obligation per channel at a time:

- the first is counted from `detected_at` (status page within N minutes, first customer
  communication within M, first internal update within the internal interval);
- each next one from the post that met the last (or, when the last was missed, from its
  deadline, so a silent incident keeps owing an update every interval);
- at resolution the cadences stop; a resolved update is owed where the procedures say so
  (the status page's Resolved update for P1/P2, and for P3 "initial + resolved" once the
  status page was used; the internal summary wherever internal updates are set, P1-P3;
  customer email "end of incident"), due at resolution with the reminder lead to post it.

Every number comes from `policy_for(severity)`. `obligations_sync` runs inside the timer
engine's re-plan (the incident row locked), so obligations follow every severity change,
transition and post in the transaction that made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min

from incidents.models import Incident, SeverityPolicy
from incidents.selectors import policy_for
from incidents.states import Status

from ..models import CommsObligation, Update

Channel = CommsObligation.Channel
Kind = CommsObligation.Kind
PENDING, MET, MISSED, CANCELLED = (
    CommsObligation.Status.PENDING,
    CommsObligation.Status.MET,
    CommsObligation.Status.MISSED,
    CommsObligation.Status.CANCELLED,
)

# Which posted updates meet an obligation of each channel.
MET_BY: dict[str, tuple[str, ...]] = {
    Channel.STATUS_PAGE: (Update.Channel.STATUS_PAGE,),
    Channel.INTERNAL: (Update.Channel.INTERNAL,),
    Channel.CUSTOMER_EMAIL: (Update.Channel.CUSTOMER_EMAIL,),
    Channel.CUSTOMER_FIRST: (Update.Channel.STATUS_PAGE, Update.Channel.CUSTOMER_EMAIL),
}


@dataclass(frozen=True)
class ChannelRule:
    """What the policy asks of one obligation channel."""

    first_minutes: int | None  # after detection; None: expected, without a deadline
    every_minutes: int | None  # after each update; None: no cadence
    while_open: bool  # owed while the incident is open
    at_resolution: bool  # a resolved update is owed


def reminder_lead() -> timedelta:
    return timedelta(minutes=settings.TENSAFE_COMMS_REMINDER_LEAD_MINUTES)


def channel_rules(incident: Incident, policy: SeverityPolicy, used_status_page: bool) -> dict:
    """The obligation channels the policy in force sets for this incident. A security
    incident owes the same as any other (2.1 names "active security breach" a P1): its
    status page and customer email deadlines run from detection whether or not its public
    title and text are approved yet."""
    rules: dict[str, ChannelRule] = {}
    if policy.status_page_mode == "cadence":
        # P1/P2: a cadence while open, and the Resolved update at the end (6.2's "Template -
        # Resolved"; Appendix A, Resolution: "Update status page - resolved").
        rules[Channel.STATUS_PAGE] = ChannelRule(
            policy.status_page_first_minutes or policy.status_page_every_minutes,
            policy.status_page_every_minutes,
            while_open=True,
            at_resolution=True,
        )
    elif policy.status_page_mode == "initial_and_resolved":
        # P3: "Status page update if customer-visible" (2.1): the resolved update is owed
        # once the status page told customers about the incident.
        rules[Channel.STATUS_PAGE] = ChannelRule(
            policy.status_page_first_minutes,
            None,
            while_open=True,
            at_resolution=used_status_page,
        )
    if policy.internal_every_minutes:
        # Every severity with internal updates (6.3: P1-P3; P4 "As needed") owes the internal
        # summary at resolution (Appendix A, Resolution: "Send internal summary").
        rules[Channel.INTERNAL] = ChannelRule(
            policy.internal_every_minutes,
            policy.internal_every_minutes,
            while_open=True,
            at_resolution=True,
        )
    if policy.customer_email_mode == "cadence":
        rules[Channel.CUSTOMER_EMAIL] = ChannelRule(
            policy.customer_first_minutes or policy.customer_email_every_minutes,
            policy.customer_email_every_minutes,
            while_open=True,
            at_resolution=False,
        )
    elif policy.customer_email_mode == "end_of_incident":
        rules[Channel.CUSTOMER_EMAIL] = ChannelRule(
            None, None, while_open=False, at_resolution=True
        )
        if policy.customer_first_minutes:
            rules[Channel.CUSTOMER_FIRST] = ChannelRule(
                policy.customer_first_minutes, None, while_open=True, at_resolution=False
            )
    return rules


def _settle(obligation: CommsObligation, update: Update) -> None:
    """Record `update` as the post that covered `obligation`: met if in time, else missed
    (a missed obligation keeps the late post as its actual time)."""
    if obligation.status == PENDING:
        in_time = obligation.due_at is None or update.posted_at <= obligation.due_at
        obligation.status = MET if in_time else MISSED
        if not in_time:
            obligation.missed_at = obligation.due_at
    obligation.met_at, obligation.met_by_update = update.posted_at, update
    obligation.save(update_fields=["status", "missed_at", "met_at", "met_by_update", "updated_at"])


def obligations_meet(incident: Incident, update: Update) -> list[CommsObligation]:
    """Settle the obligations `update` covers: the channel's pending one, and any missed one
    still waiting for its (late) update. The resolved status page update is met only by a post
    of the Resolved template (6.2). Call inside the posting transaction."""
    channels = [c for c, by in MET_BY.items() if update.channel in by]
    open_rows = CommsObligation.objects.filter(
        incident=incident, channel__in=channels, counted_from__lte=update.posted_at
    ).filter(status__in=[PENDING, MISSED], met_by_update__isnull=True)
    if update.channel == Update.Channel.STATUS_PAGE and update.template != Update.Template.RESOLVED:
        open_rows = open_rows.exclude(kind=Kind.RESOLVED)
    settled = []
    for obligation in open_rows.order_by("channel", "sequence"):
        _settle(obligation, update)
        settled.append(obligation)
    return settled


def _cancel(obligation: CommsObligation) -> None:
    obligation.status = CANCELLED
    obligation.save(update_fields=["status", "updated_at"])


def _create(incident, channel, rows, kind, counted_from, minutes, now) -> CommsObligation:
    obligation = CommsObligation.objects.create(
        incident=incident,
        channel=channel,
        sequence=max((r.sequence for r in rows), default=0) + 1,
        kind=kind,
        counted_from=counted_from,
        due_at=counted_from + timedelta(minutes=minutes) if minutes is not None else None,
        created_at=now,
    )
    rows.append(obligation)
    return obligation


class _Posts:
    """First and last posted update per Update channel (one query per sync)."""

    def __init__(self, incident: Incident):
        self.incident = incident
        self.span = {
            row["channel"]: (row["first"], row["last"])
            for row in Update.objects.filter(incident=incident)
            .values("channel")
            .annotate(first=Min("posted_at"), last=Max("posted_at"))
        }

    def last(self, channel: str) -> datetime | None:
        times = [self.span[c][1] for c in MET_BY[channel] if c in self.span]
        return max(times, default=None)

    def first_update(self, channel: str, since: datetime | None = None) -> Update | None:
        """The earliest post that meets `channel` (posted at or after `since`: then, on the
        status page, of the Resolved template, as `obligations_meet` asks of a resolved one)."""
        if not self.span.keys() & set(MET_BY[channel]):
            return None  # nothing posted there (as at declaration): no query
        rows = Update.objects.filter(incident=self.incident, channel__in=MET_BY[channel])
        if since is not None:
            rows = rows.filter(posted_at__gte=since)
            if channel == Channel.STATUS_PAGE:
                rows = rows.filter(template=Update.Template.RESOLVED)
        return rows.order_by("posted_at", "id").first()


def _follow_policy(pending: CommsObligation, rule: ChannelRule | None, incident) -> bool:
    """Bring an open obligation in line with the policy and state in force; False when it no
    longer applies (then it is settled or cancelled)."""
    resolved_at = incident.resolved_at if incident.status == Status.RESOLVED else None
    if pending.kind == Kind.RESOLVED:
        if rule is None or not rule.at_resolution or pending.counted_from != resolved_at:
            _cancel(pending)
            return False
        return True
    if rule is None or not rule.while_open:
        _cancel(pending)
        return False
    if resolved_at is not None:
        # The cadence stops at resolution; a deadline that passed before it was missed.
        if pending.due_at is not None and pending.due_at <= resolved_at:
            pending.status, pending.missed_at = MISSED, pending.due_at
            pending.save(update_fields=["status", "missed_at", "updated_at"])
        else:
            _cancel(pending)
        return False
    minutes = rule.first_minutes if pending.kind == Kind.FIRST else rule.every_minutes
    if pending.kind == Kind.CADENCE and minutes is None:
        _cancel(pending)
        return False
    due = pending.counted_from + timedelta(minutes=minutes) if minutes is not None else None
    if due != pending.due_at:
        pending.due_at = due
        pending.save(update_fields=["due_at", "updated_at"])
    return True


def _sync_channel(incident, channel, rule, rows, posts: _Posts, now) -> None:
    pending = next((r for r in rows if r.status == PENDING), None)
    if pending is not None and _follow_policy(pending, rule, incident):
        return
    if rule is None:
        return
    if incident.status == Status.RESOLVED:
        owed = rule.at_resolution and not any(
            r.kind == Kind.RESOLVED and r.counted_from == incident.resolved_at for r in rows
        )
        if owed:
            # Due at resolution; the reminder lead is the time given to post it.
            lead = int(reminder_lead().total_seconds() // 60)
            resolved_at = incident.resolved_at
            row = _create(incident, channel, rows, Kind.RESOLVED, resolved_at, lead, now)
            posted = posts.first_update(channel, since=resolved_at)
            if posted is not None:
                _settle(row, posted)  # posted before the obligation existed (P3's first post)
        return
    if not rule.while_open:
        return
    live = [r for r in rows if r.status != CANCELLED and r.kind != Kind.RESOLVED]
    if not live:
        first = _create(
            incident, channel, rows, Kind.FIRST, incident.detected_at, rule.first_minutes, now
        )
        earliest = posts.first_update(channel)
        if earliest is not None:
            _settle(first, earliest)  # posted before this obligation existed (severity change)
        elif first.due_at is not None and first.due_at <= now:
            # Past already when the incident was declared (detected long before): missed before
            # anyone could post it. One catch-up reminder names it (comms.deadlines), and the
            # cadence goes on from now.
            first.status, first.missed_at = MISSED, first.due_at
            first.save(update_fields=["status", "missed_at", "updated_at"])
        else:
            return
        live = [first]
    if rule.every_minutes is None:
        return
    last = live[-1]
    anchors = [posts.last(channel)]
    if last.status == MISSED and last.met_by_update_id is None:
        anchors.append(last.due_at)
    if rows[-1].status == CANCELLED:
        anchors.append(now)  # the cadence was paused (reopened, severity changed): restart now
    anchor = max((a for a in anchors if a is not None), default=now)
    if anchor + timedelta(minutes=rule.every_minutes) <= now:
        anchor = now  # never born overdue: after a pause (resolved and reopened) restart now
    _create(incident, channel, rows, Kind.CADENCE, anchor, rule.every_minutes, now)


def obligations_sync(incident: Incident, now: datetime) -> list[CommsObligation]:
    """Make the incident's obligations match the policy in force and its state, and return
    all of them, by channel and sequence. Call with the incident row locked (the timer
    engine's re-plan does)."""
    policy = policy_for(incident.severity)
    posts = _Posts(incident)
    used_status_page = Update.Channel.STATUS_PAGE in posts.span
    rules = channel_rules(incident, policy, used_status_page)
    by_channel: dict[str, list[CommsObligation]] = {c: [] for c in Channel.values}
    for row in CommsObligation.objects.filter(incident=incident).order_by("channel", "sequence"):
        by_channel[row.channel].append(row)
    for channel in Channel.values:
        _sync_channel(incident, channel, rules.get(channel), by_channel[channel], posts, now)
    return [r for rows in by_channel.values() for r in rows]


def missed_at_birth(obligation: CommsObligation) -> bool:
    """Missed when it was written (see `_sync_channel`), and not yet posted or reminded of."""
    return (
        obligation.status == MISSED
        and obligation.met_by_update_id is None
        and obligation.reminded_at is None
        and obligation.created_at >= obligation.due_at
    )


def obligation_pending(incident: Incident, channel: str) -> CommsObligation | None:
    return CommsObligation.objects.filter(
        incident=incident, channel=channel, status=PENDING
    ).first()
