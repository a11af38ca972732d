"""A recorded run opened for queries: `queries.open_run(path)` returns a `Run`.

One method per named query, each returning plain data (dicts and lists, or a pyarrow Table for
`sql`). Every method's SQL lives in queries/sql/<name>.sql; where a faster path exists (the
memory-mapped accesses for the last-writer family, numpy for races) the method uses it and the
tests check that both give the same answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import duckdb
import pyarrow as pa

from tracer.seq_arg import parse_seq

from . import hb as hb_mod
from . import locks as locks_mod
from . import races as races_mod
from . import windows as windows_mod
from .errors import QueryError
from .index import IndexState, ensure_index, open_data, register, same_build
from .names import Names
from .readonly import DEFAULT_TIMEOUT, check_statement, lock_down, run_with_timeout
from .rundir import RunDir
from .sqlfiles import load_sql
from .targets import Target, resolve
from .writeindex import WriteIndex


def open_run(path: str | Path, progress: bool | None = None, rebuild: bool = False) -> Run:
    """Open a run directory for queries, building its index first when needed."""
    return Run(path, progress=progress, rebuild=rebuild)


class Run:
    def __init__(self, path: str | Path, progress: bool | None = None, rebuild: bool = False):
        self.dir = RunDir(path)
        self.path = self.dir.path
        self.meta = self.dir.meta
        # the catalogue is opened, then the data files it names are mapped (and it is checked to
        # name them): a concurrent rebuild may replace both in between (then look again)
        for _ in range(3):
            self.index: IndexState = ensure_index(self.dir, progress=progress, rebuild=rebuild)
            rebuild = False
            try:
                self.con = self.index.take_connection()
            except duckdb.Error as err:
                raise QueryError(f"cannot open the index ({one_line(err)})", self.dir.location) from None
            try:
                self.data = open_data(self.path, self.index)
            except OSError:
                self.con.close()
                continue
            if same_build(self.con, self.index):
                break
            self.con.close()
        else:
            raise QueryError("the index keeps changing (is another process rebuilding it?)",
                             self.dir.location)
        try:
            register(self.con, self.data)
            lock_down(self.con)
        except duckdb.Error as err:
            raise QueryError(f"cannot open the index ({one_line(err)})", self.dir.location) from None
        self.names = Names(self.con)
        self._writes: WriteIndex | None = None

    # -- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def warnings(self) -> list[str]:
        """What is wrong with the recording (answers come from its intact prefix only)."""
        return list(self.index.warnings)

    @property
    def notices(self) -> list[str]:
        """What was wrong with the index when this opened it (it was rebuilt)."""
        return list(self.index.notices)

    @property
    def events(self) -> int:
        """The number of events indexed."""
        return self.index.events

    @property
    def end(self) -> int:
        """One past the last seq: `before=end` means "by the end of the run"."""
        return self.index.max_seq + 1

    @property
    def writes_index(self) -> WriteIndex:
        if self._writes is None:
            self._writes = WriteIndex(self.data["accesses"], self.con)
        return self._writes

    def query(self, name: str, params: dict | None = None) -> pa.Table:
        """Run queries/sql/<name>.sql with named parameters."""
        try:
            return self.con.sql(load_sql(name), params=params or {}).to_arrow_table()
        except duckdb.Error as err:
            raise QueryError(f"query {name}.sql failed: {one_line(err)}", self.dir.location) from None

    def rows(self, name: str, params: dict | None = None) -> list[dict]:
        return self.query(name, params).to_pylist()

    def sql(self, text: str, params: dict | list | None = None,
            timeout: float | None = DEFAULT_TIMEOUT) -> pa.Table:
        """One read-only SQL statement over the index's tables and views (see the README and
        queries/readonly.py): anything that writes or reaches the file system is refused, and a
        query still running after `timeout` seconds is interrupted (QueryTimeout)."""
        return run_with_timeout(self.con, check_statement(text), params, timeout)

    # -- seq arguments ---------------------------------------------------------------------------
    @property
    def panic_seq(self) -> int | None:
        panic = self.meta.get("panic")
        if isinstance(panic, dict) and isinstance(panic.get("seq"), int):
            return panic["seq"]
        row = self.con.execute("SELECT min(seq) FROM other_events WHERE kind = 'panic'").fetchall()[0]
        return None if row is None or row[0] is None else int(row[0])

    def seq_arg(self, value, what: str = "--before") -> int:
        """A seq bound from an int or 'panic' / 'end' (checked against the run's range)."""
        if value is None:
            return self.end
        return parse_seq(value, what=what, events=self.end, end=self.end, panic=lambda: self.panic_seq,
                         outcome=self.meta.get("outcome"), error=QueryError)

    # -- last writer, history, value ---------------------------------------------------------------
    def target(self, text: str) -> Target:
        return resolve(text, self.names)

    def last_writer(self, target: str, before: int | str | None = None, changed: bool = False,
                    engine: str = "fast") -> dict | None:
        """The last write to TARGET before seq `before` (default: the end of the run), or None.

        TARGET is a symbol (page0.flags), symbol:bit (page0.flags:PG_dirty: the last write that
        changed that bit) or an address (0x1f0). `changed=True` skips writes that left the value
        as it was. engine="sql" runs queries/sql/last_writer*.sql instead of the binary search.
        """
        t = self.target(target)
        bound = self.seq_arg(before)
        mask = t.mask or (~0 & 0xFFFFFFFFFFFFFFFF if changed else 0)
        if t.local is not None:  # a C local: the writes named so, at any of its words
            if engine == "sql":
                rows = self.rows("last_writer_local", {"name": t.local, "addrs": list(t.addrs),
                                                       "before": bound, "mask": mask})
                return self._write_from_sql(rows[0], t) if rows else None
            found = self._local_rows(t, mask, bound, last=True)
            return self._write_from_raw(self.writes_index.row(found[-1][1]), t, found[-1][2]) if found else None
        if engine == "sql":
            if t.bit is not None:
                rows = self.rows("last_writer_bit", {"addr": t.addr, "before": bound, "bit": t.bit})
            elif changed:
                rows = self.rows("last_writer_changed", {"addr": t.addr, "before": bound})
            else:
                rows = self.rows("last_writer", {"addr": t.addr, "before": bound})
            return self._write_from_sql(rows[0], t) if rows else None
        wi = self.writes_index
        i = wi.last_before(t.addr, bound, mask)
        return None if i is None else self._write_from_raw(wi.row(i), t)

    def history(self, target: str, limit: int | None = None, engine: str = "fast") -> list[dict]:
        """Every write to TARGET, oldest first (for symbol:bit, those that changed the bit)."""
        t = self.target(target)
        if t.local is not None:
            found = self._local_rows(t, t.mask, None)
            out = [self._write_from_raw(self.writes_index.row(i), t, a) for _, i, a in found]
            return out[:limit] if limit is not None else out
        if engine == "sql":
            rows = self.rows("history", {"addr": t.addr, "mask": t.mask})
            out = [self._write_from_sql(r, t) for r in rows]
        else:
            wi = self.writes_index
            out = [self._write_from_raw(wi.row(int(i)), t) for i in wi.rows(t.addr, t.mask)[: limit]]
        return out[:limit] if limit is not None else out

    def value(self, target: str, at: int | str | None = None, engine: str = "fast") -> dict:
        """The word's value as event `at` saw it (after every write with seq < at)."""
        t = self.target(target)
        bound = self.seq_arg(at, "--at")
        if t.local is not None:  # the word of the innermost frame live at `at`
            t = self._live_local(t, bound)
        word = Target(t.text, t.addr, t.symbol)  # the writer is described as a write to the word
        writer = None
        if engine == "sql":
            row = self.rows("value_at", {"addr": t.addr, "at": bound})[0]
            value = int(row["value"])
            if row["written_at"] is not None:
                rows = self.rows("last_writer", {"addr": t.addr, "before": row["written_at"] + 1})
                writer = self._write_from_sql(rows[0], word)
        else:
            i = self.writes_index.last_before(t.addr, bound)
            if i is not None:
                writer = self._write_from_raw(self.writes_index.row(i), word)
            value = writer["new"] if writer else int(self.names.word_initial.get(t.addr, 0))
        out = {"target": t.text, "symbol": t.symbol, "addr": t.addr, "at": bound, "value": value,
               "bits_set": self.names.decode_bits(value, t.addr), "written_by": writer,
               "initial": writer is None}
        if t.bit is not None:
            out.update(bit=t.bit, bit_name=t.bit_name, bit_value=(value >> t.bit) & 1)
        return out

    def _local_rows(self, t: Target, mask: int, before: int | None, last: bool = False) -> list[tuple[int, int, int]]:
        """(seq, row, addr) of the writes named t.local (changing a bit of mask, if given) before
        `before`, in seq order: the words that bore the name, each access checked (queries/stack_names.py).
        `last`: only each word's last such write (enough for last-writer)."""
        wi, names = self.writes_index, self.names
        out = []
        for a in t.addrs:
            rows = wi.rows(a, mask, before)
            for i in (reversed(rows.tolist()) if last else rows.tolist()):
                seq, site, thread = wi.value("seq", i), wi.value("site", i), wi.value("thread", i)
                if names.access_word(a, seq, site, thread) == t.local:
                    out.append((seq, i, a))
                    if last:
                        break
        out.sort()
        return out

    def _live_local(self, t: Target, at: int) -> Target:
        """The word of t.local in the innermost frame of its function live when event `at` ran."""
        rows = self.con.execute("SELECT cycle FROM events WHERE seq = ?", [min(at, self.end - 1)]).fetchall()
        cycle = int(rows[0][0]) + (at >= self.end) if rows else 0
        thread_name, _, path = t.local.partition(":")
        namer = self.names.stack_namer
        tid = {v: k for k, v in self.names.threads.items()}[thread_name]
        live = [f for f in namer.frames if f.thread == tid and f.entered < cycle < f.left
                and path.startswith(f.layout.function + ".")
                and path[len(f.layout.function) + 1:] in f.layout.words.values()]
        if not live:
            raise QueryError(f"{t.local}: no frame of {path.rsplit('.', 1)[0].split('.')[0]} on {thread_name} "
                             f"is live at seq {at}")
        f = max(live, key=lambda f: f.entered)
        local = path[len(f.layout.function) + 1:]
        off = next(o for o, n in f.layout.words.items() if n == local)
        return Target(t.text, f.base + off, t.local, t.bit, t.bit_name)

    def _write_from_raw(self, raw: dict, t: Target, addr: int | None = None) -> dict:
        addr = t.addr if addr is None else addr
        return self._write_dict(**self.names.event(raw), atomic=raw["atomic"],
                                symbol=self.names.access_word(addr, raw["seq"], raw["site"], raw["thread"]),
                                addr=addr, old=raw["old"], new=raw["new"], issued=_issued(raw["issued"]),
                                target=t)

    def _write_from_sql(self, row: dict, t: Target) -> dict:
        return self._write_dict(
            seq=row["seq"], cycle=row["cycle"], machine=row["machine"], core=row["core"],
            thread=row["thread"], thread_id=row["thread_id"], kind=str(row["kind"]),
            atomic=bool(row["atomic"]), function=row["function"], file=row["file"],
            line=row["line"], site=row["site"], symbol=row["symbol"], addr=row["addr"],
            old=int(row["old"]), new=int(row["new"]), issued=_issued(row["issued"]), target=t)

    def _write_dict(self, *, target: Target, **f) -> dict:
        changed = f["old"] ^ f["new"]
        out = dict(f)
        addr = f["addr"]
        out["bits_changed"] = self.names.decode_bits(changed, addr)
        out["bits_set"] = self.names.decode_bits(changed & f["new"], addr)
        out["bits_cleared"] = self.names.decode_bits(changed & f["old"], addr)
        if target.bit is not None:
            out.update(bit=target.bit, bit_name=target.bit_name,
                       bit_old=(f["old"] >> target.bit) & 1, bit_new=(f["new"] >> target.bit) & 1)
        return out

    # -- races, windows, happens-before -------------------------------------------------------------
    def races(self, engine: str = "numpy", all_pairs: bool = False) -> list[dict]:
        """Conflicting accesses that happens-before does not order, grouped by site pair; with
        `all_pairs`, every distinct racing site pair (not only each access's latest partner)."""
        return races_mod.races(self, engine=engine, all_pairs=all_pairs)

    def windows(self, invariant: str | None = None) -> list[dict]:
        """The intervals during which a scenario invariant is false."""
        return windows_mod.windows(self, invariant)

    def invariants(self) -> list[dict]:
        """The scenario's invariants, templates expanded: [{name, expr}]."""
        return [{"name": i.name, "expr": i.text} for i in windows_mod.declared(self)]

    def hb(self) -> dict:
        """Violated orderings and lockset violations declared by the scenario."""
        return hb_mod.check(self)

    def locks(self) -> dict:
        """Lockdep over the run: lock-order cycles (with both acquisition stacks), locks held
        while sleeping, unlocks by a non-holder (queries/locks.py)."""
        return locks_mod.locks(self)


def _issued(cycle) -> int | None:
    """A tso store's issuing cycle (it sat in the store buffer until the event, its drain), or None."""
    return None if cycle is None or cycle < 0 else int(cycle)


def one_line(err: BaseException) -> str:
    """DuckDB's message on one line (its first line, without the LINE/caret context)."""
    lines = [s.strip() for s in str(err).strip().splitlines() if s.strip()]
    return lines[0] if lines else type(err).__name__

