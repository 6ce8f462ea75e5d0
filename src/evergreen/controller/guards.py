"""The guards between a signal and a run: cooldown, a cap on runs per period, and the minimum
time a champion serves. A guarded signal is not dropped: its event is deferred (``not_before``)
with the reasons recorded in its evidence, so a burst or a flapping metric yields one run, later.

Manual signals pass every guard: a person asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from evergreen.pipeline.triggers import Triggers
from evergreen.registry import Registry
from evergreen.store.events import EventRepository

AUTOMATIC_RUN_STATUSES = ("leased", "done", "failed")


@dataclass(frozen=True)
class Deferral:
    """When an event may run (None: now) and why it waits."""

    until: datetime | None = None
    reasons: list[str] = field(default_factory=list)


def champion_since(registry: Registry, model: str) -> datetime | None:
    """When the current production version of ``model`` entered production (None: no
    production version, or no record of its promotion)."""
    production = registry.production(model)
    if production is None:
        return None
    transitions = [
        e
        for e in registry.audit_log(f"{model}:{production.version}")
        if e.action == "transition" and e.to_state == "production"
    ]
    return transitions[-1].at if transitions else None


def deferral(
    triggers: Triggers,
    project: str,
    kind: str,
    now: datetime,
    events: EventRepository,
    registry: Registry,
) -> Deferral:
    """Whether a new ``kind`` signal of ``project`` may run now, and if not, until when."""
    if kind == "manual":
        return Deferral()
    waits: list[tuple[datetime, str]] = []
    if triggers.cooldown.total_seconds() > 0:
        last = events.last_finished(project)
        if last is not None and last.finished_at is not None:
            free = last.finished_at + triggers.cooldown
            if free > now:
                waits.append(
                    (
                        free,
                        f"cooldown: the last automatic run finished at "
                        f"{last.finished_at:%Y-%m-%d %H:%M} UTC (cooldown {triggers.cooldown})",
                    )
                )
    if triggers.max_runs is not None:
        started = [
            e
            for e in events.history(project, now - triggers.period, statuses=AUTOMATIC_RUN_STATUSES)
            if e.kind != "manual"
        ]
        if len(started) >= triggers.max_runs:
            oldest_counted = started[len(started) - triggers.max_runs]
            waits.append(
                (
                    oldest_counted.created_at + triggers.period,
                    f"cap: {len(started)} automatic runs in the last {triggers.period} "
                    f"(max_runs {triggers.max_runs})",
                )
            )
    if triggers.min_champion.total_seconds() > 0:
        since = champion_since(registry, project)
        if since is not None and since + triggers.min_champion > now:
            waits.append(
                (
                    since + triggers.min_champion,
                    f"min_champion: the production version serves since {since:%Y-%m-%d %H:%M} UTC "
                    f"(minimum {triggers.min_champion})",
                )
            )
    if not waits:
        return Deferral()
    return Deferral(max(w[0] for w in waits), [w[1] for w in waits])
