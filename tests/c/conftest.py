"""Helpers for the C front-end tests: run C in the simulator, and natively through gcc.

    def test_x(crun):
        system, outcome = crun("long out[1]; void test_main(void) { out[0] = 6 * 7; }")
        assert crun.out(system, 1) == [42]

`differential(source, n)` runs a program that fills `unsigned long out[n]` from `test_main` both
ways and returns (simulated, native) lists; tests that need gcc skip with a reason without it.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from sim.scenario import RunOptions, load_scenario
from sim.system import System

GCC = shutil.which("gcc")
NATIVE_MAIN = """
#include <stdio.h>
int main(void) {{
    test_main();
    for (int i = 0; i < {n}; i++) printf("%lu\\n", (unsigned long)out[i]);
    return 0;
}}
"""


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"


class CRunner:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.n = 0

    def scenario(self, source: str | None = None, *, entry: str = "test_main", threads=None, cores: int = 1,
                 files: dict[str, str] | None = None, sources=None, extra_toml: str = "", top: str = "") -> Path:
        self.n += 1
        folder = self.tmp / f"c{self.n}"
        folder.mkdir()
        files = dict(files or {})
        if source is not None:
            files["prog.c"] = source
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(textwrap.dedent(text))
        srcs = sources or list(files)
        if threads is None:
            threads = [{"name": "main", "entry": entry}]
        tlines = []
        for t in threads:
            tlines.append("[[threads]]")
            for k, v in t.items():
                tlines.append(f"{k} = {_toml(v)}")
        src_list = ", ".join(f'"{s}"' for s in srcs)
        toml = f'name = "c{self.n}"\n{top}\n[machines.m]\ncores = {cores}\nsources = [{src_list}]\n' \
               + "\n".join(tlines) + "\n" + extra_toml
        (folder / "scenario.toml").write_text(toml)
        return folder

    def __call__(self, source: str | None = None, *, seed: int = 0, options: RunOptions | None = None,
                 observer=None, **kw):
        folder = self.scenario(source, **kw)
        system = System(load_scenario(folder), options or RunOptions(seed=seed), observer=observer)
        return system, system.run()

    @staticmethod
    def out(system, n: int, name: str = "out") -> list[int]:
        return [system.read_symbol(f"{name}[{i}]") for i in range(n)]

    def native(self, source: str, n: int) -> list[int]:
        if GCC is None:
            pytest.skip("gcc is not installed: the differential tests compare against gcc -O0")
        self.n += 1
        c = self.tmp / f"native{self.n}.c"
        exe = self.tmp / f"native{self.n}"
        c.write_text(source + NATIVE_MAIN.format(n=n))
        r = subprocess.run([GCC, "-O0", "-fwrapv", "-w", "-o", str(exe), str(c)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        return [int(x) for x in out.stdout.split()]

    def differential(self, source: str, n: int) -> tuple[list[int], list[int]]:
        native = self.native(source, n)
        system, outcome = self(source)
        assert outcome.outcome == "completed", (outcome, source)
        return self.out(system, n), native


@pytest.fixture
def crun(tmp_path) -> CRunner:
    return CRunner(tmp_path)


class Log:
    """A minimal observer: (kind, thread name, symbol, mode, C line) of every event."""

    def __init__(self):
        self.system = None
        self.events: list[tuple] = []

    def attach(self, system) -> None:
        self.system = system

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=0):
        from sim.observer import KIND_NAMES, MODE_NAMES
        img = self.system.image
        sym = img.symbol_at(addr) if addr >= 0 else None
        s = img.sites[site] if site >= 0 else None
        self.events.append((KIND_NAMES[kind], core.thread.name if core.thread else None,
                            sym.name if sym else None, MODE_NAMES[mode], s.line if s else None, old, new))

    def of(self, symbol: str) -> list[tuple]:
        return [e for e in self.events if e[2] == symbol]


@pytest.fixture
def clog():
    return Log
