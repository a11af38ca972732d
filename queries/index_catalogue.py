"""The index's catalogue (index.duckdb): built on a thread of its own while the build reads the
events: the vector clocks' column file, the side tables (symbols, bits, sites, threads, words,
machines, ports, checkpoints, meta), the schedule (runs of one thread on one core), then, once the
events are read, the other events, the views, word_offsets and index_info."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracer import schema as S

from . import columns as C
from . import intact, stack_names
from .index_state import CATALOG, INDEX_FILE, INDEX_FORMAT, REGISTERED, TABLES, connect, to_numpy
from .rundir import RunDir
from .sqlfiles import load_sql


class ScheduleRuns:
    """Runs of consecutive events by one thread on one core, accumulated batch by batch."""

    FEW_CORES = 8
    COLUMNS = ("machine", "core", "thread", "seq", "cycle")  # what `add` reads of a batch

    def __init__(self):
        self.open: dict[int, list[int]] = {}  # core key -> [thread, start_seq, end_seq, start_cycle, end_cycle, n]
        self.done: list[np.ndarray] = []

    def add(self, machine, core, thread, seq, cycle) -> None:
        if len(seq) == 0:
            return
        key = machine.astype(np.int32) * 4096 + core
        lo, hi = int(key.min()), int(key.max())
        keys = (np.flatnonzero(np.bincount(key - lo)) + lo) if hi - lo < 1 << 16 else np.unique(key)
        if len(keys) <= self.FEW_CORES:
            # each core's events, in seq order, one core after the other: a pass per core
            # (cheaper than sorting 10M keys when there are a handful of cores)
            os_parts, oe_parts, n_parts = [], [], []
            for k in keys.tolist():
                idx = np.flatnonzero(key == k)
                t = thread[idx]
                brk = np.flatnonzero(t[1:] != t[:-1]) + 1
                starts = np.concatenate([[0], brk])
                ends = np.concatenate([brk, [len(idx)]]) - 1
                os_parts.append(idx[starts])
                oe_parts.append(idx[ends])
                n_parts.append(ends - starts + 1)
            os_, oe, n_of = np.concatenate(os_parts), np.concatenate(oe_parts), np.concatenate(n_parts)
        else:
            small = lo >= 0 and hi < 32768
            order = np.argsort(key.astype(np.int16) if small else key, kind="stable")  # radix
            ct = (key.astype(np.int64) << 32) | (thread.astype(np.int64) & 0xFFFFFFFF)
            cts = ct[order]  # each core's (core, thread) in seq order, cores one after the other
            brk = np.flatnonzero(cts[1:] != cts[:-1]) + 1
            starts = np.concatenate([[0], brk])
            ends = np.concatenate([brk, [len(cts)]]) - 1
            os_, oe, n_of = order[starts], order[ends], ends - starts + 1
        runs = np.stack([key[os_], thread[os_], seq[os_], seq[oe], cycle[os_], cycle[oe], n_of],
                        axis=1).astype(np.int64)
        keep = np.ones(len(runs), dtype=bool)
        first = np.concatenate([[True], runs[1:, 0] != runs[:-1, 0]])
        last = np.concatenate([runs[1:, 0] != runs[:-1, 0], [True]])
        closed = []
        for i in np.flatnonzero(first):
            key_i = int(runs[i, 0])
            prev = self.open.pop(key_i, None)
            if prev is not None and prev[0] == runs[i, 1]:  # the open run goes on
                prev[2], prev[4] = int(runs[i, 3]), int(runs[i, 5])
                prev[5] += int(runs[i, 6])
                keep[i] = False
                if last[i]:
                    self.open[key_i] = prev
                    continue
                closed.append([key_i] + prev)
            elif prev is not None:
                closed.append([key_i] + prev)
        for i in np.flatnonzero(last & keep):
            self.open[int(runs[i, 0])] = [int(x) for x in runs[i, 1:]]
            keep[i] = False
        if closed:
            self.done.append(np.array(closed, dtype=np.int64))
        if keep.any():
            self.done.append(runs[keep])

    def table(self, machines: list[str], threads: dict[int, str]) -> pa.Table:
        rows = list(self.done)
        if self.open:
            rows.append(np.array([[k] + v for k, v in self.open.items()], dtype=np.int64))
        r = np.concatenate(rows) if rows else np.empty((0, 7), dtype=np.int64)
        if len(r):
            r = r[np.lexsort((r[:, 0], r[:, 2]))]
        mach = (r[:, 0] // 4096).astype(np.int16)
        return pa.table({
            "machine": pa.array([machines[m] if 0 <= m < len(machines) else str(m) for m in mach.tolist()],
                                pa.string()),
            "machine_id": pa.array(mach),
            "core": pa.array((r[:, 0] % 4096).astype(np.int16)),
            "thread": pa.array([threads.get(t, str(t)) for t in r[:, 1].tolist()], pa.string()),
            "thread_id": pa.array(r[:, 1].astype(np.int32)),
            "start_seq": pa.array(r[:, 2]), "end_seq": pa.array(r[:, 3]),
            "start_cycle": pa.array(r[:, 4]), "end_cycle": pa.array(r[:, 5]),
            "events": pa.array(r[:, 6]),
        })


def views_sql(accesses: C.Layout) -> str:
    """views.sql, its accesses view reading each column as stored: itself, split in two
    (NAME_hi * 2**bits + NAME_lo), or derived (`old` and `issued` from old_rel and issued_rel:
    columns.DERIVED); look-up columns are dictionary arrays DuckDB reads as plain columns."""
    def value(name: str) -> str:
        bits = accesses.split_bits(name)
        if not bits:
            return name
        hi = f"{name}{C.SPLIT_HI}" + ("::UBIGINT" if name in C.UNSIGNED else "::BIGINT")
        return f"({hi} * {1 << bits} + {name}{C.SPLIT_LO})"

    has = {name: accesses.has(name) or bool(accesses.split_bits(name)) for name in ("old_rel", "issued_rel")}
    old = (f"CASE WHEN kind = 'read' THEN {value('old_rel')}::UBIGINT "
           f"ELSE ({value('new')}::BIGINT - {value('old_rel')})::UBIGINT END"
           if has["old_rel"] else f"{value('old')}::UBIGINT")
    issued = (f"CASE WHEN {value('issued_rel')} = 0 THEN -1 ELSE {value('cycle')}::BIGINT - {value('issued_rel')} END"
              if has["issued_rel"] else f"{value('issued')}::BIGINT")
    sql = load_sql("views").replace("{old}", old).replace("{issued}", issued)
    for name in ("seq", "cycle", "new", "clock"):
        sql = sql.replace("{%s}" % name, value(name))
    return sql


def side_work(rd: RunDir, tmp: Path, files: dict[str, str], inbox: queue.Queue,
               stats: dict, vclocks: intact.VclockRead) -> tuple[dict[str, C.Layout], list[str]]:
    """Everything but the accesses, on its own thread while the main one reads the events: the
    vector clocks, the catalogue's side tables, the schedule (part by part, as the main thread
    sends them); then, once it sends the events' facts, the other events and the rest of the
    catalogue. Returns the layouts it wrote and the build's notes, in a stable order."""
    t0 = time.perf_counter()
    out: dict[str, C.Layout] = {}
    vnotes = list(vclocks.notes)
    vt = sort_vclocks(intact.concat_vclocks(vclocks, rd.location))
    out["vclocks"] = C.write_table(tmp / files["vclocks"], files["vclocks"], S.VCLOCKS,
                                   {f.name: to_numpy(vt.column(f.name)) for f in S.VCLOCKS}, narrow=True)
    stats["vclocks"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tnotes: list[str] = []
    con = connect(tmp / INDEX_FILE, read_only=False)
    try:
        con.execute(load_sql("index_tables"))
        side = {}
        for name in ("symbols", "bits", "sites", "threads"):
            table, note = rd.read_side_table(name)
            if note:
                tnotes.append(note)
            side[name] = table
            insert(con, name, table)
        insert(con, "words", words_table(side["symbols"]))
        for name, table in stack_names.catalogue_tables(rd, side["symbols"], side["threads"]).items():
            insert(con, name, table)
        machines = rd.machines
        cores = rd.cores
        insert(con, "machines", pa.table({
            "machine": pa.array(range(len(machines)), pa.int16()), "name": pa.array(machines, pa.string()),
            "cores": pa.array([cores.get(m, 0) for m in machines], pa.int32())}))
        ports = rd.ports
        insert(con, "ports", pa.table({"port": pa.array(range(len(ports)), pa.int64()),
                                        "name": pa.array(ports, pa.string())}))
        insert(con, "checkpoints", rd.read_checkpoints())
        insert(con, "meta", _pairs([(k, json.dumps(v)) for k, v in sorted(rd.meta.items())]))
        stats["catalogue"] = time.perf_counter() - t0

        schedule = ScheduleRuns()
        t_sched = 0.0
        while True:
            what, payload = inbox.get()
            if what == "abort":
                return out, []
            if what == "events":
                break
            t1 = time.perf_counter()
            for b in payload:  # batch by batch: cache-sized arrays beat fewer, bigger calls
                schedule.add(b["machine"], b["core"], b["thread"], b["seq"], b["cycle"])
            t_sched += time.perf_counter() - t1
        stats["schedule"] = t_sched

        t0 = time.perf_counter()
        ev = payload
        cols = {}
        for f in S.EVENTS:
            chunks = [to_numpy(b.column(f.name)) for b in ev["others"]]
            cols[f.name] = (np.concatenate(chunks) if chunks
                            else np.empty(0, dtype=C.TYPES[C.type_name(f)][0]))
        out["other_events"] = C.write_table(tmp / files["other_events"], files["other_events"],
                                            S.EVENTS, cols, narrow=True)
        stored = {**ev["layouts"], **out}
        for name in TABLES:  # the views bind to the bulk tables' names and stored columns
            con.register(REGISTERED[name], stored[name].schema.empty_table())
        con.execute(views_sql(stored["accesses"]))
        thread_names = dict(zip(side["threads"].column("thread").to_pylist(),
                                side["threads"].column("name").to_pylist()))
        insert(con, "schedule", schedule.table(machines, thread_names))
        insert(con, "word_offsets", pa.table({
            "addr": pa.array(ev["words"], pa.int64()), "start": pa.array(ev["cum"][:-1]),
            "count": pa.array(ev["wcounts"])}))
        notes = ev["notes"] + vnotes + tnotes
        what, accesses = inbox.get()  # the accesses' final layout, once pass 2 has written them
        if what == "abort":
            return out, []
        layouts = dict(ev["layouts"], accesses=accesses, **out)
        info = {
            "index_format": INDEX_FORMAT, "schema_version": S.SCHEMA_VERSION,
            "fingerprint": ev["info"]["fingerprint"],
            "data": json.dumps({k: v.to_json() for k, v in layouts.items()}),
            **{k: ev["info"][k] for k in ("events", "max_seq", "accesses", "writes")},
            "vclocks": vt.num_rows, "words": ev["info"]["words"],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "warnings": json.dumps(notes),
        }
        insert(con, "index_info", _pairs([(k, str(v)) for k, v in info.items()]))
        con.execute(f"CHECKPOINT {CATALOG}")
    finally:
        con.close()
    stats["catalogue"] += time.perf_counter() - t0
    return out, notes


def insert(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    con.register("_src", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _src")
    finally:
        con.unregister("_src")


def _pairs(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"key": pa.array([r[0] for r in rows], pa.string()),
                     "value": pa.array([r[1] for r in rows], pa.string())})


def sort_vclocks(vt: pa.Table) -> pa.Table:
    if vt.num_rows == 0:
        return vt
    thread = to_numpy(vt.column("thread")).astype(np.int64)
    of = to_numpy(vt.column("of_thread")).astype(np.int64)
    clock = to_numpy(vt.column("clock"))
    # rows arrive in seq order, so each (thread, of_thread) pair's clocks already ascend: a stable
    # sort on the pair alone is enough (a radix sort when the pair number fits 16 bits)
    _, pair = np.unique(thread * (1 << 32) + of, return_inverse=True)
    pair = pair.astype(np.int16 if pair.max() < 32768 else np.int64)
    order = np.argsort(pair, kind="stable")
    c, p = clock[order], pair[order]
    if len(c) > 1 and np.any((p[1:] == p[:-1]) & (c[1:] < c[:-1])):
        order = np.lexsort((clock, of, thread))
    return vt.take(pa.array(order))


def words_table(symbols: pa.Table) -> pa.Table:
    """One row per word address covered by a symbol, with one canonical name."""
    rows: dict[int, tuple] = {}
    for s in sorted(symbols.to_pylist(), key=lambda s: (s["size"] != 1, s["addr"], s["name"])):
        size = max(int(s["size"]), 1)
        for k in range(size):
            a = s["addr"] + k
            if a in rows:
                continue
            name = s["name"] if size == 1 else f"{s['name']}[{k}]"
            rows[a] = (a, name, s["object"], s["field"], s["machine"], s["initial"] if k == 0 else 0)
    ordered = [rows[a] for a in sorted(rows)]
    cols = list(zip(*ordered)) if ordered else [[]] * 6
    return pa.table({
        "addr": pa.array(cols[0], pa.int64()), "name": pa.array(cols[1], pa.string()),
        "object": pa.array(cols[2], pa.string()), "field": pa.array(cols[3], pa.string()),
        "machine": pa.array(cols[4], pa.string()), "initial": pa.array(cols[5], pa.uint64()),
    })

