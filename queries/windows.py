"""Windows: the intervals during which a scenario invariant is false.

An invariant (meta.json `invariants`, copied from the scenario's TOML; language in
invariants.py) only changes value when one of its words is written, so the work is proportional
to the writes of those few words, not to the run: the writes come from the memory-mapped accesses
(writeindex.py), the expression is evaluated with numpy after each of them, and queries/sql/windows.sql
turns the truth series into maximal false intervals. queries/sql/window_threads.sql then says who
ran on which core during each window (from the `schedule` table).

A window starts at the write that made the invariant false (inclusive: from that event on it is
false) and ends at the write that made it true again (exclusive). A window open at the start of
the run has start_seq 0 and opened_by null; one still open at the end ends at the run's last
event, or at the panic event when the run panicked (end_reason says which).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .errors import QueryError
from .invariants import Invariant, Operand, evaluate, expand, parse
from .targets import suggestion


def declared(run) -> list[Invariant]:
    """Every invariant instance the scenario declares (templates expanded), parsed."""
    raw = run.meta.get("invariants") or []
    if not isinstance(raw, list):
        raise QueryError("meta.json 'invariants' is not a list", run.dir.location)
    out = []
    for k, item in enumerate(raw):
        if not isinstance(item, dict) or "expr" not in item:
            raise QueryError(f"meta.json invariants[{k}] has no expr", run.dir.location)
        name = str(item.get("name") or f"invariant{k}")
        for inst_name, text in expand(name, str(item["expr"]), item.get("for")):
            inv = parse(text, inst_name)
            inv.base = name  # type: ignore[attr-defined]
            out.append(inv)
    return out


def select(run, name: str | None) -> list[Invariant]:
    invs = declared(run)
    if name is None:
        return invs
    chosen = [i for i in invs if i.name == name or getattr(i, "base", None) == name]
    if not chosen:
        names = sorted({i.name for i in invs} | {getattr(i, "base", i.name) for i in invs})
        if not names:
            raise QueryError(f"unknown invariant '{name}': the scenario declares none")
        raise QueryError(suggestion(name, names, "invariant") + f" (declared: {', '.join(names[:8])}"
                         + (", ..." if len(names) > 8 else "") + ")")
    return chosen


def windows(run, name: str | None = None) -> list[dict]:
    out: list[dict] = []
    end_seq, end_reason = _run_end(run)
    for inv in select(run, name):
        out.extend(_windows_of(run, inv, end_seq, end_reason))
    _add_threads(run, out)
    return out


def _run_end(run) -> tuple[int, str]:
    panic = run.panic_seq
    if panic is not None:
        return panic, "panic"
    return max(run.end - 1, 0), "truncated" if run.meta.get("truncated") else "end"


def _resolve(run, inv: Invariant, op: Operand) -> tuple[int, int | None]:
    names = run.names
    where = f"invariant '{inv.name}'"
    entry = names.symbols.get(op.symbol)
    if entry is None:
        raise QueryError(suggestion(op.symbol, names.symbols, "symbol"), where)
    addr, size = entry
    if names.is_stack(addr):  # thread-private, and named per access: no invariant can hold them
        raise QueryError(f"'{op.symbol}' is a word of a thread's C stack (thread-private: invariants "
                         "and their windows are over shared data)", where)
    if size > 1:
        raise QueryError(f"'{op.symbol}' covers {size} words; name one, e.g. {op.symbol}[0]", where)
    if op.bit is None:
        return addr, None
    if op.bit[:1].isdigit():
        bit = int(op.bit, 0)
    else:
        bit = names.bits.get(op.bit)
        if bit is None:
            raise QueryError(suggestion(op.bit, names.bits, "bit"), where)
    if not 0 <= bit < 64:
        raise QueryError(f"bit {op.bit} is out of range 0..63", where)
    return addr, bit


def truth_series(run, inv: Invariant) -> dict:
    """The invariant's value initially and after every write to one of its words."""
    wi = run.writes_index
    resolved = {op: _resolve(run, inv, op) for op in inv.operands}
    addrs = sorted({a for a, _ in resolved.values()})
    per_addr = [wi.rows(a) for a in addrs]
    rows = np.concatenate(per_addr) if addrs else np.empty(0, dtype=np.int64)
    seqs = wi.take("seq", rows).astype(np.int64) if len(rows) else np.empty(0, dtype=np.int64)
    order = np.argsort(seqs, kind="stable")
    rows, seqs = rows[order], seqs[order]
    k = len(rows)
    which = np.repeat(np.arange(len(addrs)), [len(r) for r in per_addr])[order]
    values: dict[int, np.ndarray] = {}
    idx = np.arange(k + 1)
    for j, a in enumerate(addrs):
        mine = np.concatenate([[True], which == j])  # state 0 is the initial state
        last = np.maximum.accumulate(np.where(mine, idx, 0))
        vals = np.concatenate([[np.uint64(int(run.names.word_initial.get(a, 0)))],
                               wi.take("new", rows) if k else np.empty(0, dtype=np.uint64)]).astype(np.uint64)
        values[a] = vals[last]
    operand_values = {}
    for op, (a, bit) in resolved.items():
        v = values[a]
        operand_values[op] = v if bit is None else (v >> np.uint64(bit)) & np.uint64(1)
    holds = evaluate(inv.tree, operand_values, k + 1) != 0
    return {"rows": rows, "seq": seqs, "holds": holds}


def _windows_of(run, inv: Invariant, end_seq: int, end_reason: str) -> list[dict]:
    ts = truth_series(run, inv)
    truth = pa.table({"seq": pa.array(np.concatenate([[-1], ts["seq"]]).astype(np.int64)),
                      "holds": pa.array(ts["holds"])})
    run.con.register("truth", truth)
    try:
        spans = run.query("windows").to_pylist()
    finally:
        run.con.unregister("truth")
    wi = run.writes_index
    row_of_seq = dict(zip(ts["seq"].tolist(), ts["rows"].tolist()))
    out = []
    for s in spans:
        opened = None if s["start_seq"] < 0 else _write(run, wi, row_of_seq[s["start_seq"]])
        closed = None if s["end_seq"] is None else _write(run, wi, row_of_seq[s["end_seq"]])
        start_seq = 0 if opened is None else opened["seq"]
        start_cycle = 0 if opened is None else opened["cycle"]
        if closed is not None:
            stop, stop_cycle, reason = closed["seq"], closed["cycle"], "write"
        else:
            stop, reason = end_seq, end_reason
            if stop < start_seq:  # opened by a write after the panic (other cores ran on)
                stop, reason = max(run.end - 1, 0), "end"
            stop_cycle = _cycle_at(run, stop)
        out.append({
            "invariant": inv.name, "expr": inv.text,
            "start_seq": start_seq, "end_seq": stop, "start_cycle": start_cycle,
            "end_cycle": stop_cycle, "length": stop - start_seq, "cycles": stop_cycle - start_cycle,
            "opened_by": opened, "closed_by": closed,
            "open_reason": "write" if opened else "initial", "end_reason": reason,
        })
    return out


def _write(run, wi, row: int) -> dict:
    r = wi.row(row)
    addr = wi.addr_of(row)
    return {**run.names.event(r), "symbol": run.names.word(addr), "addr": addr, "old": r["old"], "new": r["new"],
            "issued": None if r["issued"] < 0 else r["issued"]}


def _cycle_at(run, seq: int) -> int:
    rows = run.rows("event_cycle", {"seq": seq})
    return int(rows[0]["cycle"]) if rows else 0


def _add_threads(run, out: list[dict]) -> None:
    if not out:
        return
    spans = pa.table({"id": pa.array(range(len(out)), pa.int64()),
                      "start_seq": pa.array([w["start_seq"] for w in out], pa.int64()),
                      "end_seq": pa.array([w["end_seq"] for w in out], pa.int64())})
    run.con.register("spans", spans)
    try:
        rows = run.query("window_threads").to_pylist()
    finally:
        run.con.unregister("spans")
    for w in out:
        w["threads"] = []
    for r in rows:
        out[r["id"]]["threads"].append({k: r[k] for k in ("machine", "core", "thread", "first_seq",
                                                           "last_seq", "events")})

