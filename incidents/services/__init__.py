"""Every write to the incident core. Each service is one transaction: it locks what it
changes, checks permission, applies the rule, saves, and writes the timeline event in the
same transaction. Views, API views, admin actions and tasks all call these."""

from .bridge import incident_bridge_request
from .checklists import incident_checklist_set
from .escalations import incident_escalate, incident_page_user
from .incidents import (
    incident_acknowledge,
    incident_acknowledge_by_link,
    incident_add_note,
    incident_declare,
    incident_transition,
    incident_update,
)
from .policy import (
    policy_object_create,
    policy_object_delete,
    policy_object_update,
    policy_seed_defaults,
)
from .responses import escalation_page_next
from .roles import incident_assign_role, incident_relieve_role
from .security import incident_public_text_approve, incident_security_set
from .tokens import (
    api_token_create,
    api_token_revoke,
    api_token_revoke_for,
    api_tokens_revoke_all,
)
from .users import contact_method_create, contact_method_delete, user_create, user_password_set

__all__ = [
    "api_token_create",
    "api_token_revoke",
    "api_token_revoke_for",
    "api_tokens_revoke_all",
    "contact_method_create",
    "contact_method_delete",
    "escalation_page_next",
    "incident_acknowledge",
    "incident_acknowledge_by_link",
    "incident_add_note",
    "incident_assign_role",
    "incident_bridge_request",
    "incident_checklist_set",
    "incident_declare",
    "incident_escalate",
    "incident_page_user",
    "incident_public_text_approve",
    "incident_relieve_role",
    "incident_security_set",
    "incident_transition",
    "incident_update",
    "policy_object_create",
    "policy_object_delete",
    "policy_object_update",
    "policy_seed_defaults",
    "user_create",
    "user_password_set",
]
