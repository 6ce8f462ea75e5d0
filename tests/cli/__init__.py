"""Tests of `evergreen.cli`: the real `evergreen` executable, run in a subprocess."""
