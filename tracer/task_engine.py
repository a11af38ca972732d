"""Where a sweep's or a hunt's runs execute: a local process pool, or a Ray cluster.

Both engines take a picklable function and a list of argument tuples and call `done(i, result)`
for each finished task, in completion order; a task that raised is reported as an exception
object in place of its result. Results do not depend on the engine: every task is a
deterministic function of its arguments (scenario, options, seed or schedule), so the caller
sorts them and a sweep on Ray reports exactly what the process pool reports.

    process   fork-based ProcessPoolExecutor with `jobs` workers (the default). A worker that
              dies takes the pool down: its unfinished tasks are then re-run one per pool to find
              which one crashes, and that one is reported as crashed.
    ray       each task a Ray remote function (tracer.ray_engine); `address` joins an existing
              cluster (`ray://host:10001` or `auto`), None starts a local Ray instance.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .errors import TraceError

ENGINES = ("process", "ray")


class WorkerCrashed(Exception):
    """The worker process running a task died (killed, or a crash in the interpreter)."""


def check_engine(engine: str, address: str | None, jobs: int) -> None:
    if engine not in ENGINES:
        raise TraceError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if address is not None and engine != "ray":
        raise TraceError("--address applies to --engine ray")
    if jobs < 1:
        raise TraceError(f"-j must be at least 1, got {jobs}")


def run_tasks(fn: Callable, tasks: Sequence[tuple], done: Callable[[int, object], None], *,
              engine: str = "process", jobs: int = 2, address: str | None = None) -> None:
    """Run all tasks once on a fresh engine (see TaskEngine to run several rounds on one)."""
    with TaskEngine(engine, jobs, address) as e:
        e.run(fn, tasks, done)


class TaskEngine:
    """An engine kept open across rounds of tasks (a hunt runs batch after batch): the process
    pool's workers, or the Ray connection, are set up once."""

    def __init__(self, engine: str = "process", jobs: int = 2, address: str | None = None):
        check_engine(engine, address, jobs)
        self.engine, self.jobs, self.address = engine, jobs, address
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TaskEngine:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def run(self, fn: Callable, tasks: Sequence[tuple], done: Callable[[int, object], None]) -> None:
        if not tasks:
            return
        if self.engine == "ray":
            from .ray_engine import run_ray_tasks

            run_ray_tasks(fn, tasks, done, jobs=self.jobs, address=self.address)
            return
        ctx = multiprocessing.get_context("fork")
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=min(self.jobs, max(len(tasks), 1)), mp_context=ctx)
        unfinished = _run_in(self.pool, fn, list(enumerate(tasks)), done)
        if unfinished:  # a worker died and took the pool down: run each alone to find who crashes
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
            for i in unfinished:
                with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as alone:
                    if _run_in(alone, fn, [(i, tasks[i])], done):
                        done(i, WorkerCrashed("the worker process died"))


def _run_in(pool: ProcessPoolExecutor, fn: Callable, items: list[tuple[int, tuple]], done) -> list[int]:
    """Run the tasks in the pool; returns those left unfinished if the pool broke."""
    unfinished = []
    futures = {pool.submit(fn, *args): i for i, args in items}
    remaining = set(futures)
    while remaining:
        finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
        for fut in finished:
            i = futures[fut]
            try:
                result = fut.result()
            except BrokenProcessPool:
                unfinished.append(i)
                continue
            except Exception as e:  # the task raised: the caller reports it with its seed
                result = e
            done(i, result)
    return sorted(unfinished)
