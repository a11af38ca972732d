"""Schedules as data: every scheduling decision of a run, saved to a file and followed again.

A run's schedule is the sequence of its scheduling decisions, store-buffer drains included. Given
the same scenario and options, following it re-executes the run exactly, whatever the seed and
scheduler were: every other step of the simulator is a deterministic function of its state.

The file (JSON, data only, `revtrace-schedule` version 1):

    {"format": "revtrace-schedule", "version": 1,
     "cores": ["client:0", "client:1", "server:0"],      # global core number -> machine:core
     "memory_model": "sc",
     "steps": [[0, 12], [1, 3], ["drain", 1], [0, 40]]}

A step `[core, n]` is one decision: a burst of n instructions on that core; a step
`["drain", core]` makes the oldest store in that core's store buffer visible (x86-TSO only) just
before the next burst. A final `[core, 0]` names the core picked when the run ended at the step
limit. Timers (a message arriving, a `delay` ending) fire between bursts, so where a burst ends
matters and consecutive bursts on one core stay separate steps. When a burst of a hand-made step
is cut short (the thread blocks, spins or halts), the rest of the step runs in the next burst.

After its last step a followed schedule goes on without preemption: the core that ran last keeps
running while it can (not blocked, halted or spin-waiting), otherwise the next core in order.
That is what a schedule prefix means to the explorer and the shrinker.

The hook is `System(..., schedule=..., save_schedule=True)`: it swaps the step loop's decision
function for one that goes through `SchedulePlayer` and `ScheduleLog` (sim.system), so a run that
neither follows nor saves a schedule pays nothing.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SimError
from .scheduler import Scheduler

FORMAT = "revtrace-schedule"
VERSION = 1
DRAIN = "drain"
FALLBACK_BURST = 64  # instructions per decision once a followed schedule has ended


class ScheduleError(SimError):
    """A malformed schedule file, or one that does not fit the run that follows it."""


@dataclass
class Schedule:
    """Steps: `(core, n)` runs n instructions on a global core; `("drain", core)` drains one store."""

    cores: list[str]
    memory_model: str
    steps: list[tuple] = field(default_factory=list)

    # ------------------------------------------------------------------ building

    def add_run(self, core: int, n: int) -> None:
        self.steps.append((core, n))

    def add_drain(self, core: int) -> None:
        self.steps.append((DRAIN, core))

    @property
    def instructions(self) -> int:
        return sum(s[1] for s in self.steps if s[0] != DRAIN)

    @property
    def drains(self) -> int:
        return sum(1 for s in self.steps if s[0] == DRAIN)

    # ------------------------------------------------------------------ files

    def as_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "cores": list(self.cores),
                "memory_model": self.memory_model, "steps": [list(s) for s in self.steps]}

    def dumps(self) -> str:
        # one step per line: readable, diffable, and still plain JSON
        # (formatted by hand, exactly as json.dumps writes a step: a recording saves one step per
        # burst, often over 100,000, and json.dumps per step cost more than the rest of saving)
        return schedule_file_text(self.cores, self.memory_model,
                                  [STEP_DRAIN % (s[1], 0) if s[0] == DRAIN else STEP_RUN % s for s in self.steps])

    def save(self, path: str | Path) -> None:
        try:
            Path(path).write_text(self.dumps())
        except OSError as e:
            raise ScheduleError(f"cannot write the schedule: {e.strerror or e}", str(path)) from None

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise ScheduleError("no such schedule file", str(p)) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ScheduleError(f"cannot read the schedule: {getattr(e, 'strerror', None) or e}", str(p)) from None
        return cls.loads(text, str(p))

    @classmethod
    def loads(cls, text: str, where: str = "<schedule>") -> Schedule:
        try:
            data = json.loads(text)
        except ValueError as e:
            line = getattr(e, "lineno", None)
            col = getattr(e, "colno", None)
            raise ScheduleError(f"not JSON: {getattr(e, 'msg', e)}", where, line, col) from None
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data, where: str = "<schedule>") -> Schedule:
        def bad(msg: str):
            return ScheduleError(msg, where)

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f'not a schedule file (expected an object with "format": "{FORMAT}")')
        if data.get("version") != VERSION:
            raise bad(f"unsupported schedule version {data.get('version')!r} (this revtrace reads {VERSION})")
        cores = data.get("cores")
        if not isinstance(cores, list) or not cores or not all(isinstance(c, str) for c in cores):
            raise bad('"cores" must be a non-empty list of "machine:core" names')
        model = data.get("memory_model")
        if model not in ("sc", "tso"):
            raise bad(f'"memory_model" must be "sc" or "tso", got {model!r}')
        raw = data.get("steps")
        if not isinstance(raw, list):
            raise bad('"steps" must be a list')
        steps: list[tuple] = []
        ncores = len(cores)
        for i, s in enumerate(raw):
            ok = isinstance(s, list) and len(s) == 2
            if ok and s[0] == DRAIN:
                ok = _is_int(s[1]) and 0 <= s[1] < ncores and model == "tso"
                if ok:
                    steps.append((DRAIN, s[1]))
                    continue
                if _is_int(s[1]) and 0 <= s[1] < ncores:
                    raise bad(f"step {i}: a drain in a schedule for sc (drains exist under tso only)")
            elif ok:
                ok = _is_int(s[0]) and _is_int(s[1]) and 0 <= s[0] < ncores and s[1] >= 0
                if ok:
                    steps.append((s[0], s[1]))
                    continue
            raise bad(f'step {i}: expected [core, instructions] or ["drain", core] with core 0..{ncores - 1}, '
                      f"got {json.dumps(s)}")
        return cls(list(cores), model, steps)

    def check_fits(self, cores: list[str], memory_model: str, where: str = "<schedule>") -> None:
        """Refuse a schedule made for other cores or another memory model."""
        if list(cores) != list(self.cores):
            raise ScheduleError(f"the schedule is for cores {', '.join(self.cores)}; this run has "
                                f"{', '.join(cores)} (same scenario, --cores and variant needed)", where)
        if memory_model != self.memory_model:
            raise ScheduleError(f"the schedule is for memory model {self.memory_model}; this run uses "
                                f"{memory_model}", where)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def core_names(cores) -> list[str]:
    return [f"{c.machine.name}:{c.index}" for c in cores]


class SchedulePlayer(Scheduler):
    """Follows a Schedule; after its end, goes on without preemption (see the module docstring).

    `strict`: a step that cannot be followed (its core cannot run, or has nothing to drain) is an
    error, since the schedule is then not this run's; otherwise such steps are skipped.
    """

    name = "schedule"
    controls_drains = True

    def __init__(self, schedule: Schedule, cores: list, strict: bool = True, where: str = "<schedule>"):
        self.steps = schedule.steps
        self.cores = cores
        self.strict = strict
        self.where = where
        self.i = 0  # the step under way
        self.left = self.steps[0][1] if self.steps and self.steps[0][0] != DRAIN else 0
        self.at = 0  # instructions when the last burst was picked
        self.drained = 0  # drain steps done
        self.last = -1  # global number of the core picked last

    def _account(self, instructions: int) -> None:
        """Count the instructions the last burst ran against the step it came from."""
        done = instructions - self.at
        self.at = instructions
        if done and self.i < len(self.steps) and self.steps[self.i][0] != DRAIN:
            self.left -= done
            if self.left <= 0:
                self._next()

    def _next(self) -> None:
        self.i += 1
        if self.i < len(self.steps) and self.steps[self.i][0] != DRAIN:
            self.left = self.steps[self.i][1]

    @property
    def ended(self) -> bool:
        return self.i >= len(self.steps)

    def drain(self, system) -> list:
        """Do the drain steps due before the next burst; returns the cores drained."""
        self._account(system.instructions)
        done = []
        steps = self.steps
        while self.i < len(steps) and steps[self.i][0] == DRAIN:
            core = self.cores[steps[self.i][1]]
            if core.sb is not None and core.sb.entries:
                core.sb.drain_one()
                done.append(core)
            elif self.strict:
                raise ScheduleError(f"step {self.i}: core {core.machine.name}:{core.index} has no store to drain "
                                    f"at instruction {system.instructions} (the schedule is not this run's)",
                                    self.where)
            self.drained += 1
            self._next()
        return done

    def pick(self, active, instructions):
        self._account(instructions)
        steps = self.steps
        while self.i < len(steps):
            gid, n = steps[self.i]
            if gid == DRAIN:  # drains the system did not ask for (sc): nothing to do
                self.drained += 1
                self._next()
                continue
            core = self.cores[gid]
            if n == 0 and self.i + 1 < len(steps):
                self._next()
                continue
            if core in active:
                self.last = gid
                left = self.left
                if n == 0:  # the core picked when the run ended at the step limit
                    self._next()
                return core, left
            if self.strict:
                raise ScheduleError(f"step {self.i}: core {core.machine.name}:{core.index} cannot run at "
                                    f"instruction {instructions} (the schedule is not this run's)", self.where)
            self._next()
        return self._fallback(active)

    def _fallback(self, active):
        """No preemption: the last core while it can go on, else the next one in order."""
        last = self.last
        for core in active:
            if core.gid == last and not core.spinning:
                return core, FALLBACK_BURST
        after = [c for c in active if c.gid > last] + [c for c in active if c.gid <= last]
        core = next((c for c in after if not c.spinning), after[0])
        self.last = core.gid
        return core, FALLBACK_BURST

    def state(self):
        # where the player is, in terms that do not depend on how steps were merged: a recording's
        # checkpoints restore into a player of its saved schedule
        return (self.at, self.drained, self.last)

    def restore(self, state, threads=None):
        at, drained, self.last = state
        self.at, self.drained = at, drained
        instr = drains = 0
        self.i, self.left = 0, 0
        steps = self.steps
        while self.i < len(steps):
            gid, n = steps[self.i]
            if gid == DRAIN:
                if drains >= drained:
                    break
                drains += 1
                self.i += 1
                continue
            if instr + n > at or (n == 0 and instr == at):
                self.left = instr + n - at
                break
            instr += n
            self.i += 1


class ScheduleLog:
    """Writes down every decision of a run as it is made (System(save_schedule=True)).

    A recording makes one decision per burst (often over 100,000), so the log is one flat list of
    (what, instructions) pairs, appended item by item (two list appends cost a tenth of an
    array's extend by a tuple): (core, instructions when picked) for a pick, (-1 - core,
    instructions) for a drain, (ENDED, instructions) when the run ended. The steps follow from it
    (`result`): a burst ran until the next entry. A recording hands it to its trace writer a piece
    at a time (`take`), which writes the file as the pieces come (ScheduleText)."""

    ENDED = -(1 << 62)

    def __init__(self, cores: list[str], memory_model: str):
        self.cores = list(cores)
        self.memory_model = memory_model
        self.entries: list[int] = []
        self.add = self.entries.append  # add(what); add(instructions)
        self._sent = 0  # entries already taken

    def take(self) -> array:
        """The entries since the last take (for a ScheduleText that writes them as they come)."""
        sent, self._sent = self._sent, len(self.entries)
        return array("q", self.entries[sent:])

    def pick(self, gid: int, instructions: int) -> None:
        self.add(gid)
        self.add(instructions)

    def drain(self, gid: int, instructions: int) -> None:
        self.add(-1 - gid)
        self.add(instructions)

    def ended(self, instructions: int) -> None:
        """The run ended at a decision (nobody could run any more)."""
        self.add(self.ENDED)
        self.add(instructions)

    def result(self, instructions: int, outcome: str | None) -> Schedule:
        """The schedule so far, or of the finished run (`outcome`). The last burst gets one
        instruction more after a panic (a faulting instruction panics without counting) and a
        `[core, 0]` at the step limit, so that following it ends the same way."""
        out = Schedule(list(self.cores), self.memory_model)
        steps = out.steps
        core, at = -1, 0  # the burst picked last, not yet accounted
        flat = self.entries
        for what, when in zip(flat[0::2], flat[1::2]):
            if core >= 0:  # the burst picked last ran until this entry
                if when != at:
                    steps.append((core, when - at))
                core = -1
            if what >= 0:
                core, at = what, when
            elif what != self.ENDED:
                steps.append((DRAIN, -1 - what))
        if core >= 0:
            n = instructions - at
            if outcome == "panic":
                n += 1
            if n or outcome == "step_limit":
                steps.append((core, n))
        return out


STEP_RUN = "  [%d, %d]"  # a step as json.dumps writes it, one per line
STEP_DRAIN = '  ["drain", %d]%.0s'  # (a second argument, unused, like a run's)


def schedule_file_text(cores, memory_model: str, steps: list[str]) -> str:
    """The schedule file around its formatted steps (each one or more lines of STEP_RUN/STEP_DRAIN)."""
    head = json.dumps({"format": FORMAT, "version": VERSION, "cores": list(cores),
                       "memory_model": memory_model}, sort_keys=True)
    body = ",\n".join(steps)
    return head[:-1] + ', "steps": [\n' + body + ("\n" if body else "") + "]}\n"


class ScheduleText:
    """The schedule file of a ScheduleLog that arrives in pieces (`ScheduleLog.take`): a recording's
    trace writer formats each piece as it comes, so that saving a schedule of a step per burst costs
    nothing at the end of the recording. The text is exactly `log.result(...).dumps()`'s."""

    RUN = STEP_RUN
    DRAIN = STEP_DRAIN

    def __init__(self, cores: list[str], memory_model: str):
        self.cores = list(cores)
        self.memory_model = memory_model
        self.pieces: list[str] = []
        self.carry: list[int] = []  # the last entry: a burst picked there is still running

    def add(self, entries) -> None:
        """Entries (ScheduleLog.take: an array of int64, or a list of ints) after the last ones."""
        import numpy as np

        new = np.frombuffer(entries, dtype=np.int64) if isinstance(entries, array) else np.array(entries, np.int64)
        flat = np.concatenate([np.array(self.carry, dtype=np.int64), new]) if self.carry else new
        if len(flat) >= 4:
            self._format(flat[:-2], int(flat[-1]))
            flat = flat[-2:]
        self.carry = flat.tolist()

    def _format(self, flat, next_when: int) -> None:
        """Steps of (what, when) entries (int64); the burst picked at the last one ran until next_when."""
        import numpy as np

        pairs = flat.reshape(-1, 2)
        what, when = pairs[:, 0], pairs[:, 1]
        n = np.empty_like(when)
        n[:-1] = when[1:] - when[:-1]
        n[-1] = next_when - when[-1]
        drain = (what < 0) & (what != ScheduleLog.ENDED)
        keep = ((what >= 0) & (n != 0)) | drain
        if not keep.any():
            return
        first = np.where(drain, -1 - what, what)[keep]
        second = np.where(drain, 0, n)[keep]
        drain = drain[keep]
        if second.max() < 1 << 40:
            # a run has few distinct steps (core, burst length): each is formatted once, then
            # the text is the steps' texts in order (a third of the time of formatting each one)
            key = np.where(drain, -1 - first, (first << 40) | second)
            distinct, order = np.unique(key, return_inverse=True)
            texts = np.array([self.DRAIN % (-1 - k, 0) if k < 0 else self.RUN % (k >> 40, k & ((1 << 40) - 1))
                              for k in distinct.tolist()], dtype=object)
            self.pieces.append(",\n".join(texts[order].tolist()))
            return
        templates = np.where(drain, self.DRAIN, self.RUN).tolist()
        self.pieces.append(",\n".join(templates) % tuple(np.stack([first, second], axis=1).ravel().tolist()))

    def finish(self, instructions: int, outcome: str | None) -> str:
        """The file, once the run has ended (or stopped) after `instructions`; see ScheduleLog.result."""
        pieces = list(self.pieces)
        if self.carry:
            what, at = self.carry
            if what >= 0:
                n = instructions - at + (1 if outcome == "panic" else 0)
                if n or outcome == "step_limit":
                    pieces.append(self.RUN % (what, n))
            elif what != ScheduleLog.ENDED:
                pieces.append(self.DRAIN % (-1 - what, 0))
        return schedule_file_text(self.cores, self.memory_model, pieces)
