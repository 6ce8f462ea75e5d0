from __future__ import annotations

import pytest

from evergreen import errors
from evergreen.serving.errors import status_of


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput("x"), 400),
        (errors.NotFound("x"), 404),
        (errors.ModelNotFound("m"), 404),
        (errors.VersionNotFound("m", 3), 404),
        (errors.InvalidState("x"), 409),
        (errors.AlreadyExists("x"), 409),
        (errors.Unavailable("x"), 503),
        (errors.IntegrityFailure("x"), 500),
        (errors.GateFailed("x"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_each_error_kind_has_one_status(error: errors.EvergreenError, status: int) -> None:
    assert status_of(error) == status
