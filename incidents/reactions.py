"""What follows a timeline event: the one table of reactions (docs/architecture.md,
"Reactions").

Every timeline event the core records (`incidents.services.timeline.timeline_record`, and
the timer engine's fired deadlines) runs the reactions registered for its kind, in order of
registration, **inside the transaction that wrote the event**: a reaction may write rows
that commit or roll back with the event (a review, webhook delivery rows, subscriber
delivery rows); anything that leaves the process is queued with `transaction.on_commit`
by the reaction itself. An exception in a reaction rolls the event back with it.

The apps register theirs in `AppConfig.ready()` (the core never imports them):

    register_reaction(TimelineKind.STATUS_CHANGED, pir_on_status_changed,
                      name="pir: a review for a resolved incident")

`tests/test_reactions.py` lists the table and fails if anything else listens to timeline
events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Incident, TimelineEvent

ReactionFn = Callable[["Incident", "TimelineEvent"], None]

# The kind that stands for every kind of event.
EVERY_EVENT = "*"


@dataclass(frozen=True)
class Reaction:
    name: str
    kinds: frozenset[str]
    fn: ReactionFn

    def follows(self, kind: str) -> bool:
        return EVERY_EVENT in self.kinds or kind in self.kinds


REACTIONS: dict[str, Reaction] = {}


def register_reaction(event_kind: str | Iterable[str], fn: ReactionFn, *, name: str) -> None:
    """Run `fn(incident, event)` after every timeline event of `event_kind` (one kind, several,
    or EVERY_EVENT). Names are unique: registering a name again (a reloaded app) replaces it."""
    kinds = [event_kind] if isinstance(event_kind, str) else list(event_kind)
    if not kinds:
        raise ValueError(f"reaction {name!r} follows no event kind")
    REACTIONS[name] = Reaction(name, frozenset(str(k) for k in kinds), fn)


def reactions_for(kind: str) -> list[Reaction]:
    return [r for r in REACTIONS.values() if r.follows(kind)]


def reactions_run(incident: Incident, event: TimelineEvent) -> None:
    """Called by the core right after it writes `event`, in the same transaction."""
    for reaction in reactions_for(event.kind):
        reaction.fn(incident, event)
