"""The reverse-query commands: last-writer, history, value, races, windows and hb (sql:
revtrace/sql_commands.py).

`register(app)` adds them to the revtrace typer app. Each one opens the run (building its index on
first use), calls one method of queries.Run, and renders the answer as a table for people or
JSON (`--json`) for scripts. Bad input of any kind ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from queries import QueryError, QueryWarning
from revtrace.output import err_console, fail, print_fields, print_json, print_table

RunArg = Annotated[Path, typer.Argument(help="A run directory (meta.json, events/, ...).",
                                        show_default=False)]
TargetArg = Annotated[str, typer.Argument(
    help="A symbol (page0.flags), a symbol and bit (page0.flags:PG_dirty) or an address (0x1f0).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Refuse (exit 2) to answer from a damaged or incomplete recording.")]


def _open(run: Path, strict: bool = False):
    """Open the run; its warnings (a damaged or incomplete recording: the answer comes from the
    intact prefix only) go to stderr on every query, or refuse the query when `strict`."""
    from queries import open_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QueryWarning)
        r = open_run(run)
    for note in r.notices:
        err_console.print(f"revtrace: notice: {r.dir.location}: {note}", markup=False, soft_wrap=True)
    if strict and r.warnings:
        r.close()
        raise QueryError(f"--strict: {r.warnings[0]}" + (f" (and {len(r.warnings) - 1} more warning(s))"
                                                          if len(r.warnings) > 1 else ""), r.dir.location)
    for w in r.warnings:
        err_console.print(f"revtrace: warning: {r.dir.location}: {w}", markup=False, soft_wrap=True)
    return r


def _json(r, obj: Any) -> None:
    """--json output; on a run with warnings, {"warnings": [...], "result": obj}."""
    print_json({"warnings": r.warnings, "result": obj} if r.warnings else obj)


def _guard(fn):
    """Run fn(); any QueryError becomes one line on stderr and exit code 2."""
    try:
        return fn()
    except QueryError as err:
        fail(str(err))


def _hex(v: int | None) -> str:
    return "" if v is None else hex(v)


def _where(d: dict) -> str:
    if not d.get("function") and not d.get("file"):
        return f"site {d.get('site')}"
    return f"{d.get('function') or '?'} ({d.get('file') or '?'}:{d.get('line') or '?'})"


def _who(d: dict) -> str:
    return f"{d.get('thread') or d.get('thread_id')} on {d.get('machine')}/core {d.get('core')}"


def _bits(d: dict) -> str:
    parts = [f"+{b}" for b in d.get("bits_set", [])] + [f"-{b}" for b in d.get("bits_cleared", [])]
    return " ".join(parts)


def _word(d: dict) -> str:
    sym = d.get("symbol")
    return f"{sym} ({_hex(d.get('addr'))})" if sym else _hex(d.get("addr"))


def _store_buffer_rows(w: dict) -> list[tuple[str, str]]:
    """A tso store's story: it ran at cycle `issued`, sat in the store buffer, and the event (seq,
    cycle) is its drain, when other cores could see it."""
    if w.get("issued") is None:
        return []
    return [("issued", f"at cycle {w['issued']}; sat in the store buffer, visible at seq {w['seq']} "
                       f"(cycle {w['cycle']})")]


def _issued_text(w: dict) -> str:
    return "" if w.get("issued") is None else f"cycle {w['issued']} (buffered)"


def _before_text(seq: int, end: int) -> str:
    return "the end of the run" if seq >= end else f"seq {seq}"


def register(app: typer.Typer) -> None:
    """Add the query commands to `app`."""

    @app.command("last-writer")
    def last_writer(
        run: RunArg,
        target: TargetArg,
        before: Annotated[str | None, typer.Option(
            "--before", metavar="SEQ|panic",
            help="Only writes before this event (a seq, or 'panic' for the panic). Default: the end of the run.")] = None,
        changed: Annotated[bool, typer.Option(
            "--changed", help="Skip writes that stored the value the word already had.")] = False,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """Who last wrote TARGET (for SYMBOL:BIT, who last changed that bit)?"""
        def go():
            with _open(run, strict) as r:
                t = r.target(target)
                bound = r.seq_arg(before)
                w = r.last_writer(target, before=bound, changed=changed)
                if json_:
                    _json(r, w)
                    return
                if w is None:
                    what = "changed" if (t.bit is not None or changed) else "wrote"
                    print(f"nothing {what} {t.label} before {_before_text(bound, r.end)}")
                    return
                rows = [("seq", w["seq"]), ("cycle", w["cycle"]), *_store_buffer_rows(w), ("thread", _who(w)),
                        ("at", _where(w)), ("word", _word(w)),
                        ("kind", w["kind"] + (" (atomic)" if w["atomic"] else "")),
                        ("old → new", f"{_hex(w['old'])} → {_hex(w['new'])}")]
                if r.names.is_flags_word(w["addr"]):  # a counter or a lock word has no bits to name
                    rows.append(("bits", _bits(w) or "(none changed)"))
                if t.bit is not None:
                    rows.append((t.bit_name or f"bit {t.bit}", f"{w['bit_old']} → {w['bit_new']}"))
                print_fields(f"last write to {t.label} before {_before_text(bound, r.end)}", rows)
        _guard(go)

    @app.command("history")
    def history(
        run: RunArg,
        target: TargetArg,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="Show the first N writes only.")] = None,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """Every write to TARGET, oldest first, decoded (for SYMBOL:BIT, those that changed the bit)."""
        def go():
            with _open(run, strict) as r:
                t = r.target(target)
                rows = r.history(target, limit=limit)
                if json_:
                    _json(r, rows)
                    return
                if not rows:
                    print(f"nothing wrote {t.label}")
                    return
                buffered = any(w.get("issued") is not None for w in rows)
                print_table(f"writes to {t.label} ({len(rows)})",
                            ["seq", "cycle", *(["issued at"] if buffered else []), "thread", "core", "at", "kind",
                             "old", "new", "bits"],
                            [(w["seq"], w["cycle"], *([_issued_text(w)] if buffered else []), w["thread"], w["core"],
                              _where(w), w["kind"], _hex(w["old"]), _hex(w["new"]), _bits(w)) for w in rows])
        _guard(go)

    @app.command("value")
    def value(
        run: RunArg,
        target: TargetArg,
        at: Annotated[str, typer.Option(
            "--at", metavar="SEQ|panic|end",
            help="The event whose view of memory to show (writes with a smaller seq count); "
                 "default: the end of the run.")] = "end",
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """The value of TARGET as event SEQ saw it, and which write put it there."""
        def go():
            with _open(run, strict) as r:
                v = r.value(target, at=at)
                if json_:
                    _json(r, v)
                    return
                w = v["written_by"]
                rows = [("value", f"{_hex(v['value'])} ({v['value']})")]
                if r.names.is_flags_word(v["addr"]):
                    rows.append(("bits set", " ".join(v["bits_set"]) or "(none)"))
                if v.get("bit") is not None:
                    rows.insert(0, (v.get("bit_name") or f"bit {v['bit']}", v["bit_value"]))
                if w is None:
                    rows.append(("written by", "nobody: the initial value"))
                else:
                    rows.append(("written by", f"seq {w['seq']}: {w['kind']} by {_who(w)}"))
                    rows.append(("at", _where(w)))
                label = r.target(target).label
                print_fields(f"{label} as seq {v['at']} saw it", rows)
        _guard(go)

    @app.command("races")
    def races(
        run: RunArg,
        all_pairs: Annotated[bool, typer.Option(
            "--all-pairs", help="Every distinct racing site pair, not only each access's latest "
                                "conflicting access on each other thread.")] = False,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """Data races: conflicting accesses that happens-before does not order, by site pair.

        Conflicting: the same word, different threads, at least one write, not both marked or
        atomic (KCSAN's rule). Happens-before follows the kernel's rules (queries/README.md).
        """
        def go():
            with _open(run, strict) as r:
                found = r.races(all_pairs=all_pairs)
                if json_:
                    _json(r, found)
                    return
                if not found:
                    print("no data races")
                    return

                def side(s: dict) -> str:
                    return (f"{s['access']} by {s['thread']} on core {s['core']}\n"
                            f"{_where(s)}\nseq {s['seq']}")

                total = sum(g["count"] for g in found)
                print_table(f"{total} racing pairs at {len(found)} site pairs",
                            ["count", "word", "first access", "second access"],
                            [(g["count"], _word(g) + _more_words(g),
                              side(g["first"]), side(g["second"])) for g in found])
        _guard(go)

    @app.command("windows")
    def windows(
        run: RunArg,
        invariant: Annotated[str | None, typer.Option(
            "--invariant", metavar="NAME",
            help="Only this invariant (a declared name, or one instance such as name[2]).")] = None,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """When a scenario invariant was false: who opened and closed each window, who ran where."""
        def go():
            with _open(run, strict) as r:
                found = r.windows(invariant)
                if json_:
                    _json(r, found)
                    return
                if not r.invariants():
                    print("the scenario declares no invariants")
                    return
                if not found:
                    print("every invariant held throughout the run")
                    return

                def by(w: dict | None, reason: str) -> str:
                    if w is None:
                        return {"initial": "(false from the start)", "panic": "(the panic)",
                                "end": "(the end of the run)",
                                "truncated": "(the end of the truncated recording)"}.get(reason, reason)
                    return (f"{w['thread']}: {_where(w)}\n{_word(w)} {_hex(w['old'])} → {_hex(w['new'])}"
                            + (f"\nissued at cycle {w['issued']}, visible at seq {w['seq']}"
                               if w.get("issued") is not None else ""))

                def cores(w: dict) -> str:
                    return "\n".join(f"{t['machine']}/{t['core']}: {t['thread']}" for t in w["threads"])

                print_table(f"{len(found)} windows",
                            ["invariant", "from seq (cycle)", "to seq (cycle)", "length",
                             "opened by", "closed by", "running"],
                            [(w["invariant"], f"{w['start_seq']} ({w['start_cycle']})",
                              f"{w['end_seq']} ({w['end_cycle']})", w["length"],
                              by(w["opened_by"], w["open_reason"]), by(w["closed_by"], w["end_reason"]),
                              cores(w)) for w in found])
        _guard(go)

    @app.command("hb")
    def hb(
        run: RunArg,
        json_: JsonOpt = False,
        strict: StrictOpt = False,
    ) -> None:
        """Declared orderings that did not hold, and protected fields accessed without their lock."""
        def go():
            with _open(run, strict) as r:
                result = r.hb()
                if json_:
                    _json(r, result)
                    return
                if not result["orderings"] and not result["locksets"]:
                    print("the scenario declares no orderings or locksets")
                    return
                for o in result["orderings"]:
                    before = _site_summary(o["before_sites"])
                    title = (f"ordering '{o['ordering']}': {o['before']} before {o['after']}: "
                             + ("holds" if o["holds"] else f"violated at {len(o['violations'])} sites")
                             + f" ({o['checked']} events checked; before: {before})")
                    if o["holds"]:
                        print(title)
                        continue
                    print_table(title, ["after site", "count", "first violation"],
                                [(_where(v["site"]), v["count"],
                                  f"seq {v['first']['seq']}: {v['first']['kind']} by {_who(v['first'])}")
                                 for v in o["violations"]])
                rows = []
                for ls in result["locksets"]:
                    if ls["holds"]:
                        rows.append((ls["lockset"], "holds", "", "", "", ls["lock"]))
                    for v in ls["violations"]:
                        f = v["first"]
                        rows.append((ls["lockset"], _where(v["site"]), _word(v), v["count"],
                                     f"seq {f['seq']}: {f['kind']} by {_who(f)}", v["lock"]))
                if rows:
                    print_table("locksets", ["lockset", "site", "word", "count", "first violation",
                                             "lock not held"], rows)
        _guard(go)


def _more_words(group: dict, most: int = 3) -> str:
    """The other racing words of a group, named: `+2 more: page1.flags, page2.flags`."""
    others = [w for w in group.get("words", []) if w != group.get("symbol") and w != _hex(group.get("addr"))]
    if not others:
        return ""
    shown = ", ".join(others[:most]) + (f", +{len(others) - most}" if len(others) > most else "")
    return f"\n+{len(others)} more: {shown}"


def _site_summary(sites: list[dict], most: int = 3) -> str:
    """Executed sites as `function (file:line) ×events`, merged by line, the busiest first."""
    merged: dict[str, int] = {}
    for site in sites:
        if site["events"]:
            merged[_where(site)] = merged.get(_where(site), 0) + site["events"]
    if not merged:
        return "none ran"
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{where} ×{n}" for where, n in ranked[:most])
    return text + (f", +{len(ranked) - most} more" if len(ranked) > most else "")
