"""Snapshots of the whole system taken while recording, and the index that finds the nearest one.

A checkpoint holds the simulator's snapshot and the recorder's state (next seq, vector clocks), so
replay can re-execute from it and check clocks as well as accesses. Checkpoints are taken at
scheduling decisions, never inside a burst, so running on from one continues the recorded run.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from sim import snapshot_codec

from .errors import TraceError

INDEX_FILE = "index.parquet"
# The index is rewritten (a Parquet file of every checkpoint so far) at the first checkpoint, then
# every INDEX_EVERY checkpoints and when the recording closes: a recording killed in between has
# its last checkpoints indexed from their files (load_index), at most INDEX_EVERY - 1 of them.
INDEX_EVERY = 16


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # events recorded before it: the next event's seq
    cycle: int
    instructions: int
    file: str


class CheckpointWriter:
    def __init__(self, run_path: Path):
        self.folder = run_path / schema.CHECKPOINTS_DIR
        self.folder.mkdir(exist_ok=True)
        self.entries: list[Checkpoint] = []
        self.indexed = -1  # entries in the index file (none written yet)

    def write(self, seq: int, cycle: int, instructions: int, snapshot: bytes, hb_state: tuple) -> None:
        """A checkpoint before event `seq`: the system's snapshot (System.snapshot) and the vector
        clocks after every event before it."""
        name = f"ckpt-{len(self.entries):05d}.bin"
        blob = snapshot_codec.encode({"system": snapshot, "recorder": (seq, hb_state), "cycle": cycle,
                                      "instructions": instructions})
        tmp = self.folder / (name + ".tmp")
        try:
            tmp.write_bytes(blob)
            os.replace(tmp, self.folder / name)
        except OSError as e:
            raise TraceError(f"cannot write checkpoint: {e.strerror or e}", str(self.folder / name)) from None
        self.entries.append(Checkpoint(seq, cycle, instructions, name))
        if len(self.entries) - max(self.indexed, 0) >= INDEX_EVERY or self.indexed < 0:
            self.close()

    def close(self) -> None:
        """Write the index, if it lacks a checkpoint (see INDEX_EVERY: a recording killed before
        the index has its last checkpoints is indexed from the files themselves, load_index)."""
        if self.indexed == len(self.entries):
            return
        cols = {f: [getattr(c, f) for c in self.entries] for f in ("seq", "cycle", "instructions", "file")}
        tmp = self.folder / (INDEX_FILE + ".tmp")
        try:
            pq.write_table(pa.table(cols, schema=schema.CHECKPOINTS), tmp)
            os.replace(tmp, self.folder / INDEX_FILE)
        except OSError as e:
            raise TraceError(f"cannot write checkpoint index: {e.strerror or e}", str(self.folder)) from None
        self.indexed = len(self.entries)


def load_index(run_path: Path) -> list[Checkpoint]:
    folder = run_path / schema.CHECKPOINTS_DIR
    path = folder / INDEX_FILE
    if not path.is_file():
        raise TraceError("the run has no checkpoints (checkpoints/index.parquet missing)", str(run_path))
    try:
        table = pq.read_table(path).to_pylist()
        index = [Checkpoint(r["seq"], r["cycle"], r["instructions"], r["file"]) for r in table]
    except (OSError, KeyError, pa.ArrowException) as e:
        raise TraceError(f"unreadable checkpoint index: {str(e).splitlines()[0] if str(e) else e!r}",
                         str(path)) from None
    files = sorted(p.name for p in folder.glob("ckpt-*.bin"))
    if len(files) > len(index):  # the recording stopped before its final index: read the rest
        for name in files[len(index):]:
            saved = load(run_path, Checkpoint(0, 0, 0, name))
            seq = saved["recorder"][0]
            index.append(Checkpoint(seq, saved.get("cycle", 0), saved.get("instructions", 0), name))
    return index


def nearest(index: list[Checkpoint], seq: int) -> Checkpoint:
    """The last checkpoint from which event `seq` is still ahead (checkpoint.seq <= seq)."""
    i = bisect.bisect_right([c.seq for c in index], seq) - 1
    return index[max(i, 0)]


def load(run_path: Path, checkpoint: Checkpoint) -> dict:
    """A checkpoint's contents: data only (sim/snapshot_codec.py), checked for shape here and by
    System.restore; a damaged or hostile file is one TraceError naming it."""
    path = run_path / schema.CHECKPOINTS_DIR / checkpoint.file
    try:
        saved = snapshot_codec.decode(path.read_bytes())
    except OSError as e:
        raise TraceError(f"unreadable checkpoint: {e.strerror or e}", str(path)) from None
    except snapshot_codec.SnapshotFormatError as e:
        raise TraceError(f"damaged checkpoint: {e}", str(path)) from None
    if not (isinstance(saved, dict) and isinstance(saved.get("system"), bytes)
            and isinstance(saved.get("recorder"), tuple) and len(saved["recorder"]) == 2
            and type(saved["recorder"][0]) is int and isinstance(saved["recorder"][1], tuple)
            and type(saved.get("cycle")) is int and type(saved.get("instructions")) is int):
        raise TraceError("damaged checkpoint: not a checkpoint's fields", str(path))
    return saved
