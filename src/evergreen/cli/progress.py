"""Progress of long runs: a bar over the search's trials on a terminal, one line per finished
trial elsewhere (logs, CI), and the pipeline's own messages in between."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from evergreen.cli.output import console

if TYPE_CHECKING:
    from evergreen.training.search import TrialResult


class TrialProgress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> TrialProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def say(self, message: str) -> None:
        if not self.enabled:
            return
        target = self._bar.console if self._bar is not None else console
        target.print(message, soft_wrap=True, highlight=False, markup=False)

    def update(self, trial: TrialResult, done: int, total: int) -> None:
        if not self.enabled:
            return
        value = "-" if trial.value is None else f"{trial.value:.4g}"
        line = (
            f"  trial {done}/{total} {trial.candidate} #{trial.number}: {trial.state} "
            f"{value} ({trial.seconds:.1f} s)"
        )
        if not console.is_terminal:
            console.print(line, soft_wrap=True, highlight=False, markup=False)
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("trials", total=total)
        self._bar.console.print(line, soft_wrap=True, highlight=False, markup=False)
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self._close()  # the search is over

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
