"""Django admin for comms. Each area registers its ModelAdmins in its own module."""

# Registering the ModelAdmins is the imports' effect.
from . import admin_comms, admin_status  # noqa: F401
