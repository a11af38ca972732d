"""Reading a system's state by name: symbols (`page0.flags`), a thread's registers (`w0:r4`) and
C locals of its current frame (`flusher:req`, `flusher:fn.req`), and where a thread is, in source
terms. A mixin of sim.system.System."""

from __future__ import annotations

from .thread import Thread, register_of


def _is_register_name(name: str) -> bool:
    from .isa import NUM_REGS, REG_ALIASES
    return name in REG_ALIASES or (name[:1] == "r" and name[1:].isdigit() and int(name[1:]) < NUM_REGS)


class Inspection:
    """System's reading of symbols, registers and C locals by name."""

    def describe_pc(self, t: Thread) -> str:
        code = self.machines[t.machine].code
        if 0 <= t.pc < len(code):
            s = self.image.sites[code[t.pc].site]
            return f"{s.file}:{s.line} ({s.function})"
        return f"pc {t.pc}"

    def read_symbol(self, name: str) -> int:
        """A symbol's value (`counter`, `page0.flags`), or `THREAD:rN`, a thread's register (a thread
        keeps its registers after it exits, so final values can be read after the run)."""
        if ":" in name:
            return self._read_register(name)
        sym = self.image.require_symbol(name)
        owner = next(m for m in self.machines if m.name == sym.machine)
        return owner.mem[sym.addr]

    def _read_register(self, name: str) -> int:
        tname, _, rest = name.partition(":")
        if self.image.locals and not _is_register_name(rest):
            return self._read_local(tname, rest, name)
        tid, n = register_of([t.name for t in self.threads], name)
        return self.threads[tid].regs[n]

    def check_symbol(self, name: str) -> None:
        """Raise a ScenarioError unless `name` can be read at some point of the run: a symbol, a
        thread's register, or a C local of some function on the thread's machine."""
        tname, colon, rest = name.partition(":")
        if not (colon and self.image.locals and not _is_register_name(rest)):
            self.read_symbol(name)
            return
        import difflib

        from .errors import ScenarioError
        names = [t.name for t in self.threads]
        if tname not in names:
            register_of(names, name)
        machine = self.machines[self.threads[names.index(tname)].machine].name
        function, _, local = rest.rpartition(".")
        known = {(e[0], e[1]) for e in self.image.locals.get(machine, ())}
        if not any(n == local and (not function or f == function) for f, n in known):
            choices = sorted({f"{f}.{n}" for f, n in known} | {n for _, n in known})
            close = difflib.get_close_matches(rest, choices, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ScenarioError(f"{name}: no C local {rest!r} on machine {machine}{hint}")

    def _read_local(self, tname: str, rest: str, name: str) -> int:
        """`THREAD:local` or `THREAD:function.local`: a C local of the thread's current frame."""
        from .errors import ScenarioError
        names = [t.name for t in self.threads]
        if tname not in names:
            register_of(names, name)  # raises with the closest thread names
        t = self.threads[names.index(tname)]
        m = self.machines[t.machine]
        function, _, local = rest.rpartition(".")
        code = m.code
        here = self.image.sites[code[t.pc].site] if 0 <= t.pc < len(code) else None
        found = [e for e in self.image.locals.get(m.name, ())
                 if e[1] == local and e[5] <= t.pc < e[6] and (not function or e[0] == function)]
        if not found:
            where = f"in {here.function} ({here.file}:{here.line})" if here is not None else f"at pc {t.pc}"
            visible = sorted({e[1] for e in self.image.locals.get(m.name, ()) if e[5] <= t.pc < e[6]})
            raise ScenarioError(f"{name}: no C local {local!r} where {tname} is, {where}"
                                + (f" (locals there: {', '.join(visible)})" if visible else ""))
        _fn, _name, _type, reg, slot, _lo, _hi = max(found, key=lambda e: e[5])
        if reg is not None:
            return t.regs[reg]
        return m.mem[(t.regs[15] + slot) % len(m.mem)]
