"""Run per-shape work in child processes with a time and a memory limit.

A model that hangs, exhausts memory or crashes the interpreter (a segfault in a C extension)
costs only its own shape: the child is killed and the shape gets a reason. Children are forked,
so they start in milliseconds with everything the parent imported.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import resource
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator


@dataclass
class Outcome:
    item: Any
    value: Any = None
    error: str = ""  # empty when the call succeeded

    @property
    def ok(self) -> bool:
        return not self.error


def _child(fn, item, conn, memory_mb):
    import faulthandler

    faulthandler.disable()  # a crash is reported to the parent; no traceback dump from the child
    if memory_mb:
        # a cap on growth, not on size: a parent that loaded CUDA already reserves many GB of
        # address space, and an absolute cap would fail every child at its first allocation
        with open("/proc/self/statm") as fh:
            current = int(fh.read().split()[0]) * resource.getpagesize()
        limit = current + int(memory_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        payload = ("ok", fn(item))
    except MemoryError:
        payload = ("error", f"ran out of memory (limit {memory_mb:.0f} MB)")
    except BaseException as exc:  # report anything, never hang the parent
        payload = ("error", traceback.format_exception_only(type(exc), exc)[-1].strip())
    try:
        conn.send_bytes(pickle.dumps(payload))
    finally:
        conn.close()
        os._exit(0)


def map_isolated(fn: Callable, items: Iterable, *, workers: int = 1, timeout_s: float = 300.0,
                 memory_mb: float | None = None) -> Iterator[Outcome]:
    """Yield an :class:`Outcome` per item, in completion order, running ``workers`` at a time."""
    ctx = mp.get_context("fork")
    queue = list(items)[::-1]
    running: dict = {}  # conn -> (process, item, start)
    while queue or running:
        while queue and len(running) < max(1, workers):
            item = queue.pop()
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(fn, item, send, memory_mb), daemon=True)
            p.start()
            send.close()
            running[recv] = (p, item, time.monotonic())
        ready = mp.connection.wait(list(running), timeout=0.5)
        for conn in ready:
            p, item, _ = running.pop(conn)
            try:
                status, value = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                p.join()
                yield Outcome(item, error=_died(p.exitcode, memory_mb))
                continue
            finally:
                conn.close()
            p.join()
            yield Outcome(item, value) if status == "ok" else Outcome(item, error=value)
        now = time.monotonic()
        for conn, (p, item, start) in list(running.items()):
            if now - start > timeout_s:
                p.kill()
                p.join()
                conn.close()
                del running[conn]
                yield Outcome(item, error=f"timed out after {timeout_s:.0f} s")


def _died(exitcode: int | None, memory_mb: float | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = f" (memory limit {memory_mb:.0f} MB)" if name in ("SIGKILL", "SIGSEGV", "SIGABRT") and memory_mb else ""
        return f"worker process died with {name}{hint}"
    return f"worker process exited with code {exitcode} without a result"
