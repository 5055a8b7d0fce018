"""Reads answered in processes of their own, beside the daemon.

Why: a sweep's rules and its SQLite writes run on the daemon's interpreter, and Python runs
one thread of it at a time. Fifty staff reading in a loop on the daemon's own threads made a
sweep of 10,000 factories three times slower (issue 20); the sqlite3 driver gives the
interpreter up at every row, so each reader and the sweep queue behind one another hundreds
of times a request. A read needs nothing of the daemon but its database, so it is answered
by a small pool of worker processes (concurrent.futures, started with `spawn`: the daemon
has threads, which `fork` would copy half-way) that hold a runtime of the same config. The
workers run at the lowest CPU priority: when the machine is short, the jobs keep their
pace and readers wait their turn.

What the daemon alone knows (its staff sweeps, files it streams back) and everything that
writes stays on the daemon's threads (monitor/api/server.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from monitor.api.routes import Call, Caller, Operation, answer, error_reply, json_default, table
from monitor.errors import SfmError, one_line
from monitor.i18n import Message, using_language

if TYPE_CHECKING:
    from monitor.config import LoadedConfig
    from monitor.runtime import Runtime

log = structlog.get_logger("sfm.api")

# How much lower the workers' CPU priority is than the daemon's (nice(2) steps; 19 is the
# lowest there is). With 50 staff reading in a loop, a sweep of 10,000 factories took 1.14x
# its time alone with the workers at +10, 1.08x at +19; the readers' p95 stayed under 0.4 s.
NICENESS = 19
PR_SET_PDEATHSIG = 1  # prctl(2)

# the worker's own: built once when it starts
_runtime: Runtime | None = None
_operations: dict[tuple[str, str], Operation] = {}


def _start_worker(config: LoadedConfig, niceness: int, daemon: int) -> None:
    global _runtime
    from monitor.logs import configure_logging
    from monitor.runtime import Runtime

    _end_with(daemon)
    os.nice(niceness)
    configure_logging(config.settings.logging)
    _runtime = Runtime(config, beside_daemon=True)
    _operations.update(((op.method, op.pattern), op) for op in table() if op.reader)


def _end_with(daemon: int) -> None:
    """Stop when the daemon does, however it ends: a worker holds both ends of its queue's
    pipe, so a daemon killed outright (SIGKILL, out of memory) would leave it waiting
    forever. The kernel kills it when the daemon's thread that started it exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != daemon:  # it ended before the kernel was told
        os._exit(0)


def _warm() -> int:
    """Nothing, in a worker: the first request does not pay for its start."""
    assert _runtime is not None
    _runtime.engine  # noqa: B018 -- opened (and its schema checked) now, not on a request
    return os.getpid()


def _read(
    method: str,
    pattern: str,
    caller: Caller,
    args: dict[str, str],
    params: dict[str, str],
    language: str,
) -> tuple[int, bytes]:
    """One read, in a worker: its status and its JSON body, encoded here rather than on the
    daemon's interpreter."""
    assert _runtime is not None
    call = Call(runtime=_runtime, caller=caller, args=args, params=params)
    with using_language(language):
        status, result = answer(_operations[(method, pattern)], call)
    return status, json.dumps(result, ensure_ascii=False, default=json_default).encode()


def start_readers(config: LoadedConfig, processes: int) -> Readers | None:
    """The reading workers, or none: then the daemon answers reads on its own threads, as it
    does where worker processes cannot start (no POSIX semaphores in a confined service)."""
    if not processes:
        return None
    try:
        return Readers(config, processes)
    except OSError as error:
        log.error("reading workers could not start; the daemon answers reads", error=str(error))
        return None


class Readers:
    """The pool of reading workers. A worker that dies (killed, out of memory) breaks the
    pool, which is replaced by a new one."""

    def __init__(self, config: LoadedConfig, processes: int, niceness: int = NICENESS) -> None:
        self.config = config
        self.processes = processes
        self.niceness = niceness
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            # the environment the config was read with, as a plain mapping that pickles
            initargs=(
                replace(self.config, environ=dict(self.config.environ)),
                self.niceness,
                os.getpid(),
            ),
        )
        for _ in range(self.processes):
            pool.submit(_warm).add_done_callback(_report_start)
        return pool

    async def answer(self, operation: Operation, call: Call, language: str) -> tuple[int, bytes]:
        """The read answered by a worker. A read changes nothing, so one that a dying worker
        took down is asked once more of new workers before the caller hears of it."""
        arguments = (
            operation.method,
            operation.pattern,
            call.caller,
            dict(call.args),
            dict(call.params),
            language,
        )
        error = SfmError(Message("api.reader_died"))
        for attempt in (1, 2):
            pool = self.pool
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, _read, *arguments)
            except BrokenProcessPool:
                log.error(
                    "a reading worker died; starting new ones",
                    operation=operation.pattern,
                    attempt=attempt,
                )
                if self.pool is pool:  # not already replaced by another request
                    pool.shutdown(wait=False)
                    self.pool = self._new_pool()
            except Exception as exc:  # the request or its answer could not travel
                log.exception("a read could not be handed to a worker", operation=operation.pattern)
                error = SfmError(one_line(exc))
                break
        with using_language(language):
            status, data = error_reply(error, "unexpected")
        return status, json.dumps(data, ensure_ascii=False).encode()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _report_start(done: Any) -> None:
    try:
        log.info("reading worker ready", worker_pid=done.result())
    except Exception as error:  # its requests will say so too
        log.error("a reading worker could not start", error=str(error))
