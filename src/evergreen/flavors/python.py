"""Custom Python models: any object with ``predict(DataFrame)``, saved with cloudpickle.

Classes are pickled by value when they come from a project file rather than an installed
package (a file run by ``runpy``, ``__main__``, or a module outside site-packages and the
standard library), so the model loads where that file is absent. The classes and functions of
installed packages (numpy, scikit-learn, ...) are pickled by reference: they must be installed
where the model loads.

Loading unpickles, which runs code: this flavor trusts its bytes. What makes that safe is that
bytes reach ``load`` only through ``Registry.load``, which reads the artifact through the
artifact store's verified read and refuses (``IntegrityFailure``) bytes whose sha256 is not the
one the registry recorded when the model was registered. Never call ``load`` on bytes from
anywhere else.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import cloudpickle

from evergreen.errors import InvalidInput
from evergreen.flavors.base import Flavor


class PythonFlavor(Flavor):
    name = "python"

    def owns(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any) -> bytes:
        registered = [m for m in _project_modules(model) if not _by_value(m)]
        for module in registered:
            cloudpickle.register_pickle_by_value(module)
        try:
            data: bytes = cloudpickle.dumps(model)
        except Exception as exc:  # pickling fails with many types (locks, open files, ...)
            raise InvalidInput(
                f"cannot save the {type(model).__name__} with cloudpickle: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        finally:
            for module in registered:
                cloudpickle.unregister_pickle_by_value(module)
        return data

    def load(self, data: bytes) -> Any:
        """Unpickles ``data``: only for bytes the registry has verified (see the module doc)."""
        return cloudpickle.loads(data)


def _project_modules(model: Any) -> list[ModuleType]:
    """The modules, among those defining the model's classes, that are project files."""
    installed = {Path(p).resolve() for key, p in sysconfig.get_paths().items() if "lib" in key}
    found: list[ModuleType] = []
    for kind in type(model).__mro__:
        module = sys.modules.get(kind.__module__)
        file = getattr(module, "__file__", None)
        if module is None or file is None or module.__name__ == "__main__":
            continue  # __main__ and runpy files are not importable: pickled by value anyway
        if module.__name__.split(".")[0] == "evergreen":
            continue
        path = Path(file).resolve()
        if not any(path.is_relative_to(root) for root in installed) and module not in found:
            found.append(module)
    return found


def _by_value(module: ModuleType) -> bool:
    return module.__name__ in cloudpickle.list_registry_pickle_by_value()
