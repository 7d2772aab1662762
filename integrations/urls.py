"""Pages and endpoints outside /api/v1/ (mounted at the site root)."""

urlpatterns: list = []
