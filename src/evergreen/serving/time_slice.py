"""A process that works in the background asks Linux for a long time slice, so that the tasks it
runs beside take their core back from it as soon as they wake.

Linux's scheduler (EEVDF, 6.6 and later) lets a running task finish its slice before a task of
the same slice that wakes (0.7 ms times one plus the log2 of the number of cores: 1.4 ms on two).
The prediction log's child stores in bursts of a few milliseconds; a load generator or the gateway
woken on its core waited up to a slice for it, and those waits were a good part of the slowest
answers at one client (``benchmarks/RESULTS.md`` 8l). Since 6.12 a task may choose its slice
(``sched_setattr``'s ``sched_runtime``): a long one puts its deadline late, and a task with a
shorter slice that wakes runs first. It is not a lower priority: a task that gave way is owed
its time, and the scheduler pays it back in runs of a few milliseconds when it next wakes, so a
child with much to store (the log of 100-row requests: 14% of a core) still delays its
neighbours now and then. Other kernels ignore the field; other systems have no such call, and
nothing is done there.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct
import sys

log = logging.getLogger(__name__)

LONGEST_NS = 100_000_000  # the kernel's upper bound for a custom slice
# sched_setattr and sched_getattr, by machine (their numbers differ between architectures)
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}
# struct sched_attr, version 0: size, policy, flags, nice, priority, runtime, deadline, period
_ATTR = struct.Struct("IIQiIQQQ")
_SCHED_OTHER = 0


def ask_for_long_slice() -> bool:
    """Ask for the longest slice for every thread of this process (threads started afterwards
    inherit it from the thread that starts them), keeping each one's policy and nice value; True
    if the kernel took every request (it is honoured on Linux 6.12 and later). Threads started
    before the call count too: numpy's and pyarrow's pools start as they are imported."""
    calls = _syscalls()
    if calls is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    taken = True
    for tid in _threads():
        try:
            if os.sched_getscheduler(tid) != _SCHED_OTHER:  # a policy the operator chose: kept
                taken = False
                continue
            nice = os.getpriority(os.PRIO_PROCESS, tid)  # a thread's own on Linux
        except ProcessLookupError:  # the thread has ended
            continue
        attr = _ATTR.pack(_ATTR.size, _SCHED_OTHER, 0, nice, 0, LONGEST_NS, 0, 0)
        buffer = ctypes.create_string_buffer(attr, _ATTR.size)
        if libc.syscall(calls[0], tid, buffer, 0) != 0:
            log.debug("sched_setattr refused a long slice: %s", os.strerror(ctypes.get_errno()))
            taken = False
    return taken


def time_slice(tid: int = 0) -> int | None:
    """A thread's slice in nanoseconds, as ``sched_getattr`` reports it, or None where it
    cannot be read."""
    calls = _syscalls()
    if calls is None:
        return None
    buffer = ctypes.create_string_buffer(_ATTR.size)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(calls[1], tid, buffer, _ATTR.size, 0) != 0:
        return None
    runtime: int = _ATTR.unpack(buffer.raw)[5]
    return runtime


def _threads() -> list[int]:
    try:
        return sorted(int(tid) for tid in os.listdir("/proc/self/task"))
    except OSError:
        return [0]  # the calling thread


def _syscalls() -> tuple[int, int] | None:
    if not sys.platform.startswith("linux"):
        return None
    return _SYSCALLS.get(platform.machine())
