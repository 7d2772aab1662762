from .accounts import ApiToken, AuditEvent
from .catalog import Service, Team
from .incident import ChecklistItem, Incident, RoleAssignment
from .oncall import ContactMethod, Override, Rotation, RotationMember, Schedule
from .people import User
from .policy import EscalationContact, EscalationRule, PolicyChange, PolicySettings, SeverityPolicy
from .ratelimit import RateLimitCounter
from .timeline import TimelineEvent
from .timers import Deadline, EscalationResponse, Page

__all__ = [
    "ApiToken",
    "AuditEvent",
    "ChecklistItem",
    "ContactMethod",
    "Deadline",
    "EscalationContact",
    "EscalationResponse",
    "EscalationRule",
    "Incident",
    "Override",
    "Page",
    "PolicyChange",
    "PolicySettings",
    "RateLimitCounter",
    "RoleAssignment",
    "Rotation",
    "RotationMember",
    "Schedule",
    "Service",
    "SeverityPolicy",
    "Team",
    "TimelineEvent",
    "User",
]
