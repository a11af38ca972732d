"""Locks across a recorded run, as lockdep sees them: the lock-order graph and its cycles ("possible
circular locking dependency", reported even when this run did not deadlock), locks held while
sleeping, and unlocks by a thread that does not hold the lock.

The SQL is in queries/sql/views.sql: `lock_holds` (each acquisition and the release that ended
it) and `lock_order` (one edge held -> taken per acquisition made while holding another lock).
Here the edges are grouped by lock pair (the first occurrence is the example) and the graph's
elementary cycles are found by a depth-first search from each lock in address order, each cycle
reported once, starting at its lowest lock. For every edge of a cycle the report gives both
acquisition stacks: the locks the thread held when it took the second lock (with where it took
each) and where it took the second.
"""

from __future__ import annotations

MAX_CYCLE = 8  # locks per cycle searched (real inversions are two or three locks)


def locks(run) -> dict:
    names = run.names
    holds = run.sql("SELECT * FROM lock_holds ORDER BY acquired_seq").to_pylist()
    order = run.sql("SELECT * FROM lock_order ORDER BY taken_seq, held_seq").to_pylist()
    edges: dict[tuple[int, int], dict] = {}
    for e in order:
        key = (e["held_addr"], e["taken_addr"])
        if key not in edges:
            edges[key] = dict(e, count=0)
        edges[key]["count"] += 1
    cycles = [[_edge(run, edges[(path[i], path[(i + 1) % len(path)])], holds) for i in range(len(path))]
              for path in _cycles(edges)]
    sleeps = run.sql("""
        SELECT h.lock, h.lock_addr, h.thread, h.acquired_seq, h.acquired_site, s.seq AS sleep_seq,
               s.site AS sleep_site
        FROM lock_holds h JOIN other_events s
          ON s.kind = 'sleep' AND s.thread = h.thread_id AND s.seq > h.acquired_seq
             AND (h.released_seq IS NULL OR s.seq < h.released_seq)
        ORDER BY s.seq, h.acquired_seq""").to_pylist()
    held_while_sleeping = [{"lock": r["lock"] or f"{r['lock_addr']:#x}", "thread": r["thread"],
                            "acquired": _at(run, r["acquired_seq"], r["acquired_site"]),
                            "sleep": _at(run, r["sleep_seq"], r["sleep_site"])} for r in sleeps]
    foreign = [{"lock": h["lock"] or f"{h['lock_addr']:#x}", "holder": h["thread"],
                "acquired": _at(run, h["acquired_seq"], h["acquired_site"]),
                "released_by": names.thread(h["released_by"]),
                "released": _at(run, h["released_seq"], h["released_site"])}
               for h in holds if h["released_seq"] is not None and h["released_by"] != h["thread_id"]]
    unheld = run.sql("""
        SELECT r.seq, r.thread, r.sync AS lock_addr, r.site FROM other_events r
        WHERE r.kind = 'release' AND NOT EXISTS (
            SELECT 1 FROM lock_holds h WHERE h.released_seq = r.seq)
        ORDER BY r.seq""").to_pylist()
    foreign += [{"lock": names.word(r["lock_addr"]) or f"{r['lock_addr']:#x}", "holder": None, "acquired": None,
                 "released_by": names.thread(r["thread"]), "released": _at(run, r["seq"], r["site"])}
                for r in unheld]
    foreign.sort(key=lambda f: f["released"]["seq"])
    return {"locks": len({h["lock_addr"] for h in holds}), "acquisitions": len(holds),
            "dependencies": [_edge(run, e, holds) for e in edges.values()],
            "cycles": [{"locks": [c["held"] for c in cyc], "edges": cyc} for cyc in cycles],
            "held_while_sleeping": held_while_sleeping, "unlocked_by_non_holder": foreign}


def _cycles(edges: dict[tuple[int, int], dict]) -> list[list[int]]:
    """Elementary cycles of the graph, each once (rotated to start at its lowest lock)."""
    succ: dict[int, list[int]] = {}
    for a, b in sorted(edges):
        succ.setdefault(a, []).append(b)
    found: list[list[int]] = []
    for start in sorted(succ):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in reversed(succ.get(node, [])):
                if nxt == start:
                    found.append(path)
                elif nxt > start and nxt not in path and len(path) < MAX_CYCLE:
                    stack.append((nxt, path + [nxt]))
    found.sort(key=lambda p: (len(p), p))
    return found


def _at(run, seq: int | None, site: int | None) -> dict | None:
    if seq is None:
        return None
    return {"seq": int(seq), **run.names.where(int(site))}


def _edge(run, e: dict, holds: list[dict]) -> dict:
    """One dependency held -> taken with both acquisition stacks: every lock the thread held when
    it took `taken` (where it took each), then `taken` itself."""
    seq, thread = e["taken_seq"], e["thread_id"]
    stack = [{"lock": h["lock"] or f"{h['lock_addr']:#x}", **_at(run, h["acquired_seq"], h["acquired_site"])}
             for h in holds if h["thread_id"] == thread and h["acquired_seq"] < seq
             and (h["released_seq"] is None or h["released_seq"] > seq)]
    return {"held": e["held"] or f"{e['held_addr']:#x}", "taken": e["taken"] or f"{e['taken_addr']:#x}",
            "thread": e["thread"], "count": e.get("count", 1),
            "held_at": _at(run, e["held_seq"], e["held_site"]), "taken_at": _at(run, seq, e["taken_site"]),
            "stack": stack + [{"lock": e["taken"] or f"{e['taken_addr']:#x}", **_at(run, seq, e["taken_site"])}]}
