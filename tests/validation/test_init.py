from __future__ import annotations

from types import ModuleType

import pytest

import evergreen.validation
import evergreen.validation.drift


@pytest.mark.parametrize(
    "package", [evergreen.validation, evergreen.validation.drift], ids=["validation", "drift"]
)
def test_public_names_are_sorted_and_exported(package: ModuleType) -> None:
    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)
    unlisted = {name for name in vars(package) if not name.startswith("_")} - set(package.__all__)
    assert all(isinstance(getattr(package, name), ModuleType) for name in unlisted)
