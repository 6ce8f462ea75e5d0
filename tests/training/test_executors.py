"""Executors: one contract over inline, the process pool and Ray; timeouts and dead workers where
an executor can stop a task."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import pytest
import ray.cloudpickle as ray_cloudpickle

from evergreen.errors import InvalidInput, Unavailable
from evergreen.training.executors import Executor, Shared, make_executor

# The tasks below travel by value (also with Ray's own copy of cloudpickle): workers need not
# import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])


def total(shared: Shared[list[int]], extra: int) -> tuple[int, int]:
    return sum(shared.get()) + extra, os.getpid()


def boom() -> None:
    raise TypeError("not a number")


def hang(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(60)


def die() -> None:
    os._exit(1)


def segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(10)


def gone(pid: int, wait: float = 5.0) -> bool:
    """Whether process ``pid`` has exited (within ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_values_shared_inputs_and_errors(executor: Executor) -> None:
    data = executor.share(list(range(100)))
    ids = [executor.submit(total, data, i, timeout=30) for i in range(4)]
    failing = executor.submit(boom)
    assert executor.pending == 5
    outcomes = dict(executor.as_completed())
    assert executor.pending == 0
    assert sorted(outcomes) == [*ids, failing]
    assert [outcomes[i].value[0] for i in ids] == [4950, 4951, 4952, 4953]
    assert all(outcomes[i].status == "ok" and outcomes[i].seconds >= 0 for i in ids)
    error = outcomes[failing]
    assert error.status == "error"
    # code sent by value with cloudpickle loses its file name (Ray's copy keeps it)
    where = r"\((test_executors\.py:\d+|in boom, line \d+)\)"
    assert re.fullmatch(rf"TypeError: not a number {where}", error.error)
    assert "Traceback" in error.traceback
    assert executor.workers == (1 if executor.name == "inline" else 2)


def test_tasks_submitted_while_iterating_are_waited_for(executor: Executor) -> None:
    data = executor.share([1, 2])
    executor.submit(total, data, 0)
    seen = []
    for _, outcome in executor.as_completed():
        seen.append(outcome.value[0])
        if len(seen) < 3:
            executor.submit(total, data, len(seen))
    assert seen == [3, 4, 5]


@pytest.mark.parametrize("executor", ["process", "ray"], indirect=True)
def test_a_hung_task_is_killed_at_its_timeout_and_others_finish(
    executor: Executor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    data = executor.share([1])
    hung = executor.submit(hang, str(pid_file), timeout=1.5)
    others = [executor.submit(total, data, i, timeout=30) for i in range(3)]
    started = time.monotonic()
    outcomes = dict(executor.as_completed())
    assert time.monotonic() - started < 20
    assert outcomes[hung].status == "timeout"
    assert outcomes[hung].error == "timed out after 1.5 s; its worker was killed"
    assert gone(int(pid_file.read_text()))
    assert [outcomes[i].status for i in others] == ["ok"] * 3
    after = executor.submit(total, data, 0)  # the pool goes on with a new worker
    assert dict(executor.as_completed())[after].value[0] == 1


@pytest.mark.parametrize("how", [die, segfault], ids=["exit", "segfault"])
@pytest.mark.parametrize("executor", ["process", "ray"], indirect=True)
def test_a_worker_that_dies_is_reported(executor: Executor, how: Callable[[], None]) -> None:
    data = executor.share([1])
    dead = executor.submit(how)
    fine = executor.submit(total, data, 1)
    outcomes = dict(executor.as_completed())
    assert outcomes[dead].status == "died"
    assert outcomes[dead].error.startswith("worker died")
    assert outcomes[fine].status == "ok"


def test_inline_runs_in_the_calling_process_in_order() -> None:
    with make_executor("inline") as ex:
        data = ex.share([5])
        for i in range(3):
            ex.submit(total, data, i, timeout=0.001)  # not enforced inline
        outcomes = list(ex.as_completed())
    assert [(i, o.value) for i, o in outcomes] == [
        (0, (5, os.getpid())),
        (1, (6, os.getpid())),
        (2, (7, os.getpid())),
    ]


def test_unknown_executor_names_the_choices() -> None:
    with pytest.raises(
        InvalidInput, match=r"unknown executor 'dask'; choose one of: inline, process"
    ):
        make_executor("dask")
    with pytest.raises(InvalidInput, match="workers must be at least 1"):
        make_executor("inline", workers=0)


def test_default_is_a_process_pool_of_the_machines_cores() -> None:
    with make_executor(None) as ex:
        assert ex.name == "process"
        assert ex.workers == len(os.sched_getaffinity(0))


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    with pytest.raises(Unavailable, match=r"pip install 'evergreen\[ray\]'"):
        make_executor("ray")


def test_ray_joins_a_running_instance_without_shutting_it_down(ray_instance: object) -> None:
    import ray

    with make_executor("ray", workers=2) as ex:
        assert not ex.started
        ex.submit(total, ex.share([2]), 0)
        assert [o.value[0] for _, o in ex.as_completed()] == [2]
    assert ray.is_initialized()


def test_a_worker_dying_before_the_pool_saw_it_take_its_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pebble learns that a worker took a task from a message; when the worker dies before the
    # pool read that message, Pebble loses the task (or gives up the whole pool). A loaded
    # machine makes that window real; lagging the pool's message thread makes it certain.
    from pebble.pool.process import PoolManager

    read = PoolManager.process_next_message

    def lagging(self: PoolManager, timeout: float) -> None:
        time.sleep(0.3)
        read(self, timeout)

    monkeypatch.setattr(PoolManager, "process_next_message", lagging)
    with make_executor("process", workers=2) as ex:
        data = ex.share([1])
        dead = ex.submit(die, timeout=20)
        fine = [ex.submit(total, data, i, timeout=20) for i in range(2)]
        outcomes = dict(ex.as_completed())
    assert outcomes[dead].status == "died"
    assert [outcomes[i].status for i in fine] == ["ok", "ok"]
    assert [outcomes[i].value[0] for i in fine] == [1, 2]
