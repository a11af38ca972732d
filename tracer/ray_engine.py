"""Runs as Ray tasks (`--engine ray`): the same tasks as the process pool, on a Ray cluster.

Ray is an optional dependency (`pip install -e '.[ray]'`). With `address` None a local Ray
instance is started (and kept for the rest of the process, as Ray does); otherwise
`ray.init(address=...)` joins an existing cluster (`auto`, or `ray://head:10001`). Each task is
one remote call of the same module-level function the process pool calls, so its result is the
same; results are reported as they finish. A task that raised is reported as its exception; a
worker that died as WorkerCrashed. Files a task writes (a sweep's --keep recordings) land on the
worker's machine: give --keep a path every worker can reach.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import TraceError

_remote_cache: dict[Callable, object] = {}


def _ray():
    try:
        import ray
    except ImportError:
        raise TraceError("--engine ray needs Ray: pip install -e '.[ray]' (or pip install ray)") from None
    return ray


def ensure_ray(address: str | None, jobs: int):
    """Connect to (or start) Ray once per process."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as e:  # connection refused, bad address, ...: one line
            raise TraceError(f"cannot start or join Ray{'' if address is None else ' at ' + address}: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return ray


def run_ray_tasks(fn: Callable, tasks: Sequence[tuple], done: Callable[[int, object], None], *,
                  jobs: int = 2, address: str | None = None) -> None:
    from .task_engine import WorkerCrashed

    ray = ensure_ray(address, jobs)
    remote = _remote_cache.get(fn)
    if remote is None:
        remote = _remote_cache[fn] = ray.remote(num_cpus=1, max_retries=0)(fn)
    refs = {remote.remote(*args): i for i, args in enumerate(tasks)}
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            i = refs[ref]
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the task raised: report its own exception
                cause = e.as_instanceof_cause()
                result = getattr(e, "cause", None) or cause
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayError) as e:
                result = WorkerCrashed(f"the Ray worker died ({type(e).__name__})")
            done(i, result)
