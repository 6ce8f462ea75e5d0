"""Retraining policies as the backtester names them: ``never``, ``every:N``, ``drift``,
``performance`` and ``drift+performance``.

A policy says which signals start a retrain: none; a schedule of every ``N`` batches; input drift
against the serving version's training data; the live metric falling below the serving
version's own holdout score by a margin; or either of the last two.
"""

from __future__ import annotations

from dataclasses import dataclass

from evergreen.errors import InvalidInput

KNOWN = "never, every:N (N batches), drift, performance, drift+performance"


@dataclass(frozen=True)
class Policy:
    """One retraining policy; ``name`` is how the user wrote it (normalised)."""

    name: str
    every: int | None = None
    drift: bool = False
    performance: bool = False

    @property
    def retrains(self) -> bool:
        return self.every is not None or self.drift or self.performance


def parse_policy(text: str) -> Policy:
    """One policy from its name; InvalidInput naming the known ones otherwise."""
    name = text.strip().lower()
    if name == "never":
        return Policy(name)
    if name.startswith("every:"):
        count = name.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise InvalidInput(
                f"policy {text!r}: every:N needs a positive whole number of batches, "
                "e.g. every:1 or every:10"
            )
        return Policy(f"every:{int(count)}", every=int(count))
    signals = name.split("+")
    if signals and set(signals) <= {"drift", "performance"} and len(set(signals)) == len(signals):
        ordered = [s for s in ("drift", "performance") if s in signals]
        return Policy(
            "+".join(ordered), drift="drift" in signals, performance="performance" in signals
        )
    raise InvalidInput(f"unknown policy {text!r}; known policies: {KNOWN}")


def parse_policies(text: str) -> list[Policy]:
    """A comma-separated list of policies, each at most once."""
    names = [part for part in (p.strip() for p in text.split(",")) if part]
    if not names:
        raise InvalidInput(f"--policies is empty; give one or more of: {KNOWN}")
    policies = [parse_policy(name) for name in names]
    seen = [p.name for p in policies]
    repeated = sorted({n for n in seen if seen.count(n) > 1})
    if repeated:
        raise InvalidInput(f"policy {', '.join(repeated)} is listed more than once")
    return policies
