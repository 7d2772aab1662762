"""The core's own deadline kinds for the procedures' first minutes, its channel and its
escalation contacts, registered with the timer engine like the apps' kinds
(`incidents.hooks.register_deadline_kind`): the same rows, sweeper and exactly-once firing as
the escalations, planned by `deadlines_replan` in the transaction of every change that
matters. Each planned deadline carries a human `label` (shown by the API and the dashboard).

- `triage` (4.2 "Initial Triage (First 5 Minutes)", `triage_window_minutes`): the triage
  checklist (4.3) still has unticked items when the window ends: remind the IC (else the
  declarer).
- `roles` (Appendix A "FIRST 5 / 15 MINUTES", `ic_first_minutes`, `ic_roles_within_minutes`,
  per severity `roles_required`): no IC, or a role the severity fills unassigned: a reminder
  at the window's end, and the window's length again later an escalation to the owning
  team's manager.
- `channel` (Appendix A "Close incident channel after 24h", `channel_close_after_hours`):
  the channel is closed that long after resolution.
- `response` (5.3, each contact's `response_minutes`): an escalation contact who has not
  acknowledged in time is late, and the next contact is offered to the IC; planned ahead
  with each 5.1 escalation (the sweeper does no more work when it escalates), written with
  each 5.4 request.
"""

from __future__ import annotations

from ..hooks import register_deadline_kind
from . import channel, responses, roles, triage

MODULES = (triage, roles, channel, responses)
KINDS = tuple(module.KIND for module in MODULES)


def register() -> None:
    """Called from `IncidentsConfig.ready()`; tests that hold the core's escalations alone
    unregister them (tests/timers/conftest.py) and call this to run them again."""
    for module in MODULES:
        register_deadline_kind(
            module.KIND,
            planner=module.plan,
            firer=module.fire,
            checklists=getattr(module, "CHECKLISTS", frozenset()),
        )
