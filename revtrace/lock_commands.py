"""`revtrace locks RUN`: lockdep over a recorded run (queries/locks.py): lock-order cycles with both
acquisition stacks, locks held while sleeping, unlocks by a thread that does not hold the lock."""

from __future__ import annotations

import typer

from revtrace.output import print_json, print_table

from .query_commands import JsonOpt, RunArg, _guard, _open


def _at(d: dict | None) -> str:
    if not d:
        return "-"
    return f"{d.get('function') or '?'} ({d.get('file') or '?'}:{d.get('line') or '?'}) seq {d['seq']}"


def _stack(edge: dict) -> str:
    return "\n".join(f"{s['lock']} at {_at(s)}" for s in edge["stack"])


def register(app: typer.Typer) -> None:
    @app.command("locks")
    def locks(run: RunArg, json_: JsonOpt = False) -> None:
        """Lock order across the run, as lockdep sees it: every cycle in the lock-order graph (a
        possible circular locking dependency, also when this run did not deadlock) with both
        acquisition stacks, locks held while sleeping, and unlocks by a non-holder."""
        def go():
            with _open(run) as r:
                found = r.locks()
                if json_:
                    print_json(found)
                    return
                problems = found["cycles"] or found["held_while_sleeping"] or found["unlocked_by_non_holder"]
                print(f"{found['locks']} locks, {found['acquisitions']} acquisitions, "
                      f"{len(found['dependencies'])} lock-order dependencies, {len(found['cycles'])} cycles")
                for k, cyc in enumerate(found["cycles"], 1):
                    print(f"possible circular locking dependency {k}: " + " -> ".join(cyc["locks"] + cyc["locks"][:1]))
                    print_table(f"cycle {k}: who held what when it took the next lock",
                                ["thread", "holds", "then takes", "its locks at that moment (where taken)"],
                                [(e["thread"], e["held"], e["taken"], _stack(e)) for e in cyc["edges"]])
                if found["held_while_sleeping"]:
                    print_table("locks held while sleeping", ["lock", "thread", "taken", "sleep"],
                                [(h["lock"], h["thread"], _at(h["acquired"]), _at(h["sleep"]))
                                 for h in found["held_while_sleeping"]])
                if found["unlocked_by_non_holder"]:
                    print_table("unlocked by a thread that does not hold the lock",
                                ["lock", "holder", "taken", "released by", "released"],
                                [(u["lock"], u["holder"] or "(nobody)", _at(u["acquired"]), u["released_by"],
                                  _at(u["released"])) for u in found["unlocked_by_non_holder"]])
                if not problems:
                    print("no lock-order cycle, no lock held while sleeping, no unlock by a non-holder")
        _guard(go)
