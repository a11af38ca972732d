"""Shrinking: the story names what a preempted thread ran last; the candidates' shortcuts."""

from __future__ import annotations

from hunt.shrink import _Tracker, _few
from sim.explorer import _memory_plan, _state_key
from sim.scenario import RunOptions, load_scenario
from sim.schedule import Schedule
from sim.system import System


def _told(scenario: str, steps: list) -> list[tuple]:
    sc = load_scenario(scenario)
    system = System(sc, RunOptions(), schedule=Schedule(["host:0", "host:1"], "sc", steps))
    tracker = _Tracker(system, player=system.scheduler, tell=True)
    system.scheduler = tracker
    system._decide = system._decide_hooked
    system.run()
    return tracker.story


def test_the_story_names_the_last_instruction_the_preempted_thread_ran():
    # counter.s: 7 `mov r1, N`, 9 `ld r2, [counter]`, 10 `add r2, 1`, 11 `st [counter], r2`.
    # t0 runs three instructions (7, 9, 10) and is preempted before the store; t1 runs two (7, 9).
    story = _told("race_counter_asm", [[0, 3], [1, 2], [0, 4]])
    assert story[:2] == [("t0", "after worker counter.s:10", "t1"), ("t1", "after worker counter.s:9", "t0")]


def test_the_cheap_pass_tries_none_then_each_alone():
    tried = []

    def needs(x):
        def test(subset):
            tried.append(list(subset))
            return x in subset
        return test

    assert _few([1, 2, 3], needs(2)) == [2] and tried == [[], [1], [2]]
    tried.clear()
    assert _few([1, 2, 3], lambda s: tried.append(list(s)) or len(s) == 2) is None and len(tried) == 4
    assert _few([1, 2], lambda s: True) == []


def test_the_state_key_covers_live_stack_frames_but_not_dead_ones():
    system = System(load_scenario("nfs_vmxmon"), RunOptions(cores=2))
    plans = _memory_plan(system)
    flusher = system.threads[0]
    mem = system.machines[flusher.machine].mem
    lo, hi = system.image.stacks[flusher.name]
    key = _state_key(system, plans)
    flusher.regs[15] = hi - 4  # four live words
    live = _state_key(system, plans)
    mem[hi - 8] = 7  # below sp: what a returned frame left
    assert _state_key(system, plans) == live != key
    mem[hi - 2] = 7  # a live local
    assert _state_key(system, plans) != live
    mem[hi - 2] = 0
    mem[0] = mem[0] + 1  # a global
    assert _state_key(system, plans) != live
