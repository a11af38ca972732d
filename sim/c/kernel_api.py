"""The kernel API: calls that compile to instructions with the kernel's semantics.

Each entry of `API` maps a name to the method generating it. Pointer arguments become memory
operands directly (`spin_lock(&inode->i_lock)` is one `spin_lock [r3 + 0]`). Bit numbers given by
an enumerator or an object-like `#define` become named bits of the image. The bundled headers
(`data/include/`) declare these names and implement the rest (wake_up, completions, ...) in C.
"""

from __future__ import annotations

import re

from pycparser import c_ast

from ..isa import MASK64, OPS, Imm, Port, Reg, Str
from .ctype import BOOL, LONG, ULONG, VOID, Ptr, Void, decay
from .emitter import AT, Jump
from .errors import at
from .values import LVal, Val

_IDENT = re.compile(r"[A-Za-z_]\w*$")


def _op(name: str, fallback: str) -> str:
    """A memory-order instruction if the ISA has it (see sim.isa), else the plain equivalent."""
    return name if name in OPS else fallback


def split_call(line: str, name: str, col: int) -> list[str] | None:
    """The argument texts of the call `name(...)` in a source line nearest to column col."""
    starts = [m.start() for m in re.finditer(rf"\b{re.escape(name)}\s*\(", line)]
    if not starts:
        return None
    start = min(starts, key=lambda s: abs(s + 1 - col))
    i = line.index("(", start) + 1
    depth, args, cur = 0, [], []
    while i < len(line):
        ch = line[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return [a for a in args if a] if args != [""] else []
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    return None


class KernelApiMixin:
    def api(self, name: str):
        if name.startswith("atomic_long_") or name.startswith("atomic64_"):
            name = "atomic_" + name.split("_", 2)[2]
        method = API.get(name)
        if method is None:
            return None
        return lambda node, args, dest: method(self, node, args, dest)

    # -- helpers -------------------------------------------------------------------------------

    def nargs(self, node, args, n: int) -> None:
        name = node.name.name
        if len(args) != n:
            raise at(node.coord, f"{name}() takes {n} argument{'' if n == 1 else 's'}, got {len(args)}")

    def pointee(self, arg) -> LVal:
        """The memory a pointer argument points to: `&x` is x itself (no address arithmetic)."""
        if isinstance(arg, c_ast.UnaryOp) and arg.op == "&":
            lv = self.lvalue(arg.expr)
            if lv.reg is not None:
                raise at(arg.coord, "cannot take the address of a register variable")
            return lv
        p = self.gen(arg)
        t = decay(p.type)
        if not isinstance(t, Ptr):
            raise at(arg.coord, f"expected a pointer, got {p.type}")
        return self.deref(p, t.to, 0)

    def value(self, arg) -> Val:
        v = self.gen(arg)
        if isinstance(v.type, Void):
            raise at(arg.coord, "void value used as an argument")
        return v

    def bit(self, node, arg, index: int) -> Val:
        """A bit number argument; a named constant becomes a named bit of the image."""
        v = self.value(arg)
        if v.is_const:
            if v.imm > 63:
                raise at(arg.coord, f"bit number {v.imm} is out of range (0..63)")
            name = None
            if isinstance(arg, c_ast.ID) and arg.name in self.unit.enum_of:
                for n in self.unit.enum_of[arg.name]:
                    if self.unit.enums[n] <= 63:
                        self.unit.link.bits[n] = self.unit.enums[n]
                name = arg.name
            else:
                texts = split_call(self.unit.source_line(node.coord), node.name.name, node.coord.column or 0)
                if texts is not None and index < len(texts) and _IDENT.match(texts[index]):
                    name = texts[index]
            if name is not None and name in self.unit.macro_ints and self.unit.macro_ints[name] == v.imm:
                self.unit.link.bits[name] = v.imm
        return v

    def result(self, dest) -> tuple[int, bool]:
        return (dest, False) if dest is not None else (self.alloc(), True)

    def done(self, *vals) -> Val:
        for v in vals:
            self.release(v)
        return Val(VOID, imm=0)

    def message(self, node, kind: str) -> str:
        c = node.coord
        texts = split_call(self.unit.source_line(c), node.name.name, c.column or 0)
        where = f"kernel BUG at {c.file}:{c.line}!" if kind == "BUG" else f"WARNING at {c.file}:{c.line}"
        if texts is None or not texts:
            return where
        return f"{where} {node.name.name}({', '.join(texts)})"

    # -- spinlocks and preemption --------------------------------------------------------------

    def k_spin_lock(self, node, args, dest):
        lv = self.pointee(args[0])
        self.em.emit("spin_lock", lv.mem)
        if len(args) == 2:  # spin_lock_irqsave(lock, flags): flags = 0 (interrupts are not modelled)
            self.store_zero(args[1])
        return self.done(lv)

    def store_zero(self, arg) -> None:
        lv = self.lvalue(arg)
        self.store(lv, Val(ULONG, imm=0))
        self.release(lv)

    def k_spin_unlock(self, node, args, dest):
        lv = self.pointee(args[0])
        self.em.emit("spin_unlock", lv.mem)
        return self.done(lv)

    def k_spin_trylock(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        d, owned = self.result(dest)
        self.em.emit("spin_trylock", Reg(d), lv.mem)
        self.release(lv)
        return Val(LONG, d, owned=owned)

    def k_init_zero(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        for i in range(max(1, lv.type.size)):
            self.em.emit("st", LVal(lv.type, base=lv.base, sym=lv.sym, off=lv.off + i).mem, Imm(0))
        return self.done(lv)

    def k_simple(op):
        def gen(self, node, args, dest):
            self.nargs(node, args, 0)
            self.em.emit(op)
            return Val(VOID, imm=0)
        return gen

    def k_nothing(self, node, args, dest):
        return Val(VOID, imm=0)

    # -- bit operations ------------------------------------------------------------------------

    def k_test_bit(self, node, args, dest):
        self.nargs(node, args, 2)
        b = self.bit(node, args[0], 0)
        lv = self.pointee(args[1])
        d, owned = self.result(dest)
        self.em.emit("ld", Reg(d), lv.mem)
        self.release(lv)
        self.em.emit("shr", Reg(d), Reg(d), b.operand)
        self.em.emit("and", Reg(d), Reg(d), Imm(1))
        self.release(b)
        return Val(BOOL, d, owned=owned)

    def test_bit_flag(self, node) -> Val:
        """test_bit for a branch: the word masked to the bit, non-zero iff the bit is set."""
        args = node.args.exprs if node.args is not None else []
        self.nargs(node, args, 2)
        b = self.bit(node, args[0], 0)
        if not b.is_const:
            self.release(b)
            return self.k_test_bit(node, args, None)
        lv = self.pointee(args[1])
        self.em.emit("ld", Reg(AT), lv.mem)  # the scratch register: the branch follows at once
        self.release(lv)
        self.em.emit("and", Reg(AT), Reg(AT), Imm(1 << b.imm))
        return Val(ULONG, AT)

    def k_atomic_bit(self, node, args, dest):
        self.nargs(node, args, 2)
        name = node.name.name
        b = self.bit(node, args[0], 0)
        lv = self.pointee(args[1])
        if name.startswith("test_"):
            d, owned = self.result(dest)
            self.em.emit(name, Reg(d), b.operand, lv.mem)
            self.done(lv, b)
            return Val(BOOL, d, owned=owned)
        self.em.emit(name, b.operand, lv.mem)
        return self.done(lv, b)

    def k_plain_bit(self, node, args, dest):
        """__set_bit / __clear_bit / __change_bit: a plain load and store (not atomic)."""
        self.nargs(node, args, 2)
        name = node.name.name
        b = self.bit(node, args[0], 0)
        lv = self.pointee(args[1])
        self.em.emit("ld", Reg(AT), lv.mem)
        mask = self.mask(b)
        if name == "__set_bit":
            self.em.emit("or", Reg(AT), Reg(AT), mask.operand)
        elif name == "__clear_bit":
            if mask.is_const:
                self.em.emit("and", Reg(AT), Reg(AT), Imm(~mask.imm & MASK64))
            else:
                self.em.emit("not", Reg(mask.reg), Reg(mask.reg))
                self.em.emit("and", Reg(AT), Reg(AT), Reg(mask.reg))
        else:
            self.em.emit("xor", Reg(AT), Reg(AT), mask.operand)
        self.em.emit("st", lv.mem, Reg(AT))
        return self.done(lv, mask, b)

    def mask(self, b: Val) -> Val:
        if b.is_const:
            return Val(ULONG, imm=1 << (b.imm & 63))
        d = self.alloc()
        self.em.emit("mov", Reg(d), Imm(1))
        self.em.emit("shl", Reg(d), Reg(d), b.operand)
        return Val(ULONG, d, owned=True)

    # -- atomics -------------------------------------------------------------------------------

    def k_atomic_read(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        d, owned = self.result(dest)
        self.em.emit(_op("ld_once", "ld"), Reg(d), lv.mem)
        self.release(lv)
        return Val(LONG, d, owned=owned)

    def k_atomic_set(self, node, args, dest):
        self.nargs(node, args, 2)
        lv = self.pointee(args[0])
        v = self.value(args[1])
        self.em.emit(_op("st_once", "st"), lv.mem, v.operand)
        return self.done(lv, v)

    def atomic_add(self, node, lv: LVal, amount: Val, want: str | None, dest) -> Val:
        """xadd; want: None (no value), 'old', 'new'."""
        d, owned = (AT, False) if want is None else self.result(dest)
        self.em.emit("xadd", Reg(d), lv.mem, amount.operand)
        self.release(lv)
        if want is None:
            return self.done(amount)
        if want == "new":
            self.em.emit("add", Reg(d), Reg(d), amount.operand)
        self.release(amount)
        return Val(LONG, d, owned=owned)

    def negated(self, v: Val) -> Val:
        if v.is_const:
            return Val(LONG, imm=(-v.imm) & MASK64)
        v = self.in_reg(v)
        d, owned = self.target(None, v)
        self.em.emit("mul", Reg(d), Reg(v.reg), Imm(MASK64))
        return Val(LONG, d, owned=owned)

    def k_atomic_op(self, node, args, dest):
        name = node.name.name
        base = re.sub(r"^atomic(_long|64)?_", "", name)
        one = Val(LONG, imm=1)
        if base in ("inc", "dec", "inc_return", "dec_return", "fetch_inc", "fetch_dec"):
            self.nargs(node, args, 1)
            lv = self.pointee(args[0])
            amount = one if "inc" in base else Val(LONG, imm=MASK64)
        else:
            self.nargs(node, args, 2)
            amount = self.value(args[0])
            lv = self.pointee(args[1])
            if "sub" in base:
                amount = self.negated(amount)
        want = "new" if base.endswith("_return") else "old" if base.startswith("fetch_") else None
        return self.atomic_add(node, lv, amount, want, dest)

    def k_atomic_test(self, node, args, dest):
        """atomic_dec_and_test / atomic_inc_and_test / atomic_sub_and_test: new value == 0."""
        name = re.sub(r"^atomic(_long|64)?_", "", node.name.name)
        if name == "sub_and_test":
            self.nargs(node, args, 2)
            amount = self.negated(self.value(args[0]))
            lv = self.pointee(args[1])
        else:
            self.nargs(node, args, 1)
            lv = self.pointee(args[0])
            amount = Val(LONG, imm=1 if name.startswith("inc") else MASK64)
        new = self.atomic_add(node, lv, amount, "new", None)
        d, owned = self.result(dest)
        end = self.em.new_label()
        self.em.emit("mov", Reg(d), Imm(1))  # d = (new value == 0)
        self.em.emit("jz", Reg(new.reg), Jump(end))
        self.em.emit("mov", Reg(d), Imm(0))
        self.em.bind(end)
        self.release(new)
        return Val(BOOL, d, owned=owned)

    def k_cmpxchg(self, node, args, dest):
        self.nargs(node, args, 3)
        lv = self.pointee(args[0])
        old = self.value(args[1])
        new = self.value(args[2])
        d, owned = self.result(dest)
        self.em.emit("cas", Reg(d), lv.mem, old.operand, new.operand)
        self.done(lv, old, new)
        return Val(decay(lv.type) if lv.type.is_scalar else LONG, d, owned=owned)

    def k_xchg(self, node, args, dest):
        self.nargs(node, args, 2)
        lv = self.pointee(args[0])
        v = self.value(args[1])
        d, owned = self.result(dest)
        self.em.emit("xchg", Reg(d), lv.mem, v.operand)
        self.done(lv, v)
        return Val(lv.type if lv.type.is_scalar else LONG, d, owned=owned)

    # -- marked accesses and barriers ----------------------------------------------------------

    def k_read_once(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.lvalue(args[0])
        if lv.reg is not None:
            return Val(lv.type, lv.reg)
        d, owned = self.result(dest)
        self.em.emit(_op("ld_once", "ld"), Reg(d), lv.mem)
        self.release(lv)
        return Val(lv.type, d, owned=owned)

    def k_write_once(self, node, args, dest):
        self.nargs(node, args, 2)
        lv = self.lvalue(args[0])
        v = self.convert(self.value(args[1]), lv.type, args[1])
        if lv.reg is not None:
            self.store(lv, v)
            return self.done(v)
        self.em.emit(_op("st_once", "st"), lv.mem, v.operand)
        return self.done(lv, v)

    def k_load_acquire(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        d, owned = self.result(dest)
        self.em.emit(_op("ld_acquire", "ld"), Reg(d), lv.mem)
        self.release(lv)
        return Val(lv.type if lv.type.is_scalar else LONG, d, owned=owned)

    def k_store_release(self, node, args, dest):
        self.nargs(node, args, 2)
        lv = self.pointee(args[0])
        v = self.value(args[1])
        if "st_release" not in OPS:
            self.em.emit("fence")
        self.em.emit(_op("st_release", "st"), lv.mem, v.operand)
        return self.done(lv, v)

    def k_barrier(self, node, args, dest):
        name = node.name.name
        self.nargs(node, args, 0)
        op = {"smp_mb": "fence", "mb": "fence", "smp_rmb": _op("rmb", "fence"), "rmb": _op("rmb", "fence"),
              "smp_wmb": _op("wmb", "fence"), "wmb": _op("wmb", "fence")}[name]
        self.em.emit(op)
        return Val(VOID, imm=0)

    # -- sleeping and scheduling ---------------------------------------------------------------

    def k_mutex_lock(self, node, args, dest):
        """Take bit 0 of the owner word (acquire); while someone holds it, sleep a tick and retry."""
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        top, done = self.em.new_label(), self.em.new_label()
        self.em.bind(top)
        self.em.emit("test_and_set_bit_lock", Reg(AT), Imm(0), lv.mem)
        self.em.emit("jz", Reg(AT), Jump(done))
        self.em.emit("msleep", Imm(1))
        self.em.emit("jmp", Jump(top))
        self.em.bind(done)
        return self.done(lv)

    def k_mutex_trylock(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        d, owned = self.result(dest)
        self.em.emit("test_and_set_bit_lock", Reg(d), Imm(0), lv.mem)
        self.em.emit("xor", Reg(d), Reg(d), Imm(1))
        self.release(lv)
        return Val(LONG, d, owned=owned)

    def k_mutex_unlock(self, node, args, dest):
        self.nargs(node, args, 1)
        lv = self.pointee(args[0])
        self.em.emit("clear_bit_unlock", Imm(0), lv.mem)
        return self.done(lv)

    def k_one_value(op):
        def gen(self, node, args, dest):
            self.nargs(node, args, 1)
            v = self.value(args[0])
            self.em.emit(op, v.operand)
            return self.done(v)
        return gen

    def k_read_reg(op):
        def gen(self, node, args, dest):
            self.nargs(node, args, 0)
            d, owned = self.result(dest)
            self.em.emit(op, Reg(d))
            return Val(LONG, d, owned=owned)
        return gen

    # -- assertions ----------------------------------------------------------------------------

    def k_bug_on(self, node, args, dest):
        self.nargs(node, args, 1)
        msg = self.message(node, "BUG")
        c = self.try_const(args[0])
        if c is not None:
            if c.imm:
                self.em.emit("bug", Str(msg))
            return Val(VOID, imm=0)
        v = self.in_reg(self.value(args[0]))
        self.em.emit("bug_on", Reg(v.reg), Str(msg))
        return self.done(v)

    def k_bug(self, node, args, dest):
        self.em.emit("bug", Str(self.message(node, "BUG")))
        return Val(VOID, imm=0)

    def k_assert(self, node, args, dest):
        self.nargs(node, args, 1)
        c = node.coord
        texts = split_call(self.unit.source_line(c), node.name.name, c.column or 0)
        msg = f"assertion failed at {c.file}:{c.line}: {texts[0] if texts else ''}".rstrip(": ")
        ok = self.em.new_label()
        self.branch(args[0], ok, True)
        self.em.emit("bug", Str(msg))
        self.em.bind(ok)
        return Val(VOID, imm=0)

    def k_warn_on(self, node, args, dest):
        """WARN_ON(cond): if cond, count one warning in the machine's `<machine>_warnings` word (a recorded
        atomic add at this line); the value is cond, as in the kernel."""
        if not args:
            raise at(node.coord, f"{node.name.name}() needs a condition")
        v = self.in_reg(self.convert(self.value(args[0]), BOOL, args[0]))
        skip = self.em.new_label()
        self.em.emit("jz", Reg(v.reg), Jump(skip))
        self.em.emit("xadd", Reg(AT), self.unit.link.warnings_mem(), Imm(1))
        self.em.bind(skip)
        return v

    # -- messages between machines -------------------------------------------------------------

    def port(self, arg) -> Port:
        ports = self.unit.link.ports
        if isinstance(arg, c_ast.ID) and arg.name in ports and self.lookup(arg.name) is None:
            return Port(ports[arg.name], arg.name)
        from .decls import hint
        name = arg.name if isinstance(arg, c_ast.ID) else "?"
        known = f" (the scenario's ports: {', '.join(ports)})" if ports else " (the scenario declares no ports)"
        raise at(arg.coord, f"expected a port name, got '{name}'" + (hint(name, ports) or known))

    def k_rt_send(self, node, args, dest):
        if not 1 <= len(args) <= 5:
            raise at(node.coord, f"rt_send(port, up to 4 words) got {len(args)} arguments")
        p = self.port(args[0])
        vals = [self.value(a) for a in args[1:]]
        self.em.emit("send", p, *[v.operand for v in vals])
        return self.done(*vals)

    def k_rt_recv(self, node, args, dest):
        if not 1 <= len(args) <= 5:
            raise at(node.coord, f"rt_recv(port, up to 4 pointers) got {len(args)} arguments")
        p = self.port(args[0])
        targets = []
        regs = []
        for a in args[1:]:
            if isinstance(a, c_ast.UnaryOp) and a.op == "&":
                lv = self.lvalue(a.expr)
            else:
                lv = self.pointee(a)
            targets.append(lv)
            if lv.reg is not None:
                regs.append((lv.reg, False))
            else:
                regs.append((self.alloc(), True))
        self.em.emit("recv", p, *[Reg(r) for r, _ in regs])
        for lv, (r, owned) in zip(targets, regs):
            if lv.reg is None:
                self.em.emit("st", lv.mem, Reg(r))
                self.free.append(r)
            self.release(lv)
        return Val(VOID, imm=0)


_K = KernelApiMixin
API = {
    "spin_lock": _K.k_spin_lock, "spin_lock_bh": _K.k_spin_lock, "spin_lock_irq": _K.k_spin_lock,
    "raw_spin_lock": _K.k_spin_lock, "spin_lock_irqsave": _K.k_spin_lock,
    "spin_unlock": _K.k_spin_unlock, "spin_unlock_bh": _K.k_spin_unlock, "spin_unlock_irq": _K.k_spin_unlock,
    "raw_spin_unlock": _K.k_spin_unlock, "spin_unlock_irqrestore": _K.k_spin_unlock,
    "spin_trylock": _K.k_spin_trylock, "spin_lock_init": _K.k_init_zero, "mutex_init": _K.k_init_zero,
    "init_waitqueue_head": _K.k_init_zero,
    "preempt_disable": _K.k_simple("preempt_disable"), "preempt_enable": _K.k_simple("preempt_enable"),
    "local_irq_disable": _K.k_simple("preempt_disable"), "local_irq_enable": _K.k_simple("preempt_enable"),
    "test_bit": _K.k_test_bit,
    "set_bit": _K.k_atomic_bit, "clear_bit": _K.k_atomic_bit, "test_and_set_bit": _K.k_atomic_bit,
    "test_and_clear_bit": _K.k_atomic_bit, "test_and_set_bit_lock": _K.k_atomic_bit,
    "clear_bit_unlock": _K.k_atomic_bit,
    "__set_bit": _K.k_plain_bit, "__clear_bit": _K.k_plain_bit, "__change_bit": _K.k_plain_bit,
    "atomic_read": _K.k_atomic_read, "atomic_set": _K.k_atomic_set,
    "atomic_inc": _K.k_atomic_op, "atomic_dec": _K.k_atomic_op, "atomic_add": _K.k_atomic_op,
    "atomic_sub": _K.k_atomic_op, "atomic_add_return": _K.k_atomic_op, "atomic_sub_return": _K.k_atomic_op,
    "atomic_inc_return": _K.k_atomic_op, "atomic_dec_return": _K.k_atomic_op,
    "atomic_fetch_add": _K.k_atomic_op, "atomic_fetch_sub": _K.k_atomic_op,
    "atomic_fetch_inc": _K.k_atomic_op, "atomic_fetch_dec": _K.k_atomic_op,
    "atomic_dec_and_test": _K.k_atomic_test, "atomic_inc_and_test": _K.k_atomic_test,
    "atomic_sub_and_test": _K.k_atomic_test,
    "atomic_cmpxchg": _K.k_cmpxchg, "cmpxchg": _K.k_cmpxchg, "atomic_xchg": _K.k_xchg, "xchg": _K.k_xchg,
    "READ_ONCE": _K.k_read_once, "WRITE_ONCE": _K.k_write_once,
    "smp_load_acquire": _K.k_load_acquire, "smp_store_release": _K.k_store_release,
    "smp_mb": _K.k_barrier, "smp_rmb": _K.k_barrier, "smp_wmb": _K.k_barrier,
    "mb": _K.k_barrier, "rmb": _K.k_barrier, "wmb": _K.k_barrier,
    "barrier": _K.k_nothing, "smp_mb__before_atomic": _K.k_nothing, "smp_mb__after_atomic": _K.k_nothing,
    "might_sleep": _K.k_nothing,
    "mutex_lock": _K.k_mutex_lock, "mutex_trylock": _K.k_mutex_trylock, "mutex_unlock": _K.k_mutex_unlock,
    "cpu_relax": _K.k_simple("pause"), "cond_resched": _K.k_simple("yield"), "schedule": _K.k_simple("sleep"),
    "wake_up_process": _K.k_one_value("wake"), "rt_spawn": _K.k_one_value("spawn"),
    "msleep": _K.k_one_value("msleep"), "schedule_timeout": _K.k_one_value("msleep"),
    "udelay": _K.k_one_value("delay"), "ndelay": _K.k_one_value("delay"), "mdelay": _K.k_one_value("delay"),
    "smp_processor_id": _K.k_read_reg("cpu"), "raw_smp_processor_id": _K.k_read_reg("cpu"),
    "rt_current": _K.k_read_reg("tid"),
    "rt_kernel_enter": _K.k_simple("kernel_enter"), "rt_kernel_exit": _K.k_simple("kernel_exit"),
    "rt_exit": _K.k_simple("halt"), "do_exit": _K.k_simple("halt"),
    "BUG_ON": _K.k_bug_on, "BUG": _K.k_bug, "assert": _K.k_assert,
    "WARN_ON": _K.k_warn_on, "WARN_ON_ONCE": _K.k_warn_on, "WARN": _K.k_warn_on, "WARN_ONCE": _K.k_warn_on,
    "rt_send": _K.k_rt_send, "rt_recv": _K.k_rt_recv,
}
API_NAMES = tuple(API)

THREADS = ("threads are created by the scenario's [[threads]] table (start = false) and started "
           "with rt_spawn(thread)")
REFUSED_CALLS = {
    "setjmp": "setjmp/longjmp are not supported", "longjmp": "setjmp/longjmp are not supported",
    "pthread_create": THREADS, "kthread_run": THREADS, "kthread_create": THREADS, "clone": THREADS,
    "fork": THREADS, "malloc": "dynamic allocation is not supported (use global objects)",
    "kmalloc": "dynamic allocation is not supported (use global objects)",
    "kzalloc": "dynamic allocation is not supported (use global objects)",
    "asm": "inline assembly is not supported (write its effect in C, or the function in a .s file)",
    "__asm__": "inline assembly is not supported (write its effect in C, or the function in a .s file)",
}
