"""evergreen: continuous model training.

``import evergreen as eg`` gives the names a project file is written with; everything else is
reached by module path.
"""

from evergreen.data.splits import SplitSpec as SplitSpec
from evergreen.pipeline.project import DriftPolicy as DriftPolicy
from evergreen.pipeline.project import Project as Project
from evergreen.pipeline.project import Triggers as Triggers
from evergreen.pipeline.project import load_project as load_project
from evergreen.training.gate import GateSpec as GateSpec

__all__ = ["DriftPolicy", "GateSpec", "Project", "SplitSpec", "Triggers", "load_project"]
