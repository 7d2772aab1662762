"""The five groups of the contract, and what SRE leads may do in admin."""

from django.contrib.auth.models import Group, Permission

from .states import GroupName

# Admin permissions for SRE leads (procedures' numbers, catalog, people, incidents).
SRE_LEAD_PERMISSIONS = {
    "incidents": [
        "view_incident",
        "change_incident",
        "transition_incident",
        "view_timelineevent",
        "view_roleassignment",
        "view_checklistitem",
        "view_policysettings",
        "change_policysettings",
        "view_severitypolicy",
        "change_severitypolicy",
        "add_escalationrule",
        "view_escalationrule",
        "change_escalationrule",
        "delete_escalationrule",
        "view_escalationcontact",
        "change_escalationcontact",
        "view_policychange",
        "add_service",
        "view_service",
        "change_service",
        "add_team",
        "view_team",
        "change_team",
        "view_user",
        "change_user",
        *[
            f"{action}_{model}"
            for model in ("schedule", "rotation", "rotationmember", "override", "contactmethod")
            for action in ("add", "change", "delete", "view")
        ],
        "view_deadline",
        "view_page",
    ],
}


def ensure_groups(**kwargs) -> None:
    """post_migrate: the groups exist, and SRE leads hold their admin permissions."""
    for name in GroupName.values:
        Group.objects.get_or_create(name=name)
    sre_lead = Group.objects.get(name=GroupName.SRE_LEAD)
    for app_label, codenames in SRE_LEAD_PERMISSIONS.items():
        perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        sre_lead.permissions.add(*perms)
