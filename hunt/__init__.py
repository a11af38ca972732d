"""Race-directed bug hunting (floor 4: it reads recordings and drives runs).

`hunt(scenario, options)` records one passing run, takes its racing pairs and invariant windows
from the queries, runs a directed scheduler that tries to reverse each racing pair, then keeps
going by reads-from coverage, and records the first failing run. See hunt.hunt_session.
"""

from .hunt_session import HuntResult, hunt

__all__ = ["HuntResult", "hunt"]
