"""A mistyped command line gets one line on stderr naming what is wrong and where to look, and
exit code 2 (Click's own usage errors, printed as a box over several lines, are replaced)."""

from __future__ import annotations

import pytest

from cli.process import NewHome


@pytest.mark.parametrize(
    ("args", "names", "command"),
    [
        (["serve", "--workers", "0"], ["--workers", "greater than or equal to 1"], "serve"),
        (["serve", "--shadow-busy-share", "2"], ["--shadow-busy-share", "less than"], "serve"),
        (["serve", "--no-such-option"], ["--no-such-option"], "serve"),
        (["models", "show"], ["Missing argument", "name"], "models show"),
        (["no-such-command"], ["no-such-command"], ""),
    ],
    ids=["below-range", "above-range", "unknown-option", "missing-argument", "unknown-command"],
)
def test_a_usage_error_is_one_line(
    new_home: NewHome, args: list[str], names: list[str], command: str
) -> None:
    done = new_home().run(*args)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ")
    assert all(name in line for name in names), line
    assert line.endswith(f"; see `{' '.join(['evergreen', command]).strip()} --help`"), line


def test_no_arguments_show_the_help(new_home: NewHome) -> None:
    done = new_home().run("models")
    assert done.returncode == 2 and done.stderr == ""
    assert "Usage: evergreen models" in done.stdout and "list" in done.stdout


def test_an_evergreen_error_keeps_its_own_code(new_home: NewHome) -> None:
    done = new_home().run("models", "show", "nope")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.splitlines() == ["error: no model named 'nope'; see `evergreen models list`"]
