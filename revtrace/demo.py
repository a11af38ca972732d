"""`revtrace demo`: the NFS write-back x VMXMON story, found, explained and diffed, in seconds.

Every step is a real command run on the bundled scenario; the demo prints the command so that the
reader can run it again by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.rule import Rule
from rich.text import Text

from sim.scenario import RunOptions

from .output import console, literal, print_table

SCENARIO = "nfs_vmxmon"


def _step(title: str, command: str | None = None) -> None:
    console.print()
    console.print(Rule(title, align="left", style="cyan"))
    if command:
        console.print(f"$ {command}", style="dim", markup=False)


def _who(w: dict | None) -> str:
    if w is None:
        return "nothing wrote it"
    bits = " ".join(w.get("bits_changed") or w.get("bits") or [])
    return (f"seq {w['seq']}: thread {w['thread']} on {w['machine']} core {w['core']}, "
            f"{w['function']} ({w['file']}:{w['line']}) {w['old']:#x} -> {w['new']:#x} {bits}").strip()


def run_demo(out: Path, cores: int = 2, seeds: range = range(0, 200), jobs: int = 2, quiet: bool = False) -> dict:
    """Returns what it found (for --json and tests); prints the story as it goes unless quiet."""
    console.quiet = quiet
    from queries import open_run
    from queries.diff import diff_runs
    from tracer.record_session import record
    from tracer.sweep_session import sweep

    found: dict = {"out": str(out)}
    console.print(f"[bold]revtrace demo[/bold]: the NFS write-back x VMXMON race "
                  f"(data/scenarios/{SCENARIO}), on a simulated {cores}-core NFS client and a 1-core server")

    # 1. hunt -------------------------------------------------------------------------------
    span = f"{seeds.start}..{seeds.stop - 1}"
    _step("1. Hunt: run v2 (after the one-line change) for many seeds",
          f"revtrace sweep {SCENARIO} --variant v2 --cores {cores} --seeds {span}")
    hunt = sweep(SCENARIO, RunOptions(variant="v2", cores=cores), seeds, jobs=jobs).as_dict()
    console.print(f"v2 on {cores} cores: {hunt['outcomes']}  failing seeds: "
                  f"{', '.join(map(str, hunt['failing'][:12]))}{' ...' if len(hunt['failing']) > 12 else ''}",
                  markup=False)
    short = range(seeds.start, min(seeds.stop, seeds.start + 100))
    one_core = sweep(SCENARIO, RunOptions(variant="v2", cores=1), short, jobs=jobs).as_dict()
    v1 = sweep(SCENARIO, RunOptions(variant="v1", cores=cores), short, jobs=jobs).as_dict()
    console.print(f"v2 on 1 core, seeds {short.start}..{short.stop - 1}: {one_core['outcomes']}   "
                  f"v1 on {cores} cores: {v1['outcomes']}", markup=False)
    found["sweep"] = {"v2": hunt["outcomes"], "v2_one_core": one_core["outcomes"], "v1": v1["outcomes"]}
    if not hunt["failing"]:
        console.print("no seed crashed in this range; try --seeds 0..999", markup=False)
        return found
    seed = hunt["failing"][0]
    found["seed"] = seed

    # 2. record ------------------------------------------------------------------------------
    _step(f"2. Record v1 and v2 with seed {seed}",
          f"revtrace record {SCENARIO} --variant v2 --cores {cores} --seed {seed} -o {out / 'v2'}")
    runs = {}
    for variant in ("v1", "v2"):
        runs[variant] = record(SCENARIO, out / variant, force=True, variant=variant, cores=cores, seed=seed)
        m = runs[variant].meta
        console.print(f"{variant}: {m['outcome']}, {m['instructions']:,} instructions, {m['events']:,} events "
                      f"-> {runs[variant].path}", markup=False)
    panic = runs["v2"].meta["panic"]
    found["panic"] = panic
    console.print(Text.assemble(("panic", "bold red"), literal(
        f" on {panic['machine']} core {panic['core']}, thread {panic['thread']}, "
        f"{panic['file']}:{panic['line']} ({panic['function']}):")))
    console.print(f"  {panic['message']}", markup=False)

    v2 = out / "v2"
    with open_run(v2, progress=False) as run:
        # 3. which invariant broke, and when -----------------------------------------------
        _step("3. When was the invariant broken, and by whom?", f"revtrace windows {v2}")
        windows = run.windows()
        fatal = next((w for w in windows if w.get("end_reason") == "panic" or w.get("closed_by") is None),
                     windows[-1] if windows else None)
        found["window"] = fatal
        if fatal is None:
            console.print("no invariant window", markup=False)
            return found
        page = _page_of(fatal["invariant"])
        opened = fatal.get("opened_by") or {}
        console.print(f"'{fatal['invariant']}' false from seq {fatal['start_seq']} (cycle {fatal['start_cycle']}) "
                      f"to seq {fatal['end_seq']} (cycle {fatal['end_cycle']}), "
                      f"{fatal['end_seq'] - fatal['start_seq']} events: ended by the panic", markup=False)
        console.print(f"  opened by {_who(opened) if isinstance(opened, dict) else opened}", markup=False)

        # 4. last writers -----------------------------------------------------------------
        _step("4. Who last wrote the flags the BUG_ON saw?",
              f"revtrace last-writer {v2} page{page}.flags:PG_dirty --before panic")
        dirty = run.last_writer(f"page{page}.flags:PG_dirty", before="panic")
        clean = run.last_writer(f"req{page}.wb_flags:PG_CLEAN", before="panic")
        found["last_writer_dirty"], found["last_writer_clean"] = dirty, clean
        console.print(f"page{page}.flags:PG_dirty     <- {_who(dirty)}", markup=False)
        console.print(f"req{page}.wb_flags:PG_CLEAN  <- {_who(clean)}", markup=False)
        console.print(f"the BUG_ON ran on core {panic['core']} ({panic['thread']}); PG_dirty was set on core "
                      f"{dirty['core'] if dirty else '?'} by {dirty['thread'] if dirty else '?'}", markup=False)

        # 5. the race -----------------------------------------------------------------------
        _step("5. Which accesses race (not ordered by happens-before)?", f"revtrace races {v2}")
        writers = {w["function"] for w in (dirty, clean) if w}
        races = [r for r in run.races() if r["symbol"] in (f"page{page}.flags", f"req{page}.wb_flags")]
        culprits = [r for r in races if {r["first"]["function"], r["second"]["function"]} <= writers | {""}
                    and r["first"]["thread"] != r["second"]["thread"]]
        found["races"] = culprits or races
        console.print(f"{len(races)} racing site pairs on page{page}.flags and req{page}.wb_flags; "
                      f"between the two writers above:", markup=False)
        print_table(None, ["symbol", "first", "second", "count"],
                    [(r["symbol"], _side(r["first"]), _side(r["second"]), r["count"]) for r in (culprits or races)[:6]])

        # 6. the lock discipline ------------------------------------------------------------
        _step("6. Which declared rule did the code break?", f"revtrace hb {v2}")
        hb = run.hb()
        broken = []
        for rule in hb.get("locksets", []):
            for v in rule.get("violations", []):
                broken.append((rule["lockset"], v))
        found["lockset_violations"] = [v for _, v in broken]
        for name, v in broken[:4]:
            site, first = v["site"], v["first"]
            console.print(f"'{name}': {v['symbol']} accessed by {first['thread']} in {site['function']} "
                          f"({site['file']}:{site['line']}) without {v['lock']} ({v['count']}x)", markup=False)
        held = [o for o in hb.get("orderings", []) if o.get("holds")]
        for o in held:
            console.print(f"ordering '{o['ordering']}' holds ({o['checked']} events checked)", markup=False)

    # 7. v1 loses data ------------------------------------------------------------------------
    v1_dir = out / "v1"
    _step("7. And v1? It never crashes, but VMXMON's data never reaches the server",
          f"revtrace value {v1_dir} page{page}.data[0]   # and server_page{page}.data[0]")
    with open_run(v1_dir, progress=False) as run:
        mine = run.value(f"page{page}.data[0]")
        server = run.value(f"server_page{page}.data[0]")
        writer = run.last_writer(f"page{page}.data[0]")
    found["v1_lost"] = {"page": mine["value"], "server": server["value"]}
    console.print(f"page{page}.data[0] = {mine['value']} (last written by {writer['thread'] if writer else '?'} in "
                  f"{writer['function'] if writer else '?'}), server_page{page}.data[0] = {server['value']}: "
                  + ("lost" if mine["value"] != server["value"] else "same"), markup=False)

    # 8. diff ---------------------------------------------------------------------------------
    _step("8. What did the one-line change change?", f"revtrace diff {v1_dir} {v2}")
    d = diff_runs(v1_dir, v2)
    found["diff"] = {"code_changes": d["code_changes"], "outcome_a": d["outcome_a"], "outcome_b": d["outcome_b"]}
    for c in d["code_changes"]:
        console.print(f"only in {'v1' if c['side'] == 'a' else 'v2'}: {c['file']}:{c['line']} in {c['function']}: "
                      f"{c['text']}", markup=False)
    fd = d["first_divergence"].get("vmxmon")
    if fd:
        console.print(f"vmxmon first diverges after {fd['matched_before']} identical events: v2 goes on into "
                      f"{fd['b']['function']} ({fd['b']['file']}:{fd['b']['line']})", markup=False)
    flags = [g for g in d["only_in_b"] if g["bits"] not in ("", "value")][:6]
    print_table("flag writes only in v2", ["thread", "function", "symbol", "change", "count"],
                [(g["thread"], g["function"], g["symbol"], g["bits"], g["count"]) for g in flags])
    # 9. the picture -----------------------------------------------------------------------------
    first = max(0, found["window"]["start_seq"] - 40)
    picture = out / "v2-timeline.png"
    _step("9. The picture: who ran where when the invariant broke",
          f"revtrace timeline {v2} -o {picture} --from {first}")
    from export.timeline import draw_timeline

    drawn = draw_timeline(v2, picture, first=first)
    found["timeline"] = {k: drawn[k] for k in ("out", "from", "to", "lanes", "writes", "windows", "races", "panic")}
    console.print(f"{picture}: {', '.join(drawn['lanes'])}; {drawn['writes']} writes to {', '.join(drawn['watch'])}, "
                  f"the window shaded, {drawn['races']} race pairs joined, the panic marked", markup=False)
    console.print()
    console.print(f"Run directories are in {out}/. Try: revtrace replay {v2} --to panic   "
                  f"revtrace sql {v2} \"SELECT * FROM events_named LIMIT 5\"", markup=False)
    return found


def _page_of(invariant: str) -> int:
    m = re.search(r"\[(\d+)\]", invariant or "")
    return int(m.group(1)) if m else 0


def _side(s: dict) -> str:
    return f"{s['thread']} core {s['core']} {s['kind']} {s['function']} ({s['file']}:{s['line']}) seq {s['seq']}"
