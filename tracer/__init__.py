"""Floor 2: recording runs to Arrow, checkpoints, and exact replay.

    import tracer
    run = tracer.record("race_counter", "runs/rc", cores=2, seed=3)   # -> RunDir
    run.events()          # all events, a pyarrow Table
    run.reader()          # a RecordBatchReader, part after part
    tracer.RunDir.open("runs/rc")
    tracer.replay("runs/rc", to=120, show=["counter"])  # -> ReplayState

Reading a run directory (RunDir, schema, errors) never imports the simulator, so the query floor
can use it; `record` and `replay` load it on first use.
"""

from .errors import Divergence, TraceError

__all__ = ["Divergence", "ReplayState", "RunDir", "TraceError", "record", "replay"]


def __getattr__(name: str):
    # loaded on first use: pyarrow (RunDir) and the simulator (record, replay) are what a command
    # that needs them pays for, not `import tracer.errors` (revtrace --help)
    if name == "RunDir":
        from .run_dir import RunDir
        return RunDir
    if name == "record":
        from .record_session import record
        return record
    if name in ("replay", "ReplayState"):
        from . import replay_session
        return getattr(replay_session, name)
    raise AttributeError(f"module 'tracer' has no attribute {name!r}")
