"""Tests of `evergreen.store`."""
