"""Django admin for SRE leads. Every change goes through the services; every incident is
reached through the selectors (see core.py)."""

from . import core, oncall, tokens  # noqa: F401 - registering the ModelAdmins is the import's effect
