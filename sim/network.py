"""Ports and messages in flight between machines.

A port belongs to one machine; any thread there may `recv` from it. A message sent from another
machine arrives after the link's latency (the system's timer queue carries it meanwhile).
"""

from __future__ import annotations


class Port:
    __slots__ = ("id", "machine", "name", "queue", "waiters")

    def __init__(self, pid: int, name: str, machine: int):
        self.id = pid
        self.name = name
        self.machine = machine  # index of the receiving machine
        self.queue: list[tuple[int, tuple[int, ...]]] = []  # arrived (message id, words)
        self.waiters: list = []  # threads blocked in recv, FIFO


class Network:
    def __init__(self, ports: list[Port], latency: dict[tuple[int, int], int]):
        self.ports = ports
        self.latency = latency  # (from machine, to machine) -> cycles
        self.next_message = 0

    def route(self, src: int, port: Port) -> int | None:
        """Latency from machine `src` to the port's machine, or None when no link joins them."""
        if src == port.machine:
            return 0
        return self.latency.get((src, port.machine))

    def state(self) -> tuple:
        return (self.next_message, [(list(p.queue), [t.tid for t in p.waiters]) for p in self.ports])

    def restore(self, state: tuple, threads: list) -> None:
        self.next_message, ports = state
        for p, (queue, waiters) in zip(self.ports, ports):
            p.queue[:] = queue
            p.waiters[:] = [threads[tid] for tid in waiters]
