"""The error hierarchy. Every error raised on purpose is an ``EvergreenError``; its message is
safe to show to users and says what was attempted, what was found and what to do next.

Domain errors know nothing of HTTP or exit codes: the gateway, the API and the CLI each map the
kinds below to their own codes in one table.
"""

from __future__ import annotations


class EvergreenError(Exception):
    """Raised on purpose; the message is safe to show to users."""


class NotFound(EvergreenError):
    """The thing named does not exist."""


class InvalidInput(EvergreenError):
    """The input (a file, a request, an argument) is malformed or does not fit."""


class InvalidState(EvergreenError):
    """The request is well formed but not allowed in the current state."""


class AlreadyExists(EvergreenError):
    """Creating something whose identity is already taken."""


class Unavailable(EvergreenError):
    """A dependency (database, artifact store, model) cannot be reached right now."""


class IntegrityFailure(EvergreenError):
    """Stored bytes do not match their recorded checksum."""


class VersionNotFound(NotFound):
    def __init__(self, model: str, version: int) -> None:
        super().__init__(
            f"model {model!r} has no version {version}; see `evergreen models show {model}`"
        )
        self.model, self.version = model, version


class ModelNotFound(NotFound):
    def __init__(self, model: str) -> None:
        super().__init__(f"no model named {model!r}; see `evergreen models list`")
        self.model = model


class DataValidationFailed(EvergreenError):
    """A batch of data has error-severity anomalies; the run stops."""


class TrainingFailed(EvergreenError):
    """No candidate could be trained: every trial failed, timed out or was pruned."""


class GateFailed(EvergreenError):
    """A candidate model did not pass the promotion gate."""


class PromotionRefused(InvalidState):
    """Promotion to production without the evidence it requires (gate, validation, approvals)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing
