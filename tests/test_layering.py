"""The house's rule: imports only point down (revtrace -> queries -> tracer -> sim)."""

import subprocess
import sys

import pytest

FLOORS = {
    "sim.system": {"tracer", "queries", "revtrace"},
    "sim.assembler": {"tracer", "queries", "revtrace"},
    "tracer.record_session": {"queries", "revtrace"},
    "tracer.replay_session": {"queries", "revtrace"},
    "tracer.sweep_session": {"queries", "revtrace"},
    "queries.run": {"sim", "revtrace"},
    "queries.diff": {"sim", "revtrace"},
    "queries.exported": {"sim", "revtrace"},
    # floor 4 reads recordings through tracer/ and queries/; only the command line is above it
    "export.parquet": {"revtrace"},
    "export.perfetto_trace": {"revtrace"},
    "export.timeline": {"revtrace"},
    "hunt.hunt_session": {"revtrace", "export"},
    "hunt.runner": {"revtrace", "export", "queries"},  # a hunt worker only runs the simulator
    "hunt.shrink": {"revtrace", "export", "queries"},
    "sim.explorer": {"tracer", "queries", "revtrace", "hunt", "export"},
}
LOWER_FLOORS = ("sim.", "tracer.", "queries.")
for _module, _forbidden in FLOORS.items():
    if _module.startswith(LOWER_FLOORS):
        _forbidden.add("export")
        _forbidden.add("hunt")


@pytest.mark.parametrize("module", sorted(FLOORS))
def test_imports_point_down(module):
    code = (f"import sys, {module}; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not loaded & FLOORS[module], f"{module} imports {loaded & FLOORS[module]}"
