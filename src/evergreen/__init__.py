"""evergreen: continuous model training.

``import evergreen as eg`` gives the names a project file is written with; everything else is
reached by module path.

The names are imported on first use (PEP 562): importing any ``evergreen.*`` module, the CLI's
included, does not pull in pandas and scikit-learn for them.
"""

import typing as _typing
from importlib import import_module as _import_module

if _typing.TYPE_CHECKING:
    from evergreen.data.splits import SplitSpec as SplitSpec
    from evergreen.pipeline.project import DriftPolicy as DriftPolicy
    from evergreen.pipeline.project import Project as Project
    from evergreen.pipeline.project import Triggers as Triggers
    from evergreen.pipeline.project import load_project as load_project
    from evergreen.training.gate import GateSpec as GateSpec

__all__ = ["DriftPolicy", "GateSpec", "Project", "SplitSpec", "Triggers", "load_project"]

_HOMES = {
    "DriftPolicy": "evergreen.pipeline.project",
    "GateSpec": "evergreen.training.gate",
    "Project": "evergreen.pipeline.project",
    "SplitSpec": "evergreen.data.splits",
    "Triggers": "evergreen.pipeline.project",
    "load_project": "evergreen.pipeline.project",
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
