"""The model registry."""

from evergreen.registry.registry import STAGES, Registry, audit_dict, version_dict

__all__ = ["STAGES", "Registry", "audit_dict", "version_dict"]
