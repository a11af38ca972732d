"""Which scheduler a run gets (`--sched`), each a deterministic function of the seed.

    random      a uniform choice of core per burst of 1..32 instructions (`--max-burst N`: 1..N)
    roundrobin  cores in turn, `--quantum` instructions each; the seed plays no part
    pct         PCT (sim.scheduler.PCTScheduler): random thread priorities, d-1 change points
    pct-mc      PCT whose change points fall only where two or more cores can run (sim.pct_multicore)
    pos         partial order sampling (sim.pos_scheduler)
    directed    random, plus delays that force chosen orderings (sim.directed_scheduler; hunt/)

PCT's k, the steps its change points are drawn from: `--pct-steps`, else the scenario's
`pct_steps`, else measured: the length of the run with the random scheduler and seed 0 under the
same options (for pct-mc, its overlap steps). The measurement is a function of the scenario and
options, run once per process and options (a sweep measures once, before its seeds).
"""

from __future__ import annotations

from .scheduler import RandomScheduler, RoundRobinScheduler, Scheduler

SCHEDULERS = ("random", "roundrobin", "pct", "pct-mc", "pos", "directed")

_measured: dict[tuple, int] = {}


class _OverlapCounter(RandomScheduler):
    """The random scheduler, counting the instructions run while two or more cores could run."""

    def __init__(self, seed: int, max_burst: int):
        super().__init__(seed, max_burst)
        self.inner_pick = self.pick
        self.pick = self._counting_pick
        self.overlap = 0
        self.prev = (0, False)

    def _counting_pick(self, active, instructions):
        before, overlapping = self.prev
        if overlapping:
            self.overlap += instructions - before
        self.prev = (instructions, len(active) >= 2)
        return self.inner_pick(active, instructions)


def measured_pct_steps(scenario, options, image=None) -> int:
    """k for PCT: the instructions (pct-mc: overlap steps) of the random run with seed 0."""
    key = (str(scenario.toml_path), scenario.toml_text, options.variant, options.cores, options.memory_model,
           options.step_limit, options.params, options.sched)
    steps = _measured.get(key)
    if steps is None:
        from .system import System

        system = System(scenario, options.with_(sched="random", seed=0, max_burst=None, check_invariants=False,
                                                directives=()),
                        image=image)
        counter = system.scheduler = _OverlapCounter(0, 32)
        outcome = system.run()
        if counter.prev[1]:
            counter.overlap += outcome.instructions - counter.prev[0]
        steps = _measured[key] = max(2, counter.overlap if options.sched == "pct-mc" else outcome.instructions)
    return steps


def pct_steps(scenario, options, image=None) -> int:
    if options.pct_steps is not None:
        return options.pct_steps
    if scenario.pct_steps:
        return scenario.pct_steps
    return measured_pct_steps(scenario, options, image)


def make_scheduler(scenario, options, threads: int, image=None) -> Scheduler:
    sched, seed = options.sched, options.seed
    if sched == "random":
        return RandomScheduler(seed, options.max_burst or 32)
    if sched == "roundrobin":
        return RoundRobinScheduler(options.quantum)
    if sched == "directed":
        from .directed_scheduler import DirectedScheduler

        if image is None or any(not 0 <= d[1] < len(image.sites) or d[4] >= len(image.sites)
                                for d in options.directives):
            from .errors import ScenarioError

            raise ScenarioError("a directive names a site this program does not have")
        return DirectedScheduler(seed, options.directives, image, options.max_burst or 32)
    if sched == "pos":
        from .pos_scheduler import POSScheduler

        return POSScheduler(seed)
    steps = pct_steps(scenario, options, image)
    if sched == "pct-mc":
        from .pct_multicore import MultiCorePCTScheduler

        return MultiCorePCTScheduler(seed, threads, options.depth, steps)
    from .scheduler import PCTScheduler

    return PCTScheduler(seed, threads, options.depth, steps)
