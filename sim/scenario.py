"""A scenario: a folder with `scenario.toml` and assembly sources, and the options of one run.

`load_scenario` reads and validates the TOML (every mistake is a ScenarioError naming the file and
the key); `RunOptions` are the per-run choices (variant, cores, seed, scheduler, memory model);
`assemble_scenario` turns both into an Image.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ScenarioError
from .program import Image

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "scenarios"
LIB_DIR = Path(__file__).resolve().parent.parent / "data" / "lib"

MEMORY_MODELS = ("sc", "tso")
PREEMPTION_MODELS = ("full", "voluntary")
SCHEDULERS = ("random", "roundrobin", "pct", "pct-mc", "pos", "directed")  # sim.strategies
THREAD_KINDS = ("kernel", "user")


@dataclass(frozen=True)
class MachineSpec:
    name: str
    cores: int
    sources: tuple[str, ...]
    fixed_cores: bool  # --cores does not change it (e.g. a one-core server)


@dataclass(frozen=True)
class ThreadSpec:
    tid: int
    name: str
    entry: str
    machine: str
    cores: tuple[int, ...] | None  # allowed cores; None = any
    kind: str  # kernel or user
    regs: tuple[tuple[int, int | str], ...]  # initial (register, value or constant expression)
    daemon: bool  # the run may complete while it is still blocked or looping
    start: bool  # False: waits for `spawn`


@dataclass(frozen=True)
class Scenario:
    folder: Path
    toml_path: Path
    name: str
    description: str
    machines: tuple[MachineSpec, ...]
    primary: str  # the machine --cores applies to
    threads: tuple[ThreadSpec, ...]
    links: dict[tuple[str, str], int]  # (a, b) -> latency in cycles, both directions
    ports: dict[str, str]  # port name -> machine that receives on it
    variants: dict[str, dict[str, str]]  # variant -> {source as written -> replacement}
    default_variant: str | None
    memory_model: str
    preemption: str
    timeslice: int
    step_limit: int
    pct_steps: int
    params: dict[str, int]
    invariants: tuple[dict, ...]
    orderings: tuple[dict, ...]
    locksets: tuple[dict, ...]
    checks: tuple[dict, ...]  # final-state checks: name, expr, for (sim.checks)
    toml_text: str

    def machine(self, name: str) -> MachineSpec:
        for m in self.machines:
            if m.name == name:
                return m
        raise KeyError(name)

    def port_ids(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.ports)}


@dataclass(frozen=True)
class RunOptions:
    variant: str | None = None
    cores: int | None = None  # cores of the primary machine
    seed: int = 0
    sched: str = "random"
    depth: int = 3  # PCT's bug depth d
    quantum: int = 8  # roundrobin: instructions per turn
    memory_model: str | None = None  # None: the scenario's
    step_limit: int | None = None  # None: the scenario's
    params: tuple[tuple[str, int], ...] = ()  # overrides of the scenario's [params]
    max_burst: int | None = None  # random: bursts of 1..max_burst (None: 32)
    pct_steps: int | None = None  # PCT's k (None: the scenario's pct_steps, else measured)
    check_invariants: bool = False  # evaluate [[invariants]] during the run (sim.checks)
    # directed: (thread, site, occurrence, until thread, until site) each (sim.directed_scheduler)
    directives: tuple[tuple[int, int, int, int, int], ...] = ()

    def with_(self, **changes: Any) -> RunOptions:
        return replace(self, **changes)


def resolve_scenario_path(path: str | Path) -> Path:
    """A scenario folder, its TOML file, or the name of a bundled scenario."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        toml = p / "scenario.toml"
        if toml.is_file():
            return toml
        raise ScenarioError(f"no scenario.toml in {p}")
    bundled = BUNDLED / str(path) / "scenario.toml"
    if bundled.is_file():
        return bundled
    known = sorted(d.name for d in BUNDLED.iterdir() if (d / "scenario.toml").is_file()) if BUNDLED.is_dir() else []
    hint = _suggest(str(path), known)
    raise ScenarioError(f"no such scenario: {path}{hint} (bundled: {', '.join(known)})")


INT_MIN, UINT_MAX = -(1 << 63), (1 << 64) - 1  # a value the machines hold: int64 or uint64


def check_int64(value: int, error) -> int:
    """`value` when it fits a 64-bit word (signed or unsigned); error(message) is raised otherwise."""
    if not INT_MIN <= value <= UINT_MAX:
        raise error(f"{_short(value)} does not fit in 64 bits")
    return value


def _short(value, limit: int = 40) -> str:
    """repr(value), cut to `limit` characters (an error never echoes a huge input back)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {len(str(abs(value))) if value.bit_length() < 14000 else 'thousands of'} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _suggest(name: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class _Table:
    """Reads one TOML table, each mistake reported with the file and the key path."""

    def __init__(self, data: dict, file: Path, where: str):
        self.data, self.file, self.where = data, file, where
        self.used: set[str] = set()

    def err(self, key: str, message: str) -> ScenarioError:
        path = ".".join(p for p in (self.where, key) if p)
        return ScenarioError(f"{path}: {message}", str(self.file))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., choices=None) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.err(key, "missing (required)")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.err(key, f"expected {expected}, got {type(value).__name__} {_short(value)}")
        if kind is int:
            check_int64(value, lambda m: self.err(key, m))
        if choices is not None and value not in choices:
            raise self.err(key, f"must be one of {', '.join(choices)}, got {value!r}{_suggest(str(value), choices)}")
        return value

    def finish(self, known: tuple[str, ...] = ()) -> None:
        for key in self.data:
            if key not in self.used and key not in known:
                raise self.err(key, f"unknown key{_suggest(key, sorted(self.used | set(known)))}")


def load_scenario(path: str | Path) -> Scenario:
    toml_path = resolve_scenario_path(path)
    try:
        text = toml_path.read_text()
        data = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, or an integer of more digits than Python converts
        if not isinstance(e, tomllib.TOMLDecodeError):
            raise ScenarioError(f"invalid TOML: {str(e).split(':')[0]}", str(toml_path)) from None
        # Python 3.14 has e.lineno/e.colno; before, the position is only in the text
        msg = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", msg)
        line, col = getattr(e, "lineno", None), getattr(e, "colno", None)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            msg = msg[:m.start()] + msg[m.end():]
        raise ScenarioError(f"invalid TOML: {getattr(e, 'msg', msg)}", str(toml_path), line, col) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"cannot read: {e}", str(toml_path)) from None
    folder = toml_path.parent
    top = _Table(data, toml_path, "")

    name = top.get("name", str, folder.name)
    description = top.get("description", str, "")
    memory_model = top.get("memory_model", str, "sc", MEMORY_MODELS)
    preemption = top.get("preemption", str, "full", PREEMPTION_MODELS)
    timeslice = top.get("timeslice", int, 200)
    step_limit = top.get("step_limit", int, 2_000_000)
    pct_steps = top.get("pct_steps", int, 0)
    if timeslice <= 0:
        raise top.err("timeslice", "must be positive")
    if step_limit <= 0:
        raise top.err("step_limit", "must be positive")

    machines_data = top.get("machines", dict)
    if not machines_data:
        raise top.err("machines", "at least one machine is needed")
    machines = []
    for mname, mdata in machines_data.items():
        if not isinstance(mdata, dict):
            raise top.err(f"machines.{mname}", "expected a table")
        t = _Table(mdata, toml_path, f"machines.{mname}")
        cores = t.get("cores", int, 1)
        if not 1 <= cores <= 64:
            raise t.err("cores", f"must be between 1 and 64, got {cores}")
        sources = t.get("sources", list)
        for s in sources:
            if not isinstance(s, str):
                raise t.err("sources", f"expected file names, got {s!r}")
            if not (folder / s).is_file():
                raise t.err("sources", f"no such file: {folder / s}")
        fixed = t.get("fixed_cores", bool, False)
        t.finish()
        machines.append(MachineSpec(mname, cores, tuple(sources), fixed))
    machine_names = [m.name for m in machines]
    primary = top.get("primary", str, machine_names[0])
    if primary not in machine_names:
        raise top.err("primary", f"unknown machine {primary!r}{_suggest(primary, machine_names)}")

    threads = []
    for i, tdata in enumerate(top.get("threads", list)):
        if not isinstance(tdata, dict):
            raise top.err(f"threads[{i}]", "expected a table")
        t = _Table(tdata, toml_path, f"threads[{i}]")
        tname = t.get("name", str)
        if any(th.name == tname for th in threads):
            raise t.err("name", f"duplicate thread name {tname!r}")
        machine = t.get("machine", str, machine_names[0])
        if machine not in machine_names:
            raise t.err("machine", f"unknown machine {machine!r}{_suggest(machine, machine_names)}")
        allowed = t.get("cores", list, None)
        if allowed is not None:
            if not allowed or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in allowed):
                raise t.err("cores", f"expected a non-empty list of core numbers, got {_short(allowed)}")
            have = next(m.cores for m in machines if m.name == machine)
            missing = [c for c in allowed if c >= have]
            if missing:
                raise t.err("cores", f"machine {machine!r} has {have} core(s) (0..{have - 1}), "
                                     f"so core {_short(missing[0])} does not exist")
            allowed = tuple(allowed)
        regs_data = t.get("regs", dict, {})
        regs = []
        for rname, value in regs_data.items():
            if not (rname.startswith("r") and rname[1:].isdigit() and 0 <= int(rname[1:]) < 16):
                raise t.err(f"regs.{rname}", "expected a register r0..r15")
            if isinstance(value, str) and value.strip():
                regs.append((int(rname[1:]), value.strip()))  # evaluated with the machine's names
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise t.err(f"regs.{rname}", f"expected an integer or a constant expression (a string such as "
                                             f"\"flag0\", \"N - 1\" or \"page.flags\"), got {_short(value)}")
            check_int64(value, lambda m, r=rname: t.err(f"regs.{r}", m))
            regs.append((int(rname[1:]), value & ((1 << 64) - 1)))
        threads.append(ThreadSpec(
            tid=i, name=tname, entry=t.get("entry", str), machine=machine, cores=allowed,
            kind=t.get("kind", str, "kernel", THREAD_KINDS), regs=tuple(regs),
            daemon=t.get("daemon", bool, False), start=t.get("start", bool, True)))
        t.finish()
    if not threads:
        raise top.err("threads", "at least one thread is needed")

    links: dict[tuple[str, str], int] = {}
    for i, ldata in enumerate(top.get("links", list, [])):
        if not isinstance(ldata, dict):
            raise top.err(f"links[{i}]", "expected a table")
        t = _Table(ldata, toml_path, f"links[{i}]")
        a, b = t.get("a", str), t.get("b", str)
        for key, m in (("a", a), ("b", b)):
            if m not in machine_names:
                raise t.err(key, f"unknown machine {m!r}{_suggest(m, machine_names)}")
        latency = t.get("latency", int, 100)
        if latency < 0:
            raise t.err("latency", "must be >= 0")
        t.finish()
        links[(a, b)] = links[(b, a)] = latency

    ports_data = top.get("ports", dict, {})
    ports: dict[str, str] = {}
    for pname, m in ports_data.items():
        if m not in machine_names:
            raise top.err(f"ports.{pname}", f"unknown machine {m!r}{_suggest(str(m), machine_names)}")
        ports[pname] = m

    variants: dict[str, dict[str, str]] = {}
    for vname, vdata in top.get("variants", dict, {}).items():
        if not isinstance(vdata, dict):
            raise top.err(f"variants.{vname}", "expected a table of source substitutions")
        for src, repl in vdata.items():
            if not isinstance(repl, str) or not (folder / repl).is_file():
                raise top.err(f"variants.{vname}.{src}", f"no such replacement file: {repl!r}")
        variants[vname] = dict(vdata)
    default_variant = top.get("default_variant", str, None)
    if default_variant is not None and default_variant not in variants:
        raise top.err("default_variant", f"unknown variant {default_variant!r}{_suggest(default_variant, list(variants))}")

    params = {}
    for pname, value in top.get("params", dict, {}).items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise top.err(f"params.{pname}", f"expected an integer, got {_short(value)}")
        params[pname] = check_int64(value, lambda m, p=pname: top.err(f"params.{p}", m))

    invariants = tuple(_check_entries(top, "invariants", ("name", "expr"), ("for",)))
    orderings = tuple(_check_entries(top, "orderings", ("name", "before", "after"), (), lists=("before", "after")))
    locksets = tuple(_check_entries(top, "locksets", ("name", "fields", "lock"), (), lists=("fields",)))
    checks = tuple(_check_entries(top, "checks", ("name", "expr"), ("for",)))
    _parse_expressions(toml_path, "invariants", invariants)
    _parse_expressions(toml_path, "checks", checks)
    top.finish()

    return Scenario(
        folder=folder, toml_path=toml_path, name=name, description=description,
        machines=tuple(machines), primary=primary, threads=tuple(threads), links=links,
        ports=ports, variants=variants, default_variant=default_variant,
        memory_model=memory_model, preemption=preemption, timeslice=timeslice,
        step_limit=step_limit, pct_steps=pct_steps, params=params, invariants=invariants,
        orderings=orderings, locksets=locksets, checks=checks, toml_text=text)


def _parse_expressions(toml_path: Path, key: str, entries: tuple[dict, ...]) -> None:
    """A check or invariant that does not parse is refused when the scenario loads."""
    from .state_expr import expand, parse

    for i, entry in enumerate(entries):
        where = f"{key}[{i}] '{entry['name']}'"
        for _, text in expand(entry["name"], entry["expr"], entry.get("for"), where, str(toml_path)):
            parse(text, where, str(toml_path))


def _check_entries(top: _Table, key: str, required: tuple[str, ...], optional: tuple[str, ...],
                   lists: tuple[str, ...] = ()) -> list[dict]:
    """The tables of `[[key]]`, checked: every required key a string (for those in `lists`, a
    string or a non-empty list of strings: `fields = ["req*.wb_flags", "counter"]`)."""
    entries = []
    for i, entry in enumerate(top.get(key, list, [])):
        t = _Table(entry if isinstance(entry, dict) else {}, top.file, f"{key}[{i}]")
        if not isinstance(entry, dict):
            raise t.err("", "expected a table")
        for k in required:
            value = t.get(k, (str, list) if k in lists else str)
            if isinstance(value, list) and not (value and all(isinstance(v, str) for v in value)):
                raise t.err(k, f"expected a string or a non-empty list of strings, got {value!r}")
        for k in optional:
            t.get(k, str, None)
        t.finish()
        entries.append(dict(entry))
    return entries


def effective_cores(scenario: Scenario, options: RunOptions) -> dict[str, int]:
    cores = {}
    for m in scenario.machines:
        n = m.cores
        if options.cores is not None and m.name == scenario.primary and not m.fixed_cores:
            n = options.cores
        cores[m.name] = n
    return cores


def validate_options(scenario: Scenario, options: RunOptions) -> RunOptions:
    """Fill the scenario's defaults in and refuse options that do not fit it."""
    variant = options.variant if options.variant is not None else scenario.default_variant
    if variant is not None and variant not in scenario.variants:
        known = list(scenario.variants)
        raise ScenarioError(
            f"unknown variant {variant!r}{_suggest(variant, known)}"
            f" (this scenario has: {', '.join(known) if known else 'no variants'})", str(scenario.toml_path))
    if options.cores is not None and not 1 <= options.cores <= 64:
        raise ScenarioError(f"--cores must be between 1 and 64, got {options.cores}")
    if options.sched not in SCHEDULERS:
        raise ScenarioError(f"unknown scheduler {options.sched!r}{_suggest(options.sched, SCHEDULERS)}")
    if options.depth < 1:
        raise ScenarioError(f"--depth must be at least 1, got {options.depth}")
    if options.max_burst is not None and not 1 <= options.max_burst <= 65536:
        raise ScenarioError(f"--max-burst must be between 1 and 65536, got {options.max_burst}")
    if options.max_burst is not None and options.sched not in ("random", "directed"):
        raise ScenarioError(f"--max-burst applies to the random scheduler, not {options.sched}")
    if options.directives and options.sched != "directed":
        raise ScenarioError(f"directives apply to the directed scheduler, not {options.sched}")
    for d in options.directives:
        if len(d) != 5 or not all(type(v) is int for v in d) or not (
                0 <= d[0] < len(scenario.threads) and 0 <= d[3] < len(scenario.threads) and d[2] >= 1):
            raise ScenarioError(f"bad directive {d!r}: expected (thread, site, occurrence >= 1, until thread, "
                                f"until site) with thread ids below {len(scenario.threads)}")
    if options.pct_steps is not None and options.pct_steps < 2:
        raise ScenarioError(f"--pct-steps must be at least 2, got {options.pct_steps}")
    if options.quantum < 1:
        raise ScenarioError(f"--quantum must be at least 1, got {options.quantum}")
    mm = options.memory_model or scenario.memory_model
    if mm not in MEMORY_MODELS:
        raise ScenarioError(f"unknown memory model {mm!r}{_suggest(mm, MEMORY_MODELS)}")
    limit = options.step_limit if options.step_limit is not None else scenario.step_limit
    if limit < 1:
        raise ScenarioError(f"--step-limit must be positive, got {limit}")
    for pname, _ in options.params:
        if pname not in scenario.params:
            raise ScenarioError(f"unknown parameter {pname!r}{_suggest(pname, list(scenario.params))}"
                                f" (this scenario has: {', '.join(scenario.params) or 'none'})")
    if not 0 <= options.seed <= UINT_MAX:
        raise ScenarioError(f"--seed must be between 0 and 2**64-1, got {_short(options.seed)}")
    for pname, value in options.params:
        check_int64(value, lambda m, p=pname: ScenarioError(f"--param {p}: {m}"))
    return options.with_(variant=variant, memory_model=mm, step_limit=limit)


def assemble_scenario(scenario: Scenario, options: RunOptions) -> Image:
    from .assembler import ExpressionError, assemble  # the assembler is only needed here

    variant = options.variant
    subs = {src: scenario.folder / repl for src, repl in scenario.variants.get(variant, {}).items()} if variant else {}
    params = dict(scenario.params)
    params.update(dict(options.params))
    predefined = {t.name: t.tid for t in scenario.threads}
    for pname, value in params.items():
        if pname in predefined:
            raise ScenarioError(f"params.{pname}: the name is already a thread's", str(scenario.toml_path))
        predefined[pname] = value
    sources = {m.name: [scenario.folder / s for s in m.sources] for m in scenario.machines}
    threads = [(t.name, t.machine, t.entry) for t in scenario.threads]
    expressions: dict[str, list[str]] = {}
    for t in scenario.threads:
        expressions.setdefault(t.machine, []).extend(v for _, v in t.regs if isinstance(v, str))
    try:
        image = assemble(sources, predefined=predefined, ports=scenario.port_ids(), lib_dirs=[LIB_DIR],
                         base_dir=scenario.folder, substitutions=subs, threads=threads, expressions=expressions)
    except ExpressionError as e:
        t, r = next((t, r) for t in scenario.threads for r, v in t.regs if (t.machine, v) == (e.machine, e.text))
        raise ScenarioError(f"threads[{t.tid}].regs.r{r}: {e.message} (in {e.text!r})", str(scenario.toml_path)) from None
    for t in scenario.threads:
        labels = image.machines[t.machine].labels
        if t.entry not in labels:
            raise ScenarioError(f"threads[{t.tid}].entry: no function {t.entry!r} on machine {t.machine!r}"
                                f"{_suggest(t.entry, sorted(labels))}", str(scenario.toml_path))
    return image


def scenario_hash(scenario: Scenario, image: Image) -> str:
    """A hash of the TOML and every source the image was assembled from, in a stable order."""
    h = hashlib.sha256()
    h.update(scenario.toml_text.encode())
    for name in sorted(image.sources):
        h.update(b"\0" + name.encode() + b"\0" + image.sources[name].encode())
    return h.hexdigest()

