"""Model flavors: how each kind of model is saved, loaded and described."""

from __future__ import annotations

from evergreen.errors import InvalidInput
from evergreen.flavors.base import ColumnSpec, Flavor, LoadedModel, Signature
from evergreen.flavors.sklearn import SklearnFlavor

_FLAVORS: dict[str, Flavor] = {"sklearn": SklearnFlavor()}


def get_flavor(name: str) -> Flavor:
    try:
        return _FLAVORS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown model flavor {name!r}; known flavors: {', '.join(sorted(_FLAVORS))}"
        ) from None


__all__ = ["ColumnSpec", "Flavor", "LoadedModel", "Signature", "SklearnFlavor", "get_flavor"]
