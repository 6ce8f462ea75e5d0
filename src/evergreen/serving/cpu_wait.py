"""How short of CPU the gateway is: the share of the last moments its event loop spent waiting
for a core, runnable but not running; and how busy the loop is: the share it was runnable
(running or waiting), i.e. not idle.

Linux keeps, for every thread, the nanoseconds it has spent on a CPU and waiting on a run queue
(``/proc/<pid>/task/<tid>/schedstat``). A thread that waits for a core a tenth of the time is
slowed by a tenth by whatever else runs: the other workers, its own process's threads, other
programs. Busy cores alone do not mean that: work that runs only when a core is idle takes
nothing from anyone, and it is waiting that makes requests slower. A loop that is never idle
is short too, with cores to spare: everything else its process does in Python (a shadow's
predicts among it) is time its requests wait, one gateway worker at 64 clients, or at one
client that sends its next request the moment it has an answer, ran 97-100% of every quarter
second. The counters count inside a container too, whatever its CPU quota.

The gateway reads them at most every quarter second, on the event loop's thread.

Where the file cannot be read (not Linux, or a kernel without scheduler statistics), both shares
are always 0: the gateway never thinks itself short of CPU.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

INTERVAL = 0.25  # seconds a measurement spans
HOLD = 4  # the share is the largest of this many last measurements


class CpuWait:
    """The shares of wall time the thread that calls ``share`` waited for a core, and was
    runnable (running or waiting): each the largest over the last ``hold`` measurements of
    ``interval`` each (the first call measures nothing yet: 0). Quick to see a shortage, slow
    to forget it: a gateway under steady load dips below any threshold for a quarter second now
    and then (measured: 2 in 20)."""

    def __init__(
        self,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        *,
        hold: int = HOLD,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._recent: deque[tuple[float, float]] = deque(maxlen=hold)
        self._fd: int | None = None
        self._thread: int | None = None
        self._since = 0.0
        self._counted = (0, 0)  # nanoseconds run and waited, as of ``_since``
        self._shares = (0.0, 0.0)
        self._available = True

    @property
    def available(self) -> bool:
        """Whether the counters could be read (so far)."""
        return self._available

    def share(self) -> float:
        """The share waited for a core, measured over the last completed intervals; cheap
        between measurements."""
        return self.shares()[0]

    def shares(self) -> tuple[float, float]:
        """(waited, runnable): the shares measured over the last completed intervals; cheap
        between measurements."""
        if not self._available:
            return (0.0, 0.0)
        now = self.clock()
        if self._fd is not None and now - self._since < self.interval:
            return self._shares
        counted = self._read()  # None: unreadable, or the first reading (nothing to compare)
        if counted is None:
            return (0.0, 0.0)
        if now > self._since:
            seconds = (now - self._since) * 1e9
            ran = (counted[0] - self._counted[0]) / seconds
            waited = (counted[1] - self._counted[1]) / seconds
            self._recent.append((_unit(waited), _unit(ran + waited)))
            self._shares = (max(w for w, _ in self._recent), max(r for _, r in self._recent))
        self._since, self._counted = now, counted
        return self._shares

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read(self) -> tuple[int, int] | None:
        """The calling thread's nanoseconds run and waited so far; None where unreadable, and
        on the first reading for a thread, which only starts the measurement."""
        thread = threading.get_native_id()
        try:
            if self._thread != thread:  # the first call, or another thread: measure that one
                self.close()
                self._fd = os.open(f"/proc/{os.getpid()}/task/{thread}/schedstat", os.O_RDONLY)
                self._thread = None
            assert self._fd is not None
            fields = os.pread(self._fd, 128, 0).split()
            counted = (int(fields[0]), int(fields[1]))
        except (OSError, IndexError, ValueError):
            self.close()
            self._available = False
            return None
        if self._thread is None:
            self._thread = thread
            self._shares = (0.0, 0.0)
            self._recent.clear()
            self._since = self.clock()
            self._counted = counted
            return None
        return counted


def _unit(share: float) -> float:
    return min(1.0, max(0.0, share))
