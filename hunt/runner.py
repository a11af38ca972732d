"""One hunt run, in a worker (a process or a Ray task): the outcome and its reads-from pairs."""

from __future__ import annotations

from sim.checks import InvariantWatch
from sim.scenario import RunOptions, load_scenario
from sim.system import System

from .reads_from import ReadsFrom


class _Both:
    """Reads-from coverage and, with --check-invariants, the invariant watch, as one observer."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def attach(self, system) -> None:
        self.first.attach(system)
        self.second.attach(system)

    def event(self, *args) -> None:
        self.first.event(*args)
        self.second.event(*args)


def run_candidate(scenario: str, options: RunOptions, seed: int, directives: tuple) -> dict:
    sc = load_scenario(scenario)
    coverage = ReadsFrom()
    observer = _Both(coverage, InvariantWatch()) if options.check_invariants and sc.invariants else coverage
    system = System(sc, options.with_(sched="directed", seed=seed, directives=directives), observer=observer)
    outcome = system.run()
    return {**outcome.as_dict(), "seed": seed, "directives": [list(d) for d in directives],
            "rf": coverage.examples(), "writers": coverage.writer_sites()}
