"""Tests of `evergreen.registry`."""
