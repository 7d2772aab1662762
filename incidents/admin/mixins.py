"""What several apps' admins share."""


class ReadOnlyAdminMixin:
    """A history or a record shown as it is: nothing is added, changed or deleted through the
    admin, whoever asks (a ModelAdmin or an inline; put it first among the bases)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
