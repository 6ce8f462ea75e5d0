"""The main job: replay real bike-sharing data through the whole loop, on embedded defaults."""

from evergreen.demo.replay import run_demo as run_demo

__all__ = ["run_demo"]
