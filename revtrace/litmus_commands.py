"""`revtrace litmus`: run litmus tests in herd's format and print herd's report.

The report is herd7's, field for field (herdtools7 herd/top_herd.ml): `Test NAME KIND`, `States N`
and the final states, `Ok`/`No`, `Witnesses` with `Positive: P Negative: N`, `Condition`,
`Observation NAME Never|Always|Sometimes P N` and `Time NAME S`. After it come what herd cannot
say: a histogram with the number of runs per final state (litmus7's `*>` marks the states that
satisfy the proposition) and the verdict of this run of this model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.errors import SimError

from .output import fail, print_json

Files = Annotated[list[str], typer.Argument(help="Litmus test files in herd's format (x86 or C), or folders of them.")]
LitmusModel = Annotated[str, typer.Option("--memory-model", "-m", help="tso (x86-TSO) or sc.")]
Runs = Annotated[int | None, typer.Option("--runs", "-n", help="Seeded runs per test (default 1000).")]
Exhaustive = Annotated[bool, typer.Option("--exhaustive", help="Enumerate every execution of the store-buffer machine: an exact verdict.")]
LitmusSeed = Annotated[int, typer.Option("--seed", "-s", help="The first seed; runs use seeds SEED..SEED+RUNS-1.")]
MaxBurst = Annotated[int, typer.Option("--max-burst", help="Longest burst of instructions a core runs between scheduling decisions.")]
DrainProbability = Annotated[float, typer.Option("--drain-probability", help="Chance, at each scheduling decision, that one buffered store drains (tso).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
Engine = Annotated[str, typer.Option("--engine", help="--exhaustive: litmus (the store-buffer machine's own enumeration, default) or explore (sim.explorer's final_states).")]

DEFAULT_RUNS = 1000


def state_line(shown, state) -> str:
    """One final state as herd prints it: `0:EAX=0; 1:EAX=1; [x]=1;`."""
    from sim.litmus.condition import signed

    return " ".join(f"{loc}={signed(v)};" for loc, v in zip(shown, state))


def observation(positive: int, negative: int) -> str:
    return "Never" if positive == 0 else "Always" if negative == 0 else "Sometimes"


def verdict(result) -> tuple[str, str]:
    """(Allowed | Forbidden | Required | Not required, the sentence that says on what evidence)."""
    cond = result.program.test.condition
    n, exhaustive = result.runs, result.exhaustive
    if cond.kind == "forall":
        if result.negative == 0:
            return "Required", ("Required: the condition held in every execution (exhaustive)" if exhaustive
                                else f"Required: the condition held in all {n:,} runs")
        return "Not required", (f"Not required: the condition failed in {result.negative:,} of {n:,} "
                                + ("executions (exhaustive)" if exhaustive else "runs"))
    if result.positive:
        if exhaustive:
            return "Allowed", f"Allowed: reached in {result.positive:,} of {n:,} executions (exhaustive)"
        return "Allowed", f"Allowed: seen in {result.positive:,} of {n:,} runs ({100.0 * result.positive / n:.2f}%)"
    if exhaustive:
        return "Forbidden", (f"Forbidden by this model (exhaustive: {result.explored:,} machine states, "
                             f"{n:,} executions)")
    return "Forbidden", f"Forbidden by this model in {n:,} runs"


def herd_report(result) -> str:
    test = result.program.test
    cond = test.condition
    pos, neg = cond.witnesses(result.positive, result.negative)
    lines = [f"Test {test.name} {cond.kind_name}", f"States {len(result.states)}"]
    lines += [state_line(result.shown, s) for s in result.states]
    lines.append(("Loop " if result.incomplete else "") + ("Ok" if cond.holds(result.positive, result.negative) else "No"))
    lines += ["Witnesses", f"Positive: {pos} Negative: {neg}", f"Condition {cond}",
              f"Observation {test.name} {observation(result.positive, result.negative)} {result.positive} {result.negative}",
              f"Time {test.name} {result.seconds:.2f}"]
    return "\n".join(lines)


def histogram(result) -> str:
    width = max((len(str(n)) for n in result.states.values()), default=1)
    if result.exhaustive:
        head = (f"Histogram ({len(result.states)} states, {result.runs} executions, {result.memory_model}, "
                f"exhaustive: {result.explored:,} machine states)")
    else:
        head = (f"Histogram ({len(result.states)} states, {result.runs} runs, {result.memory_model}, seeds "
                f"{result.seed}..{result.seed + result.runs - 1}, bursts of 1-{result.max_burst}, drain probability "
                f"{result.drain_probability:g})")
    lines = [head]
    for state, n in result.states.items():
        mark = "*>" if result.satisfies(state) else ":>"
        lines.append(f"{n:<{width}} {mark}{state_line(result.shown, state)}")
    for outcome, n in sorted(result.incomplete.items()):
        lines.append(f"{n:<{width}} !>{outcome} (no final state)")
    return "\n".join(lines)


def as_dict(result) -> dict:
    test = result.program.test
    cond = test.condition
    pos, neg = cond.witnesses(result.positive, result.negative)
    d = {
        "file": test.display, "name": test.name, "arch": test.arch_name, "kind": cond.kind_name,
        "condition": str(cond), "memory_model": result.memory_model, "exhaustive": result.exhaustive,
        "locations": [str(loc) for loc in result.shown],
        "states": [{"state": {str(loc): v for loc, v in zip(result.shown, s)}, "line": state_line(result.shown, s),
                    "count": n, "satisfies": result.satisfies(s)} for s, n in result.states.items()],
        "ok": cond.holds(result.positive, result.negative), "positive": pos, "negative": neg,
        "observation": observation(result.positive, result.negative),
        "runs" if not result.exhaustive else "executions": result.runs,
        "incomplete": result.incomplete, "verdict": verdict(result)[0], "verdict_text": verdict(result)[1],
        "seconds": round(result.seconds, 3),
    }
    if result.exhaustive:
        d["machine_states"] = result.explored
    else:
        d.update(seed=result.seed, max_burst=result.max_burst, drain_probability=result.drain_probability,
                 rate=result.positive / result.runs if result.runs else 0.0)
    return d


def register(app: typer.Typer) -> None:
    @app.command()
    def litmus(files: Files, memory_model: LitmusModel = "tso", runs: Runs = None, exhaustive: Exhaustive = False,
               seed: LitmusSeed = 0, max_burst: MaxBurst = 2, drain_probability: DrainProbability = 0.1,
               engine: Engine = "litmus", json: Json = False) -> None:
        """Run litmus tests in herd's format (herdtools7) on the simulator.

        Prints herd's report for each test (States, Ok/No, Witnesses, Condition, Observation), then
        the number of runs per final state and the verdict: "Allowed" when the condition's outcome
        was seen, "Forbidden by this model" when it was not. With --exhaustive every execution of
        the store-buffer machine is enumerated and the verdict is exact.
        """
        from sim.litmus import build, explore_litmus, explore_litmus_with_explorer, read_litmus, run_litmus

        if memory_model not in ("tso", "sc"):
            fail(f"unknown memory model {memory_model!r} (tso or sc)")
        if engine not in ("litmus", "explore"):
            fail(f"unknown engine {engine!r} (litmus or explore)")
        if engine == "explore" and not exhaustive:
            fail("--engine is for --exhaustive")
        if exhaustive and runs is not None:
            fail("--runs and --exhaustive exclude each other")
        if runs is not None and runs < 1:
            fail(f"--runs must be at least 1, got {runs}")
        if max_burst < 1:
            fail(f"--max-burst must be at least 1, got {max_burst}")
        if not 0.0 < drain_probability <= 1.0:
            fail(f"--drain-probability must be in (0, 1], got {drain_probability}")
        from sim.scenario import UINT_MAX
        if not 0 <= seed <= UINT_MAX:  # the same range as every other command's seed
            fail(f"--seed must be between 0 and 2**64-1, got {seed}")
        try:
            paths = []
            for f in files:  # a folder stands for its *.litmus files
                p = Path(f)
                paths += sorted(p.glob("*.litmus")) if p.is_dir() else [p]
            if not paths:
                fail(f"no *.litmus files in {', '.join(files)}")
            programs = [build(read_litmus(p)) for p in paths]  # every file is checked before any runs
            results = []
            for program in programs:
                if exhaustive:
                    enumerate_ = explore_litmus_with_explorer if engine == "explore" else explore_litmus
                    results.append(enumerate_(program, memory_model))
                else:
                    results.append(run_litmus(program, memory_model, runs or DEFAULT_RUNS, seed, max_burst,
                                              drain_probability))
        except SimError as e:
            fail(str(e))
        if json:
            print_json({"tests": [as_dict(r) for r in results]})
            return
        out = []
        for r in results:
            out.append("\n".join([herd_report(r), histogram(r), f"Verdict {verdict(r)[1]}", ""]))
        typer.echo("\n".join(out), nl=False)
