"""On-call (procedures 9.4): schedules per team made of rotations, overrides, and the ways a
person is paged. Who is on call is computed (incidents.oncall), never stored."""

import re
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from ..outbound import validate_outbound_url

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"
PAGERDUTY_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")


def _validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).") from None


def _feed_token() -> str:
    return secrets.token_urlsafe(24)


class Schedule(models.Model):
    KINDS = [("weekly", "Weekly rotation"), ("follow_the_sun", "Follow-the-sun")]

    team = models.ForeignKey("incidents.Team", on_delete=models.PROTECT, related_name="schedules")
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=KINDS, default="weekly")
    feed_token = models.CharField(max_length=64, unique=True, default=_feed_token, editable=False)

    class Meta:
        ordering = ["team__name", "name"]

    def __str__(self):
        return self.name


class Rotation(models.Model):
    """One layer of a schedule. Members take turns, handing off weekly at a local wall-clock
    time (so a hand-off stays at 09:00 local across daylight-saving changes). A rotation with a
    daily shift window covers only those local hours: follow-the-sun is one rotation per
    region, each with its window in its own time zone."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="rotations")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Lower wins where windows overlap."
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[_validate_time_zone])
    anchor_date = models.DateField(help_text="Local date of a hand-off to the first member.")
    handoff_time = models.TimeField(help_text="Local time of the weekly hand-off.")
    shift_start = models.TimeField(
        null=True, blank=True, help_text="Daily window start (local); empty: all day."
    )
    shift_end = models.TimeField(
        null=True, blank=True, help_text="Daily window end (local), may wrap past midnight."
    )

    class Meta:
        ordering = ["schedule", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(shift_start__isnull=True) & Q(shift_end__isnull=True))
                | (
                    Q(shift_start__isnull=False)
                    & Q(shift_end__isnull=False)
                    & ~Q(shift_start=F("shift_end"))
                ),
                name="rotation_window_both_or_neither",
            )
        ]

    def __str__(self):
        return f"{self.schedule}: {self.name}"


class RotationMember(models.Model):
    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["rotation", "position"], name="unique_rotation_position"
            )
        ]

    def __str__(self):
        return f"{self.position}: {self.user}"


class Override(models.Model):
    """Someone covers a slot of a schedule for a while (holiday swaps, sick days)."""

    ROLES = [("primary", "Primary"), ("backup", "Backup")]

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=8, choices=ROLES, default="primary")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="override_ends_after_start"
            )
        ]

    def __str__(self):
        span = f"{self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"
        return f"{self.user} ({self.role}) {span}"


class ContactMethod(models.Model):
    """How a person is paged. Without any, a person is paged by email to their address."""

    KINDS = [
        ("email", "Email"),
        ("slack", "Slack-compatible incoming webhook"),
        ("webhook", "JSON webhook (HMAC-SHA256 signed)"),
        ("pagerduty", "PagerDuty (Events API v2 integration key)"),
    ]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=16, choices=KINDS)
    target = models.CharField(
        max_length=500,
        help_text="Email address or URL (for PagerDuty, the Events API's: "
        f"{PAGERDUTY_EVENTS_URL}, or https://events.eu.pagerduty.com for an EU account).",
    )
    secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="HMAC key for JSON webhooks; the PagerDuty service's integration key.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["user", "id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.target}"

    def clean(self):
        """Every problem at once, by field: the target (an address, or a URL the outbound
        client may call) and the secret the kind needs."""
        errors: dict[str, list[str]] = {}
        try:
            self._clean_target()
        except ValidationError as refused:
            errors.update(refused.message_dict)
        if self.kind == "webhook" and not self.secret:
            errors["secret"] = ["a JSON webhook needs a secret to sign with"]
        if self.kind == "pagerduty" and not PAGERDUTY_ROUTING_KEY.fullmatch(self.secret):
            errors["secret"] = [
                "a PagerDuty contact needs the service's Events API v2 integration key "
                "(32 letters and digits) as its secret"
            ]
        if errors:
            raise ValidationError(errors)

    def _clean_target(self) -> None:
        from django.core.validators import EmailValidator, URLValidator

        if self.kind == "pagerduty" and not self.target.startswith("https://"):
            raise ValidationError(
                {"target": f"PagerDuty's Events API is reached over https ({PAGERDUTY_EVENTS_URL})"}
            )
        if self.kind != "email":
            validate_outbound_url(self.target, field="target")  # names what is wrong first
        validator = (
            EmailValidator() if self.kind == "email" else URLValidator(schemes=["https", "http"])
        )
        try:
            validator(self.target)
        except ValidationError:
            raise ValidationError(
                {"target": f"not a valid {'email address' if self.kind == 'email' else 'URL'}"}
            ) from None
