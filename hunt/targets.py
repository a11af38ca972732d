"""What to try first: directives (sim.directed_scheduler) from a passing run's recording.

For each racing pair the races query reports (first access A by thread a, then the conflicting B
by thread b, unordered by happens-before): hold a just before A, at the same occurrence of A as in
the passing run, until b has executed B, which reverses the pair. For each invariant window the
windows query reports (the invariant broken for a while, then restored): hold the thread that
restored it just before the restoring access, which keeps the window open longer for the others
to run into.
"""

from __future__ import annotations

from queries import open_run


def _occurrence(run, thread: int, site: int, seq: int) -> int:
    """How many accesses `thread` made at `site` up to and including `seq` (1 = the first)."""
    table = run.sql("SELECT count(*) AS n FROM events WHERE thread = ? AND site = ? AND seq <= ? "
                    "AND kind IN ('read', 'write', 'rmw')", [thread, site, seq])
    return max(1, int(table.column("n")[0].as_py()))


def directives_from(run_dir) -> tuple[list[tuple[int, int, int, int, int]], dict]:
    """(directives, what they came from: counts of racing pairs and windows)."""
    out: list[tuple[int, int, int, int, int]] = []
    with open_run(run_dir, progress=False) as run:
        races = run.races()
        for r in races:
            a, b = r["first"], r["second"]
            occ = _occurrence(run, a["thread_id"], a["site"], a["seq"])
            out.append((a["thread_id"], a["site"], occ, b["thread_id"], b["site"]))
        windows = [w for w in run.windows() if w.get("closed_by")]
        for w in windows:
            c = w["closed_by"]
            if c.get("site") is None or c.get("thread_id") is None:
                continue
            occ = _occurrence(run, c["thread_id"], c["site"], c["seq"])
            out.append((c["thread_id"], c["site"], occ, c["thread_id"], -1))
    return list(dict.fromkeys(out)), {"racing_pairs": len(races), "windows": len(windows)}
