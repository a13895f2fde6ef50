"""The background worker that counts tokens for calls whose provider reported none.

Counting (tiktoken) costs tens of microseconds per thousand tokens, so it runs here, after the user's
call has returned; the span is ended by the worker with the end time taken on the caller's thread.
The queue is bounded: when it is full the span ends at once without counts, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable

from llmtrace._safety import internal_error

_MAX_PENDING = 10_000
_jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=_MAX_PENDING)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _run() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception:
            with contextlib.suppress(Exception):  # test mode re-raises; the worker must survive it
                internal_error("token counting")
        finally:
            _jobs.task_done()


def submit(job: Callable[[], None]) -> bool:
    """Queue `job`; False when the queue is full (the caller then finishes without counts)."""
    global _thread
    if _thread is None or not _thread.is_alive():
        with _lock:
            if _thread is None or not _thread.is_alive():
                _thread = threading.Thread(target=_run, name="llmtrace-tokens", daemon=True)
                _thread.start()
    try:
        _jobs.put_nowait(job)
    except queue.Full:
        return False
    return True


def drain(timeout: float = 5.0) -> bool:
    """Wait until every queued count is done (for flushes, shutdown and tests); False on timeout."""
    deadline = time.monotonic() + timeout
    with _jobs.all_tasks_done:
        while _jobs.unfinished_tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _jobs.all_tasks_done.wait(remaining)
    return True


def _after_fork() -> None:
    # The worker thread does not survive fork(); the child starts its own on first use.
    global _thread, _jobs
    _thread = None
    _jobs = queue.Queue(maxsize=_MAX_PENDING)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
