"""The vocabulary of the procedures, as stored and as sent on the wire (api-contract.md)."""

from django.db import models


class Severity(models.TextChoices):
    P1 = "P1", "P1 - Critical"
    P2 = "P2", "P2 - Major"
    P3 = "P3", "P3 - Minor"
    P4 = "P4", "P4 - Low"


class Status(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


class Role(models.TextChoices):
    INCIDENT_COMMANDER = "incident_commander", "Incident Commander"
    TECH_LEAD = "tech_lead", "Technical Lead"
    COMMS_LEAD = "comms_lead", "Communications Lead"
    SCRIBE = "scribe", "Scribe"
    SME = "sme", "Subject Matter Expert"


# Every role but SME is held by one person at a time (procedures 3.1-3.4).
SINGLE_HOLDER_ROLES = (Role.INCIDENT_COMMANDER, Role.TECH_LEAD, Role.COMMS_LEAD, Role.SCRIBE)


class Rank(models.TextChoices):
    ENGINEER = "engineer", "Engineer"
    SENIOR_ENGINEER = "senior_engineer", "Senior Engineer"
    ENGINEERING_MANAGER = "engineering_manager", "Engineering Manager"
    VP_ENGINEERING = "vp_engineering", "VP Engineering"
    CTO = "cto", "CTO"
    CEO = "ceo", "CEO"
    SUPPORT = "support", "Support"
    SUPPORT_LEAD = "support_lead", "Support Lead"
    CUSTOMER_SUCCESS_MANAGER = "customer_success_manager", "Customer Success Manager"
    SECURITY_LEAD = "security_lead", "Security Lead"
    SUPPORT_MANAGER = "support_manager", "Support Manager"


# "X or above" in the procedures climbs this ladder; the other ranks are not on it.
ENGINEERING_LADDER = (
    Rank.ENGINEER,
    Rank.SENIOR_ENGINEER,
    Rank.ENGINEERING_MANAGER,
    Rank.VP_ENGINEERING,
    Rank.CTO,
    Rank.CEO,
)


def ranks_at_or_above(rank: str) -> list[str]:
    return [str(r) for r in ENGINEERING_LADDER[ENGINEERING_LADDER.index(rank) :]]


class GroupName(models.TextChoices):
    RESPONDER = "responder", "Responder"
    INCIDENT_COMMANDER = "incident_commander", "Incident commander"
    SRE_LEAD = "sre_lead", "SRE lead"
    SECURITY = "security", "Security"
    VIEWER = "viewer", "Viewer"


class DetectionSource(models.TextChoices):
    """Procedures 4.1."""

    MONITORING = "monitoring", "Automated monitoring (Prometheus/Grafana)"
    HEALTH_CHECK = "health_check", "Health checks"
    CUSTOMER_REPORT = "customer_report", "Customer report"
    INTERNAL_REPORT = "internal_report", "Internal report (#incidents)"
    SECURITY_TOOL = "security_tool", "Security tools (SIEM, WAF)"


class Checklist(models.TextChoices):
    TRIAGE = "triage", "Triage (4.3)"
    IC = "ic", "Incident Commander (Appendix A)"
    RESOLUTION = "resolution", "Resolution criteria (7.4)"


class TimelineKind(models.TextChoices):
    DECLARED = "declared", "Declared"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    STATUS_CHANGED = "status_changed", "Status changed"
    REOPENED = "reopened", "Reopened"
    SEVERITY_CHANGED = "severity_changed", "Severity changed"
    UPDATED = "updated", "Details updated"
    ROLE_ASSIGNED = "role_assigned", "Role assigned"
    ROLE_RELIEVED = "role_relieved", "Role relieved"
    CHECKLIST_TICKED = "checklist_ticked", "Checklist item ticked"
    CHECKLIST_UNTICKED = "checklist_unticked", "Checklist item unticked"
    NOTE = "note", "Note"
    NOTIFIED = "notified", "Notified at declaration"
    ESCALATED = "escalated", "Escalated"
    ESCALATION_REQUESTED = "escalation_requested", "Escalation requested"
    PAGED = "paged", "Paged"
    PAGE_FAILED = "page_failed", "Page failed"
    # The first minutes (4.2, Appendix A), escalation contacts' response times (5.3), the
    # bridge and the channel (6.1, Appendix A)
    TRIAGE_REMINDER = "triage_reminder", "Triage reminder"
    ROLES_REMINDER = "roles_reminder", "Roles reminder"
    ROLES_ESCALATED = "roles_escalated", "Roles escalated to the manager"
    ESCALATION_LATE = "escalation_late", "Escalation contact late"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged", "Escalation contact acknowledged"
    BRIDGE_OPENED = "bridge_opened", "Bridge opened"
    CHANNEL_CLOSED = "channel_closed", "Incident channel closed"
    # Communications (procedures 6)
    STATUS_PAGE_POSTED = "status_page_posted", "Status page updated"
    INTERNAL_UPDATE_POSTED = "internal_update_posted", "Internal update posted"
    CUSTOMER_EMAIL_SENT = "customer_email_sent", "Customer email sent"
    COMMS_REMINDER = "comms_reminder", "Communication reminder"
    COMMS_MISSED = "comms_missed", "Communication deadline missed"
    # Post-incident review (procedures 8)
    PIR_CREATED = "pir_created", "Post-incident review created"
    PIR_PUBLISHED = "pir_published", "Post-incident review published"
    PIR_REMINDER = "pir_reminder", "Post-incident review reminder"
    # Detection (procedures 4.1)
    ALERT_RECEIVED = "alert_received", "Alert received"
    ALERT_RESOLVED = "alert_resolved", "Alert resolved"
    # Security incidents after declaration (procedures 2.1, 5.1)
    SECURITY_CHANGED = "security_changed", "Security incident flag changed"
    PUBLIC_TEXT_APPROVED = "public_text_approved", "Public title and text approved"


class AuditAction(models.TextChoices):
    """What the audit log records: every change of who may do what
    (docs/architecture.md, Conventions)."""

    USER_CREATED = "user.created", "User created"
    USER_CHANGED = "user.changed", "User changed"
    USER_ACTIVATED = "user.activated", "User activated"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    GROUP_ADDED = "group.added", "Added to a group"
    GROUP_REMOVED = "group.removed", "Removed from a group"
    PASSWORD_CHANGED = "password.changed", "Password changed by its owner"
    PASSWORD_RESET = "password.reset", "Password set by someone else"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    GRANT_ON = "grant.on", "Grant given"
    GRANT_OFF = "grant.off", "Grant withdrawn"
    OUTBOX_RETRIED = "outbox.retried", "Delivery retried now"
    OUTBOX_GIVEN_UP = "outbox.given_up", "Delivery given up"
    # Incident roles (procedures 3.1, 3.3, 7.4): the SRE lead's powers over who commands.
    ROLE_ON_CALL_OVERRIDE = "role.on_call_override", "Role given over the on-call rule"
    ROLE_IC_TAKEN = "role.ic_taken", "Incident Commander role taken by an SRE lead"
    INCIDENT_RESTRICTED = "incident.restricted", "Incident made a security incident"
    INCIDENT_UNRESTRICTED = "incident.unrestricted", "Incident no longer a security incident"
    INTEGRATION_SECURITY = "integration.security", "Integration's declares_security changed"
