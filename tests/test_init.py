"""`import evergreen as eg` exposes exactly the names project files are written with."""

from __future__ import annotations

import evergreen as eg


def test_public_names_are_sorted_and_importable() -> None:
    assert eg.__all__ == sorted(eg.__all__)
    public = {name for name in dir(eg) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(eg, name)).__name__ == "module"}
    assert public - modules == set(eg.__all__)
