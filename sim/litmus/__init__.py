"""Litmus tests in herd's format (herdtools7): parse, build a program in memory, run or enumerate.

    test = read_litmus("data/litmus/SB.litmus")
    program = build(test)
    result = run_litmus(program, "tso", runs=2000)     # seeded runs: a histogram of final states
    result = explore_litmus(program, "tso")            # every execution: the exact verdict
"""

from .build import LitmusProgram, build
from .condition import Condition, Loc
from .exhaustive import explore_litmus, explore_litmus_with_explorer
from .parse import LitmusTest, parse_litmus, read_litmus
from .run import LitmusResult, run_litmus

__all__ = ["Condition", "LitmusProgram", "LitmusResult", "LitmusTest", "Loc", "build", "explore_litmus", "explore_litmus_with_explorer",
           "parse_litmus", "read_litmus", "run_litmus"]
