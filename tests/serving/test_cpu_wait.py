"""How short of CPU the gateway is: a thread's run-queue wait, as Linux counts it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from evergreen.serving.cpu_wait import CpuWait

linux = pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/schedstat"),
    reason="scheduler statistics are Linux's",
)


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measured(wait: CpuWait, seconds: float) -> float:
    wait.share()  # starts the measurement
    spin(seconds)
    return wait.share()


@linux
def test_a_thread_that_shares_its_cpu_waits_for_it(one_cpu: int) -> None:
    alone = measured(CpuWait(interval=0.0), 0.4)
    rival = subprocess.Popen(
        [sys.executable, "-c", "while True: pass"],
        preexec_fn=lambda: os.sched_setaffinity(0, {one_cpu}),
    )
    try:
        time.sleep(0.1)  # the rival is running
        shared = measured(CpuWait(interval=0.0), 0.6)
    finally:
        rival.kill()
        rival.wait()
    # two runnable threads on one CPU: each waits about half the time
    assert shared > 0.25
    assert shared > alone + 0.2


@linux
def test_a_loop_that_is_never_idle_is_runnable_all_the_time() -> None:
    """Running or waiting for a core, a spinning thread is runnable whatever else runs; a
    sleeping one is not."""
    busy = CpuWait(interval=0.0)
    busy.shares()  # starts the measurement
    spin(0.3)
    spinning = busy.shares()[1]
    idle = CpuWait(interval=0.0)
    idle.shares()
    time.sleep(0.3)
    sleeping = idle.shares()[1]
    assert spinning > 0.9 > 0.1 > sleeping


@linux
def test_a_share_holds_for_its_interval_and_starts_over_on_another_thread() -> None:
    now = [0.0]
    wait = CpuWait(interval=1.0, clock=lambda: now[0])
    assert wait.share() == 0.0  # the first reading only starts the measurement
    wait._shares = (0.5, 0.75)  # as if measured
    now[0] = 0.5
    assert wait.share() == 0.5  # within the interval: not read again
    assert wait.shares() == (0.5, 0.75)
    seen: list[float] = []
    other = threading.Thread(target=lambda: seen.append(wait.share()))
    now[0] = 2.0
    other.start()
    other.join()
    assert seen == [0.0]  # another thread's counters: a new measurement
    assert wait.shares() == (0.0, 0.0)
    assert wait.available
    wait.close()


def test_where_the_counters_cannot_be_read_the_gateway_is_never_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "getpid", lambda: 2**30)  # no such process under /proc
    wait = CpuWait(interval=0.0)
    assert wait.share() == 0.0
    assert not wait.available
    spin(0.01)
    assert wait.share() == 0.0
