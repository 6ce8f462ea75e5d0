"""Tests of `evergreen.data`."""
