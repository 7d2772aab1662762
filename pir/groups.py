"""What SRE leads may do with reviews in admin (the core's groups, granted from here so the
core need not know this app)."""

from django.contrib.auth.models import Group, Permission

from incidents.states import GroupName

SRE_LEAD_PERMISSIONS = [
    "view_postincidentreview",
    "change_postincidentreview",
    "view_pirtimelineentry",
    "view_actionitem",
    "change_actionitem",
    "delete_actionitem",
    "view_actiondigestdelivery",
]


def grant_sre_lead_permissions(**kwargs) -> None:
    """post_migrate: SRE leads hold their admin permissions on reviews."""
    sre_lead, _ = Group.objects.get_or_create(name=GroupName.SRE_LEAD)
    perms = Permission.objects.filter(
        content_type__app_label="pir", codename__in=SRE_LEAD_PERMISSIONS
    )
    sre_lead.permissions.add(*perms)
