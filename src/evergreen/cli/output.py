"""How the CLI talks: tables or JSON on stdout, one-line errors on stderr, exit codes by kind."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from evergreen.errors import (
    DataValidationFailed,
    EvergreenError,
    GateFailed,
    IntegrityFailure,
    InvalidInput,
    InvalidState,
    NotFound,
    Unavailable,
)

# The --json flag every command that lists or shows something takes.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

console = Console()
errors = Console(stderr=True)

# One table from error kinds to exit codes. 1 means "checked and found wanting".
EXIT_CODES: list[tuple[type[EvergreenError], int]] = [
    (DataValidationFailed, 1),
    (GateFailed, 1),
    (InvalidInput, 2),
    (NotFound, 3),
    (InvalidState, 4),
    (Unavailable, 5),
    (IntegrityFailure, 6),
    (EvergreenError, 1),
]

P = ParamSpec("P")
R = TypeVar("R")


def exit_code(error: EvergreenError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    parts = [" ".join(part.split()) for part in message.splitlines()]
    one_line = "; ".join(part.rstrip(":") for part in parts if part)
    errors.print(f"error: {one_line}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn evergreen errors into one line on stderr and the kind's exit code."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EvergreenError as exc:
            raise fail(str(exc), exit_code(exc)) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
