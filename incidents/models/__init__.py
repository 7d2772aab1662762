from .catalog import Service, Team
from .incident import ChecklistItem, Incident, RoleAssignment
from .people import User
from .policy import EscalationContact, EscalationRule, PolicyChange, PolicySettings, SeverityPolicy
from .timeline import TimelineEvent

__all__ = [
    "ChecklistItem",
    "EscalationContact",
    "EscalationRule",
    "Incident",
    "PolicyChange",
    "PolicySettings",
    "RoleAssignment",
    "Service",
    "SeverityPolicy",
    "Team",
    "TimelineEvent",
    "User",
]
