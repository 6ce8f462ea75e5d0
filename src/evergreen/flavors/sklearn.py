"""scikit-learn models (pipelines included), stored with skops: loading executes no pickle."""

from __future__ import annotations

from typing import Any

from evergreen.errors import IntegrityFailure
from evergreen.flavors.base import Flavor

# Types outside these packages are refused at load time: a model file cannot smuggle code.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class SklearnFlavor(Flavor):
    name = "sklearn"

    def save(self, model: Any) -> bytes:
        import skops.io as sio  # imported on use: it loads all of scikit-learn

        data: bytes = sio.dumps(model)
        return data

    def load(self, data: bytes) -> Any:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise IntegrityFailure(
                f"model file holds types evergreen does not trust: {refused}; "
                "re-save it with plain scikit-learn estimators"
            )
        return sio.loads(data, trusted=untrusted)
