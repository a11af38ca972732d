"""Floor 2: recording runs to Arrow, checkpoints, and exact replay.

    import tracer
    run = tracer.record("race_counter", "runs/rc", cores=2, seed=3)   # -> RunDir
    run.events()          # all events, a pyarrow Table
    run.reader()          # a RecordBatchReader, part after part
    tracer.RunDir.open("runs/rc")
    tracer.replay("runs/rc", to=120, show=["counter"])  # -> ReplayState
"""

from .errors import Divergence, TraceError
from .record_session import record
from .replay_session import ReplayState, replay
from .run_dir import RunDir

__all__ = ["record", "replay", "RunDir", "ReplayState", "TraceError", "Divergence"]
