"""The CLI's handle on the composed context, built once per command from the environment."""

from __future__ import annotations

from functools import cache

from evergreen.bootstrap import Context, build
from evergreen.settings import Settings


@cache
def context() -> Context:
    return build(Settings())
