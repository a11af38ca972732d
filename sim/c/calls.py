"""Calls: arguments computed straight into their registers, the caller-side saves of the calling
convention (see unit.py), the kernel API's names first (kernel_api.py)."""

from __future__ import annotations

from pycparser import c_ast

from ..isa import Reg
from .ctype import VOID, CType, Struct, Void, decay
from .emitter import ARG_REGS, AT, RET, FuncRef
from .errors import at
from .values import Val

MAX_ARGS = len(ARG_REGS)


class CallMixin:
    # -- calls ---------------------------------------------------------------------------------

    def x_FuncCall(self, node, dest):
        if not isinstance(node.name, c_ast.ID):
            raise at(node.coord, "calls through function pointers are not supported")
        name = node.name.name
        args = node.args.exprs if node.args is not None else []
        if self.lookup(name) is not None:
            raise at(node.coord, f"'{name}' is a variable, not a function")
        fn = self.unit.functions.get(name)
        if fn is None or (fn.builtin and not fn.defined):
            api = self.api(name)
            if api is not None:
                return api(node, args, dest)
        if fn is None or fn.builtin and not fn.defined:
            from .kernel_api import REFUSED_CALLS
            if name in REFUSED_CALLS:
                raise at(node.coord, f"{name}(): {REFUSED_CALLS[name]}")
        if fn is None:
            from .decls import hint
            from .kernel_api import API_NAMES
            raise at(node.coord, f"implicit declaration of function '{name}'"
                     + hint(name, [*self.unit.functions, *API_NAMES]))
        ft = fn.type
        if not ft.unknown_params and not ft.variadic and len(args) != len(ft.params):
            raise at(node.coord, f"{name}() takes {len(ft.params)} argument"
                                 f"{'' if len(ft.params) == 1 else 's'}, got {len(args)}")
        if ft.variadic:
            raise at(node.coord, f"calls to variadic functions are not supported ({name})")
        if len(args) > MAX_ARGS:
            raise at(node.coord, f"at most {MAX_ARGS} arguments are supported, got {len(args)}")
        discard = self.discarding is node
        self.discarding = None
        vals = []
        for i, a in enumerate(args):
            # an argument is computed straight into its register when that register is free
            reg = ARG_REGS[i]
            into = reg if self.take(reg) else None
            v = self.gen(a, into)
            if isinstance(decay(v.type), Struct):
                raise at(a.coord, "passing a struct by value is not supported (pass a pointer)")
            if i < len(ft.params):
                v = self.convert(v, ft.params[i], a)
            if into is not None:
                if v.reg != into:
                    self.em.emit("mov", Reg(into), v.operand)
                    self.release(v)
                v = Val(v.type, into, owned=True)
            vals.append(v)
        return self.call(self.unit.use_function(name), vals, ft.ret, None if discard else dest, discard)

    def call(self, label: str, vals: list[Val], ret: CType, dest, discard: bool = False) -> Val:
        """Every function preserves r1..r13 (its arguments included) and sp; so the caller only
        saves an argument register that holds some other live value than the argument."""
        for v in vals:
            self.release(v)
        saved = [r for i, r in enumerate(ARG_REGS[:len(vals)]) if r not in self.free and vals[i].reg != r]
        for r in saved:
            self.em.emit("push", Reg(r))
        self.parallel_move([(ARG_REGS[i], v.operand) for i, v in enumerate(vals)])
        self.em.emit("call", FuncRef(label))
        for r in reversed(saved):
            self.em.emit("pop", Reg(r))
        self.calls_made = True
        if isinstance(ret, Void) or discard:
            return Val(VOID if isinstance(ret, Void) else ret, imm=0)
        d, owned = (dest, False) if dest is not None else (self.alloc(), True)
        self.em.emit("mov", Reg(d), Reg(RET))
        return Val(ret, d, owned=owned)

    def parallel_move(self, moves: list[tuple[int, object]]) -> None:
        """Move each operand to its register at once (sources may be other moves' targets)."""
        regs = {d: s.n for d, s in moves if isinstance(s, Reg) and s.n != d}
        consts = [(d, s) for d, s in moves if not isinstance(s, Reg)]
        while regs:
            for d in list(regs):
                if d not in regs.values():
                    self.em.emit("mov", Reg(d), Reg(regs.pop(d)))
                    break
            else:  # a cycle: park one target's value in the scratch register
                d = next(iter(regs))
                self.em.emit("mov", Reg(AT), Reg(d))
                for k, s in regs.items():
                    if s == d:
                        regs[k] = AT
        for d, s in consts:
            self.em.emit("mov", Reg(d), s)

