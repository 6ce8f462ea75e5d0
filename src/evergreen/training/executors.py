"""Executors: where trial functions run — in the calling process, in a local process pool, or on
Ray.

An executor runs picklable calls, each with its own timeout, and hands back outcomes as they
finish::

    with make_executor("process", workers=2) as ex:
        frame = ex.share(big_frame)          # sent once per worker, not once per task
        ids = [ex.submit(work, frame, i, timeout=60) for i in range(8)]
        for task_id, outcome in ex.as_completed():
            ...                              # outcome.status: ok | error | timeout | died

Tasks submitted while iterating :meth:`Executor.as_completed` are waited for too, so a driver
can keep ``ex.workers`` tasks in flight. Calls travel with cloudpickle, so a lambda defined in a
project file loaded with ``runpy`` runs in a worker (by value); a task calls ``shared.get()`` to
read a shared value, which each worker loads once and caches.

- ``inline``: runs each task in the calling process when :meth:`~Executor.as_completed` reaches
  it, in submission order; it cannot stop a task, so timeouts are not enforced.
- ``process`` (the default): a Pebble process pool. Workers are forked from a forkserver that
  imported numpy, pandas, scikit-learn and the search once (``fork`` from the threaded driver
  is unsafe; ``spawn`` would import them again in every worker, also after a kill); each worker
  runs numerical libraries on one thread. The forkserver is one per process and starts with
  the first pool (about 2.5-4 s on a shared 2-core machine, once; later pools start in ~0.05 s);
  modules it did not import are imported by each worker on its first task, within that task's
  timeout. A task past its timeout is killed with its worker (Pebble forks another at once); a
  worker that dies (``os._exit``, a segfault) is reported as such. Shared values are written
  once to a temporary file that each worker reads on first use and keeps.
- ``ray`` / ``ray://host:port``: ``ray.init()`` joins the local instance started by
  ``ray start`` (or ``RAY_ADDRESS``), else starts one, which :meth:`~Executor.close` shuts down;
  an address joins that cluster (its workers need evergreen installed). Shared values go to the
  object store once (``ray.put``); a task past its timeout is cancelled with ``force=True``,
  which kills its worker. The timeout counts from submission (a driver keeps at most
  ``workers`` tasks in flight, so they start at once; imports are warmed up first).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import itertools
import logging
import os
import re
import shutil
import tempfile
import time
import traceback
import uuid
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import cloudpickle
from pebble import ProcessExpired, ProcessPool

from evergreen.errors import InvalidInput, Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
Status = Literal["ok", "error", "timeout", "died"]

EXECUTORS = ("inline", "process", "ray", "ray://host:port")
JOIN_ATTEMPTS = 3  # connecting to a ray:// cluster, see RayExecutor._join
# Imported once by the forkserver (so that forked workers start warm) and by each Ray worker.
PRELOAD = (
    "numpy",
    "pandas",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "evergreen.training.search",
)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_CACHE_SIZE = 4  # shared values a worker keeps


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``value`` when ``ok``; else ``error`` says why (for an exception:
    ``"TypeError: message (file.py:12)"``, with the full ``traceback``)."""

    status: Status
    value: Any = None
    error: str = ""
    traceback: str = ""
    seconds: float = 0.0


def describe_error(exc: BaseException) -> str:
    """``"TypeError: message (file.py:12)"``: the exception and where it was raised (code
    that travelled by value has lost its file name: ``"(in <lambda>, line 12)"``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return f"{type(exc).__name__}: {exc}"
    last = frames[-1]
    if last.filename.startswith("<"):
        return f"{type(exc).__name__}: {exc} (in {last.name}, line {last.lineno})"
    return f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _invoke(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Status, Any, str, str]:
    """Runs in the worker: the call's value, or its exception described (exceptions need not be
    picklable)."""
    try:
        return "ok", fn(*args), "", ""
    except Exception as exc:
        return "error", None, describe_error(exc), traceback.format_exc()


class Shared(ABC, Generic[T]):
    """A value sent to the workers once (see :meth:`Executor.share`); a task calls ``get()``."""

    def __init__(self) -> None:
        self.key = uuid.uuid4().hex

    def get(self) -> T:
        cached = _SHARED.get(self.key, _MISSING)
        if cached is _MISSING:
            cached = self._load()
            _SHARED[self.key] = cached
            while len(_SHARED) > _CACHE_SIZE:
                _SHARED.popitem(last=False)
        else:
            _SHARED.move_to_end(self.key)
        value: T = cached
        return value

    @abstractmethod
    def _load(self) -> T: ...


_MISSING = object()
_SHARED: OrderedDict[str, Any] = OrderedDict()  # per worker process: key -> value


class _InProcess(Shared[T]):
    def __init__(self, value: T) -> None:
        super().__init__()
        self._value = value

    def get(self) -> T:  # the caller's own object: no copy, no cache
        return self._value

    def _load(self) -> T:
        return self._value


class _InFile(Shared[T]):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> T:
        with open(self.path, "rb") as f:
            value: T = cloudpickle.load(f)
        return value


class Executor(ABC):
    """Runs picklable calls with a per-task timeout; see the module's documentation."""

    name: str
    workers: int

    def __init__(self) -> None:
        self._ids = itertools.count()

    @abstractmethod
    def share(self, value: T) -> Shared[T]:
        """A handle to ``value`` for tasks: sent to each worker at most once."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any, timeout: float | None = None) -> int:
        """Schedules ``fn(*args)``; returns the task's id (see :meth:`as_completed`)."""

    @abstractmethod
    def as_completed(self) -> Iterator[tuple[int, Outcome]]:
        """``(task id, outcome)`` of every submitted task, as each finishes, including those
        submitted while iterating; ends when none is left."""

    @property
    @abstractmethod
    def pending(self) -> int:
        """Tasks submitted and not yet handed back by :meth:`as_completed`."""

    @abstractmethod
    def close(self) -> None:
        """Stops the workers (running tasks are killed) and frees shared values."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} workers={self.workers}>"


class InlineExecutor(Executor):
    """Runs tasks one at a time in the calling process; timeouts are not enforced (a task that
    hangs hangs the caller)."""

    name = "inline"

    def __init__(self) -> None:
        super().__init__()
        self.workers = 1
        self._queue: list[tuple[int, Callable[..., Any], tuple[Any, ...]]] = []

    def share(self, value: T) -> Shared[T]:
        return _InProcess(value)

    def submit(self, fn: Callable[..., Any], /, *args: Any, timeout: float | None = None) -> int:
        task_id = next(self._ids)
        self._queue.append((task_id, fn, args))
        return task_id

    def as_completed(self) -> Iterator[tuple[int, Outcome]]:
        while self._queue:
            task_id, fn, args = self._queue.pop(0)
            started = time.perf_counter()
            status, value, error, trace = _invoke(fn, args)
            yield task_id, Outcome(status, value, error, trace, time.perf_counter() - started)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _limit_threads(threads: int) -> None:
    """In a worker: numerical libraries use ``threads`` threads — those loaded later through the
    environment, those already loaded (by the forkserver) through threadpoolctl."""
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(threads)


def _call_pickled(blob: bytes, marker: str) -> bytes:
    """Runs in a pool worker: the call travels and returns with cloudpickle. The worker's pid
    goes to ``marker`` first, so that the driver can tell a task whose worker died even when
    Pebble loses track of it (a worker dying before the pool saw it take the task)."""
    Path(marker).write_text(str(os.getpid()))
    fn, args = cloudpickle.loads(blob)
    result: bytes = cloudpickle.dumps(_invoke(fn, args))
    return result


@dataclass
class _PoolTask:
    id: int
    blob: bytes
    timeout: float | None
    marker: Path
    submitted: float
    dead_since: float | None = None  # when its worker was first seen gone without an outcome


_GRACE = 1.0  # seconds Pebble gets to report a dead worker before the executor does


class ProcessExecutor(Executor):
    """A local Pebble process pool of ``workers`` processes (default: the machine's cores)."""

    name = "process"

    def __init__(
        self, workers: int | None = None, *, threads: int = 1, preload: Sequence[str] = PRELOAD
    ) -> None:
        import multiprocessing

        super().__init__()
        self.workers = workers or _cores()
        self._threads = threads
        self._context = multiprocessing.get_context("forkserver")
        # Applies when this process starts its forkserver (the first pool does).
        self._context.set_forkserver_preload(["__main__", *preload])
        self._folder = Path(tempfile.mkdtemp(prefix="evergreen-executor-"))
        self._futures: dict[concurrent.futures.Future[bytes], _PoolTask] = {}
        self._pool = self._start()

    def _start(self) -> ProcessPool:
        pool = ProcessPool(
            self.workers,
            initializer=_limit_threads,
            initargs=(self._threads,),
            context=self._context,
        )
        pool.active  # noqa: B018 - starts the workers now, not on the first task
        return pool

    def share(self, value: T) -> Shared[T]:
        handle: _InFile[T] = _InFile(str(self._folder / f"shared-{uuid.uuid4().hex}"))
        with open(handle.path, "wb") as f:
            cloudpickle.dump(value, f, protocol=5)
        return handle

    def submit(self, fn: Callable[..., Any], /, *args: Any, timeout: float | None = None) -> int:
        task_id = next(self._ids)
        blob = cloudpickle.dumps((fn, args))
        marker = self._folder / f"task-{task_id}.pid"
        self._schedule(_PoolTask(task_id, blob, timeout, marker, time.perf_counter()))
        return task_id

    def _schedule(self, task: _PoolTask) -> None:
        future = self._pool.schedule(
            _call_pickled, (task.blob, str(task.marker)), timeout=task.timeout
        )
        self._futures[future] = task

    def as_completed(self) -> Iterator[tuple[int, Outcome]]:
        while self._futures:
            done, _ = concurrent.futures.wait(
                list(self._futures),
                timeout=_GRACE,
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                yield from self._recover()
                continue
            for future in sorted(done, key=lambda f: self._futures[f].id):
                task = self._futures.pop(future)
                yield task.id, self._outcome(future, task)
            for future, task in list(self._futures.items()):
                if not future.done() and self._lost(task):
                    del self._futures[future]
                    yield task.id, self._dead(task)

    def _outcome(self, future: concurrent.futures.Future[bytes], task: _PoolTask) -> Outcome:
        seconds = time.perf_counter() - task.submitted
        task.marker.unlink(missing_ok=True)
        try:
            status, value, error, trace = cloudpickle.loads(future.result())
        except TimeoutError as exc:
            status, value, trace = "timeout", None, ""
            error = f"timed out after {exc.args[1]:g} s; its worker was killed"
        except ProcessExpired as exc:
            status, value, trace = "died", None, ""
            error = f"worker died (pid {exc.pid}, exit code {exc.exitcode})"
        except Exception as exc:  # the pool could not send the task or its result
            status, value, error = "error", None, describe_error(exc)
            trace = str(getattr(exc, "traceback", ""))
        return Outcome(status, value, error, trace, seconds)

    def _recover(self) -> Iterator[tuple[int, Outcome]]:
        """Pebble gives up its pool when a worker dies before the pool saw it take its task:
        every task still in the pool fails with ``BrokenProcessPool``. Tasks whose worker is
        gone are reported dead; the others (not started, or running on a live worker) are sent
        again to a new pool; results that had arrived are kept."""
        ended = {f: t for f, t in self._futures.items() if f.done() and f.exception() is None}
        lost = [t for f, t in self._futures.items() if f not in ended]
        gone = {t.id: _worker_gone(t.marker) for t in lost}  # before the workers are stopped
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join()
        self._pool = self._start()
        self._futures = ended
        for task in sorted(lost, key=lambda t: t.id):
            if gone[task.id] is not None:
                yield task.id, self._dead(task)
            else:
                task.marker.unlink(missing_ok=True)
                self._schedule(task)

    def _lost(self, task: _PoolTask) -> bool:
        """Whether the task's worker is gone and Pebble has not reported it within a grace."""
        if _worker_gone(task.marker) is None:
            return False
        now = time.perf_counter()
        if task.dead_since is None:
            task.dead_since = now
        return now - task.dead_since > _GRACE

    def _dead(self, task: _PoolTask) -> Outcome:
        seconds = time.perf_counter() - task.submitted
        if task.timeout is not None and seconds > task.timeout:
            error = f"timed out after {task.timeout:g} s; its worker was killed"
            return Outcome("timeout", error=error, seconds=seconds)
        return Outcome(
            "died", error=f"worker died (pid {_worker_gone(task.marker)})", seconds=seconds
        )

    @property
    def pending(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join()
        self._futures.clear()
        shutil.rmtree(self._folder, ignore_errors=True)


def _worker_gone(marker: Path) -> int | None:
    """The pid of the worker that took the task, if that process has exited; else None."""
    try:
        pid = int(marker.read_text())
    except (FileNotFoundError, ValueError):
        return None  # not taken yet (or the pid is being written)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    except PermissionError:
        return None
    return None


class _InRay(Shared[T]):
    def __init__(self, ref: Any) -> None:
        super().__init__()
        self.ref = ref

    def _load(self) -> T:
        import ray

        value: T = ray.get(self.ref)
        return value


_ray_threads_limited = False


def _ray_call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Status, Any, str, str]:
    global _ray_threads_limited
    if not _ray_threads_limited:
        _limit_threads(1)
        _ray_threads_limited = True
    return _invoke(fn, args)


def _warm_up(modules: Sequence[str]) -> None:
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    time.sleep(0.2)  # long enough for the other warm-up tasks to land on other workers


class RayExecutor(Executor):
    """Trials on Ray: ``address`` None starts or joins a local instance; ``ray://host:port``
    (or a ``host:port``) joins a cluster."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        preload: Sequence[str] = PRELOAD,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise Unavailable("the ray executor needs Ray: pip install 'evergreen[ray]'") from None
        super().__init__()
        self.name = address or "ray"
        self._ray = ray
        self.started = False  # whether this executor started the instance (close() stops it)
        self._connected = False  # whether close() disconnects this process
        if not ray.is_initialized():
            self._init(address, workers)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
        self._remote = ray.remote(_ray_call).options(num_cpus=1, max_retries=0)
        self._refs: dict[Any, tuple[int, float, float | None]] = {}
        ray.get([ray.remote(_warm_up).remote(preload) for _ in range(self.workers)])

    def _init(self, address: str | None, workers: int | None) -> None:
        options: dict[str, Any] = {
            "include_dashboard": False,
            # Ray warns on stderr when it connects from a thread other than the main one
            # (pipeline steps run in threads) and when a client times out; evergreen reports
            # what matters itself, as one line.
            "logging_level": logging.ERROR,
            "log_to_driver": False,
        }
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if address is None:
                    try:  # start a local instance unless `ray start` (or RAY_ADDRESS) made one
                        self._ray.init(num_cpus=workers or _cores(), **options)
                        self.started = True
                    except ValueError as exc:
                        if "existing cluster" not in str(exc):
                            raise
                        self._ray.init(**options)
                else:
                    self._join(address, options)
        except ConnectionError as exc:
            raise Unavailable(
                f"cannot reach the Ray cluster at {address!r}: {exc} (is its Ray Client server "
                "up, and RAY_AUTH_TOKEN set when the cluster uses token authentication?)"
            ) from exc
        self._connected = True

    def _join(self, address: str, options: dict[str, Any]) -> None:
        """Connect to a cluster. The Ray Client server sometimes fails to start the server a
        new client needs ("Initialization failure from server") and succeeds at a second try;
        that, and only that, is retried."""
        for attempt in range(JOIN_ATTEMPTS):
            try:
                self._ray.init(address=address, **options)
                return
            except ConnectionError as exc:
                if "Initialization failure" not in str(exc) or attempt == JOIN_ATTEMPTS - 1:
                    raise
                log.warning("the Ray cluster at %s refused a client (%s); retrying", address, exc)
                time.sleep(2.0 * (attempt + 1))

    def share(self, value: T) -> Shared[T]:
        return _InRay(self._ray.put(value))

    def submit(self, fn: Callable[..., Any], /, *args: Any, timeout: float | None = None) -> int:
        task_id = next(self._ids)
        ref = self._remote.remote(fn, args)
        self._refs[ref] = (task_id, time.perf_counter(), timeout)
        return task_id

    def as_completed(self) -> Iterator[tuple[int, Outcome]]:
        ray = self._ray
        while self._refs:
            now = time.perf_counter()
            deadlines = [started + t for _, started, t in self._refs.values() if t]
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=wait)
            now = time.perf_counter()
            for ref in ready:
                task_id, started, _ = self._refs.pop(ref)
                yield task_id, self._outcome(ref, now - started)
            for ref, (task_id, started, timeout) in list(self._refs.items()):
                if timeout and now - started > timeout and ref not in ready:
                    ray.cancel(ref, force=True)
                    del self._refs[ref]
                    error = f"timed out after {timeout:g} s; its worker was killed"
                    yield task_id, Outcome("timeout", error=error, seconds=now - started)

    def _outcome(self, ref: Any, seconds: float) -> Outcome:
        exceptions = self._ray.exceptions
        try:
            status, value, error, trace = self._ray.get(ref)
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError) as exc:
            return Outcome("died", error=f"worker died: {exc}", seconds=seconds)
        except exceptions.RayError as exc:  # the last line names the cause; drop colours
            cause = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]
            return Outcome("error", error=f"Ray could not run the task: {cause}", seconds=seconds)
        return Outcome(status, value, error, trace, seconds)

    @property
    def pending(self) -> int:
        return len(self._refs)

    def close(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._connected:
            self._ray.shutdown()  # stops an instance this executor started; else disconnects
            self._connected = False


def make_executor(name: str | None = None, workers: int | None = None) -> Executor:
    """``inline``, ``process`` (the default: ``None``), ``ray`` or ``ray://host:port``."""
    if workers is not None and workers < 1:
        raise InvalidInput(f"workers must be at least 1, not {workers}")
    name = name or "process"
    if name == "inline":
        return InlineExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(None, workers)
    if name.startswith("ray://"):
        return RayExecutor(name, workers)
    raise InvalidInput(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
