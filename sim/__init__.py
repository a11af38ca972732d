"""Floor 1: the deterministic multi-core, multi-machine simulator."""
