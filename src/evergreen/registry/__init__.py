"""The model registry."""

from evergreen.registry.registry import STAGES, Registry, version_dict

__all__ = ["STAGES", "Registry", "version_dict"]
