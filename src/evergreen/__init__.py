"""evergreen: continuous model training.

``import evergreen as eg`` gives the names a project file is written with; everything else is
reached by module path.

The names are imported on first use (PEP 562): importing any ``evergreen.*`` module, the CLI's
included, does not pull in pandas and scikit-learn for them.
"""

import typing as _typing

from evergreen.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from evergreen.data.splits import SplitSpec as SplitSpec
    from evergreen.pipeline.alerting import AlertRule as AlertRule
    from evergreen.pipeline.alerting import Notifier as Notifier
    from evergreen.pipeline.monitors import MonitorSpec as MonitorSpec
    from evergreen.pipeline.project import DriftPolicy as DriftPolicy
    from evergreen.pipeline.project import Project as Project
    from evergreen.pipeline.project import load_project as load_project
    from evergreen.pipeline.rollout import RolloutSpec as RolloutSpec
    from evergreen.pipeline.steps import Step as Step
    from evergreen.pipeline.steps import step as step
    from evergreen.pipeline.triggers import PerformanceTrigger as PerformanceTrigger
    from evergreen.pipeline.triggers import Triggers as Triggers
    from evergreen.training.candidates import Candidate as Candidate
    from evergreen.training.candidates import Choice as Choice
    from evergreen.training.candidates import Float as Float
    from evergreen.training.candidates import Int as Int
    from evergreen.training.candidates import SearchSpec as SearchSpec
    from evergreen.training.gate import GateSpec as GateSpec

__all__ = [
    "AlertRule",
    "Candidate",
    "Choice",
    "DriftPolicy",
    "Float",
    "GateSpec",
    "Int",
    "MonitorSpec",
    "Notifier",
    "PerformanceTrigger",
    "Project",
    "RolloutSpec",
    "SearchSpec",
    "SplitSpec",
    "Step",
    "Triggers",
    "load_project",
    "step",
]

_HOMES = {
    "DriftPolicy": "evergreen.pipeline.project",
    "GateSpec": "evergreen.training.gate",
    "Project": "evergreen.pipeline.project",
    "SplitSpec": "evergreen.data.splits",
    "Triggers": "evergreen.pipeline.triggers",
    "PerformanceTrigger": "evergreen.pipeline.triggers",
    "MonitorSpec": "evergreen.pipeline.monitors",
    "AlertRule": "evergreen.pipeline.alerting",
    "Notifier": "evergreen.pipeline.alerting",
    "RolloutSpec": "evergreen.pipeline.rollout",
    "load_project": "evergreen.pipeline.project",
    "Step": "evergreen.pipeline.steps",
    "step": "evergreen.pipeline.steps",
    "Candidate": "evergreen.training.candidates",
    "Choice": "evergreen.training.candidates",
    "Float": "evergreen.training.candidates",
    "Int": "evergreen.training.candidates",
    "SearchSpec": "evergreen.training.candidates",
}


__getattr__, __dir__ = _lazy_exports(__name__, _HOMES, globals())
