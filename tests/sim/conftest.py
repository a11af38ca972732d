"""Shared helpers for the simulator tests: scenario folders in tmp_path, runs, a recording observer.

Test modules get the helpers through fixtures (`rig`, `make_scenario`, `run_source`) so that they
never import this file by name; `EventLog` is reachable as `rig.EventLog`.

    def test_x(rig):
        system, outcome = rig.run("main:\\n    mov r1, 3\\n    halt\\n")
        assert system.threads[0].regs[1] == 3
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from sim.observer import KIND_NAMES, MODE_NAMES, SWITCH
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from sim.thread import RUNNING


class Ev(NamedTuple):
    """One observer report, with the clock and the thread that made it."""

    cycle: int
    machine: int
    core: int
    thread: int
    kind: str
    addr: int
    old: int
    new: int
    site: int
    sync: int
    atomic: bool
    mode: str = "plain"  # the access mode (sim.observer.MODE_NAMES)


class EventLog:
    """A recording observer. Besides the events it checks, at every report, the invariants every
    event must satisfy: the reporting core runs a RUNNING thread, and a core that switches threads
    has an empty store buffer. `on_event(log, ev)` is called after each report when given."""

    def __init__(self, on_event=None):
        self.system: System | None = None
        self.events: list[Ev] = []
        self.on_event = on_event
        self.violations: list[str] = []

    def attach(self, system) -> None:
        assert self.system is None, "attach called twice"
        assert not self.events, "attach after an event"
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=0):
        t = core.thread
        if t is None:
            self.violations.append(f"{KIND_NAMES[kind]} on idle core {core}")
        elif t.state != RUNNING:
            self.violations.append(f"{KIND_NAMES[kind]} by thread {t.name} in state {t.state}")
        if kind == SWITCH and core.sb is not None and core.sb.entries:
            self.violations.append(f"switch on {core} with a non-empty store buffer")
        e = Ev(self.system.cycle, core.mid, core.index, t.tid if t is not None else -1, KIND_NAMES[kind],
               addr, old, new, site, sync, bool(atomic), MODE_NAMES[mode])
        self.events.append(e)
        if self.on_event is not None:
            self.on_event(self, e)

    # views
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, *kinds: str) -> list[Ev]:
        return [e for e in self.events if e.kind in kinds]

    def without(self, *kinds: str) -> list[Ev]:
        return [e for e in self.events if e.kind not in kinds]

    def tuples(self) -> list[tuple]:
        return [tuple(e) for e in self.events]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def _thread_spec(i: int, t) -> dict:
    if isinstance(t, str):
        return {"name": f"T{i}", "entry": t}
    d = dict(t)
    d.setdefault("name", f"T{i}")
    return d


def write_scenario(folder: Path, toml: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(textwrap.dedent(toml))
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


_counter = [0]


def make_scenario(tmp_path: Path, source: str | None = None, threads=("main",), cores: int = 1,
                  extra_toml: str = "", *, machines: dict[str, dict] | None = None,
                  files: dict[str, str] | None = None, name: str | None = None, **top) -> Path:
    """Write a scenario folder under tmp_path and return it.

    One machine `host` with `cores` cores running `source` (file `main.s`), unless `machines`
    gives {machine: {"cores": n, "source": text, ...other keys}}. `threads`: entry label strings
    (named T0, T1, ...) or dicts of thread keys. `top`: top-level keys (preemption, timeslice, ...).
    `extra_toml` is appended verbatim (links, ports, params, variants, ...).
    """
    _counter[0] += 1
    folder = tmp_path / (name or f"scn{_counter[0]}")
    files = dict(files or {})
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    body = []
    if machines is None:
        machines = {"host": {"cores": cores, "source": source}}
    for mname, spec in machines.items():
        spec = dict(spec)
        src = spec.pop("source", None)
        if src is not None:
            fname = f"{mname}.s" if len(machines) > 1 else "main.s"
            files[fname] = src
            spec.setdefault("sources", [fname])
        body.append(f"\n[machines.{mname}]")
        body += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
    for i, t in enumerate(threads):
        body.append("\n[[threads]]")
        body += [f"{k} = {_toml_value(v)}" for k, v in _thread_spec(i, t).items()]
    toml = "\n".join(lines + body) + "\n" + textwrap.dedent(extra_toml)
    return write_scenario(folder, toml, files)


def build(folder: Path, observer=None, **options) -> System:
    return System(load_scenario(folder), RunOptions(**options), observer=observer)


def run_source(tmp_path: Path, source: str, *, observe: bool = False, options: dict | None = None,
               **scenario_kw) -> tuple[System, Any]:
    """Write the scenario, build and run it. With observe=True the system has an EventLog
    (system.observer). Returns (system, outcome)."""
    folder = make_scenario(tmp_path, source, **scenario_kw)
    system = build(folder, EventLog() if observe else None, **(options or {}))
    return system, system.run()


def site_line(system: System, ev: Ev) -> int:
    return system.image.sites[ev.site].line


def memory(system: System) -> list[list[int]]:
    return [m.mem[:] for m in system.machines]


class Rig:
    """The helpers bound to one test's tmp_path."""

    EventLog = EventLog
    Ev = Ev

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path

    def scenario(self, source=None, **kw) -> Path:
        return make_scenario(self.tmp_path, source, **kw)

    def write(self, toml: str, files: dict[str, str] | None = None, name: str | None = None) -> Path:
        _counter[0] += 1
        return write_scenario(self.tmp_path / (name or f"raw{_counter[0]}"), toml, files or {})

    def system(self, source=None, *, observe=False, options=None, observer=None, **kw) -> System:
        folder = self.scenario(source, **kw)
        return build(folder, observer if observer is not None else (EventLog() if observe else None),
                     **(options or {}))

    def run(self, source, **kw):
        system = self.system(source, **kw)
        return system, system.run()

    build = staticmethod(build)
    site_line = staticmethod(site_line)
    memory = staticmethod(memory)


@pytest.fixture
def rig(tmp_path) -> Rig:
    return Rig(tmp_path)
