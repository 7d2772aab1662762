"""Integrations and their secrets. A secret is shown once (at creation or rotation); only its
SHA-256 digest is stored, compared in constant time."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.errors import RuleViolation
from incidents.outbound import OutboundRefused, check_outbound_url
from incidents.permissions import require_may_allow_restricted
from incidents.services.audit import audit_record
from incidents.states import AuditAction

from ..models import Integration, WebhookSubscription, new_secret
from ..permissions import require_may_manage_integrations, require_may_set_declares_security


def integration_url(integration: Integration) -> str:
    return settings.PUBLIC_BASE_URL + reverse("integration-receive", args=[integration.pk])


def integration_events_api_base_url(integration: Integration) -> str | None:
    """For a PagerDuty integration, the base URL to give PagerDuty's own Events API clients
    (they post to "<base>/v2/enqueue"); None for other kinds."""
    if integration.kind != Integration.Kind.PAGERDUTY:
        return None
    path = reverse("integration-events-api", args=[integration.pk])
    return settings.PUBLIC_BASE_URL + path.removesuffix("/v2/enqueue")


def _check_signing_secret(kind: str, signing_secret: str) -> None:
    if signing_secret and kind != Integration.Kind.GRAFANA:
        raise RuleViolation(
            "Only a Grafana integration checks a signature (X-Grafana-Alerting-Signature): "
            "leave signing_secret empty for this kind.",
            rule="signing secret for Grafana only",
            field="signing_secret",
        )


def _check_name_free(name: str, integration_id=None) -> None:
    if Integration.objects.filter(name=name).exclude(pk=integration_id).exists():
        raise RuleViolation(
            "An integration with this name exists.", rule="unique name", field="name"
        )


def integration_create(*, actor, kind: str, name: str, **options) -> tuple[Integration, str]:
    """Returns the integration and its secret (the only time the secret is seen)."""
    if actor is not None:
        require_may_manage_integrations(actor)
    _check_name_free(name)
    _check_signing_secret(kind, options.get("signing_secret", ""))
    secret = new_secret()
    integration = Integration(kind=kind, name=name, created_by=actor, **options)
    integration.set_secret(secret)
    integration.save()
    return integration, secret


def integration_update(*, actor, integration_id, **changes) -> Integration:
    """Change an integration's name, enabled, severity_map, default_severity,
    resolve_to_monitoring, declares_security and signing_secret, in one transaction (the API's
    PATCH, the admin). Its kind stays, and its secret changes only by rotation. Turning
    declares_security off takes the security lead or a superuser; a change of it either way is
    audited with it."""
    if actor is not None:
        require_may_manage_integrations(actor)
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration_id)
        if "name" in changes:
            _check_name_free(changes["name"], integration.pk)
        if "signing_secret" in changes:
            _check_signing_secret(integration.kind, changes["signing_secret"])
        declares = changes.get("declares_security", integration.declares_security)
        if declares != integration.declares_security:
            require_may_set_declares_security(actor, integration.declares_security, declares)
            audit_record(
                AuditAction.INTEGRATION_SECURITY,
                actor=actor,
                target=integration,
                details={"integration": integration.name, "declares_security": declares},
            )
        for field, value in changes.items():
            setattr(integration, field, value)
        if changes:
            integration.save(update_fields=list(changes))
    return integration


def integration_declares_security_set(*, actor, integration_id, declares: bool) -> Integration:
    """Turn `declares_security` on or off (admin), checked and audited by integration_update."""
    return integration_update(
        actor=actor, integration_id=integration_id, declares_security=declares
    )


def integration_rotate_secret(*, actor, integration_id) -> tuple[Integration, str]:
    """A new secret replaces the old at once (the old one stops working)."""
    if actor is not None:
        require_may_manage_integrations(actor)
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration_id)
        secret = new_secret()
        integration.set_secret(secret)
        integration.secret_rotated_at = timezone.now()
        integration.save(update_fields=["secret_hash", "secret_rotated_at"])
    return integration, secret


def check_subscription_url(url: str) -> None:
    try:
        check_outbound_url(url)
    except OutboundRefused as refused:
        raise RuleViolation(
            f"This URL may not be called: {refused}", rule="outbound URL", field="url"
        ) from None


def _grant_record(actor, sub: WebhookSubscription, on: bool) -> None:
    """allow_restricted given or withdrawn: audited (it opens restricted incidents)."""
    audit_record(
        AuditAction.GRANT_ON if on else AuditAction.GRANT_OFF,
        actor=actor,
        target=sub,
        details={"grant": "allow_restricted", "subscription": sub.name, "url": sub.url},
    )


def subscription_create(
    *,
    actor,
    name: str,
    url: str,
    events: list[str],
    allow_restricted: bool = False,
    **options,
) -> WebhookSubscription:
    """SRE leads subscribe URLs; allow_restricted takes the security lead or a superuser.
    `options`: other fields (enabled, secret) the admin form sets."""
    if actor is not None:
        require_may_manage_integrations(actor)
    if allow_restricted:
        require_may_allow_restricted(actor)
    check_subscription_url(url)
    with transaction.atomic():
        if WebhookSubscription.objects.filter(name=name).exists():
            raise RuleViolation(
                "A subscription with this name exists.", rule="unique", field="name"
            )
        sub = WebhookSubscription.objects.create(
            name=name,
            url=url,
            events=sorted(set(events)),
            allow_restricted=allow_restricted,
            created_by=actor,
            **options,
        )
        if allow_restricted:
            _grant_record(actor, sub, on=True)
    return sub


def subscription_update(*, actor, subscription_id, **changes) -> WebhookSubscription:
    """Change url/events/enabled/allow_restricted (the security lead or a superuser turns it
    on; either change is audited). Disabling holds its pending deliveries.
    Enabling clears its failure count and releases what was held while it was disabled
    (except deliveries held longer than TENSAFE_WEBHOOK_HOLD_DAYS, marked expired); after
    commit they are handed to the workers, in order per incident."""
    from .outgoing import webhooks_enqueue_outstanding, webhooks_hold, webhooks_release

    if actor is not None:
        require_may_manage_integrations(actor)
    if "url" in changes:
        check_subscription_url(changes["url"])
    with transaction.atomic():
        sub = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
        granted = changes.get("allow_restricted", sub.allow_restricted)
        if granted and not sub.allow_restricted:
            require_may_allow_restricted(actor)
        grant_changed = granted != sub.allow_restricted
        fields = []
        for field, value in changes.items():
            if field == "events":
                value = sorted(set(value))
            setattr(sub, field, value)
            fields.append(field)
        re_enabled = changes.get("enabled") is True
        if re_enabled:
            sub.consecutive_failures, sub.disabled_at, sub.disabled_reason = 0, None, ""
            fields += ["consecutive_failures", "disabled_at", "disabled_reason"]
        if fields:
            sub.save(update_fields=fields)
        if grant_changed:
            _grant_record(actor, sub, on=granted)
        if re_enabled:
            webhooks_release(sub.pk)
            transaction.on_commit(lambda: webhooks_enqueue_outstanding(sub.pk))
        elif changes.get("enabled") is False:
            webhooks_hold(sub.pk)
    return sub
