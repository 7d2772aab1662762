"""Extension points for the apps built on the core (comms, pir, integrations). The core never
imports them; they plug in here.

- What follows a timeline event is a reaction, registered by kind in `incidents.reactions`
  (run inside the transaction that wrote the event).
- Deadline kinds: an app registers a planner (which deadlines of its kind an incident should
  have now) and a firer (what happens when one is due). The timer engine plans, sweeps and
  fires them exactly like the core's escalations: same rows, same sweeper, same guarantees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .escalation import Planned, Recipients
    from .models import Deadline, Incident


@dataclass
class Fired:
    """What a firer did: the timeline event to write (kind and text), its data, and the pages
    it created (handed to the workers after commit)."""

    timeline_kind: str
    text: str
    data: dict = field(default_factory=dict)
    page_ids: list[int] = field(default_factory=list)


Planner = Callable[["Incident", datetime], dict[str, "Planned"]]
# Returns None when the deadline no longer applies (it is then cancelled, not fired).
Firer = Callable[["Deadline", "Incident", "Recipients", datetime], Fired | None]


@dataclass(frozen=True)
class DeadlineKind:
    kind: str
    planner: Planner
    firer: Firer
    # The checklists (incidents.states.Checklist) whose items the planner reads: ticking one of
    # them re-plans the incident; ticking any other does not.
    checklists: frozenset[str] = frozenset()


DEADLINE_KINDS: dict[str, DeadlineKind] = {}


def register_deadline_kind(
    kind: str, *, planner: Planner, firer: Firer, checklists: frozenset[str] = frozenset()
) -> None:
    """Called from an app's `AppConfig.ready()`. Deadline keys a planner returns must start with
    `<kind>:` so kinds never collide. A planner that reads checklist items names their
    checklists (`checklists`), so ticking them re-plans."""
    DEADLINE_KINDS[kind] = DeadlineKind(kind, planner, firer, frozenset(checklists))


def checklist_plans(checklist: str) -> bool:
    """Whether some deadline kind plans from the items of `checklist`."""
    return any(checklist in registered.checklists for registered in DEADLINE_KINDS.values())
