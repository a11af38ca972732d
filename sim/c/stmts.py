"""Statements and local declarations: one small method per pycparser node (`s_If`, `s_For`, ...).

Loops keep their break/continue labels on stacks; `switch` compares its value against every case
in order and then runs the body with the case labels bound where they appear (fall-through and
cases inside nested blocks work as in C); `goto` labels are per function.
"""

from __future__ import annotations

from pycparser import c_ast

from ..isa import Imm, Reg
from .consteval import signed
from .ctype import Array, Func, Int, Struct, Void, decay, promote, wrap
from .emitter import RET, Jump
from .errors import at
from .values import LVal, Val, Var

MIN_TEMPS = 5  # registers always left for temporaries; further scalar locals go to the frame


class StmtMixin:
    def stmt(self, node) -> None:
        if node is None:
            return
        self.em.site = self.site_of(node.coord)
        self.node_coord = node.coord
        method = getattr(self, "s_" + type(node).__name__, None)
        if method is not None:
            method(node)
            return
        self.gen_discard(node)  # an expression statement

    def s_Compound(self, node) -> None:
        self.scopes.append({})
        for item in node.block_items or []:
            self.stmt(item)
        self.pop_scope()

    def pop_scope(self) -> None:
        scope = self.scopes.pop()
        end = None
        for r in self.var_ranges:
            if r[2] is None and r[1] is not None and scope.get(r[0].name) is r[0]:
                if end is None:
                    end = self.em.new_label()
                    self.em.bind(end)
                r[2] = end
        for var in scope.values():
            if var.reg is not None and not var.is_param:
                self.free.append(var.reg)

    def s_EmptyStatement(self, node) -> None:
        pass

    def s_Pragma(self, node) -> None:
        pass

    def s_StaticAssert(self, node) -> None:
        if not self.unit.const_int(node.cond):
            raise at(node.coord, "static assertion failed")

    def s_DeclList(self, node) -> None:
        for d in node.decls:
            self.s_Decl(d)

    def s_Typedef(self, node) -> None:
        self.unit.s_typedef(node)

    # -- local declarations --------------------------------------------------------------------

    def s_Decl(self, node) -> None:
        if node.name is None:  # struct/union/enum definition
            self.unit.ctype(node.type)
            return
        t = self.unit.ctype(node.type)
        storage = node.storage or []
        if isinstance(t, Func) or "extern" in storage:
            self.unit.declare_global(node)
            g = self.unit.globals.get(node.name)
            if g is not None:
                self.scopes[-1][node.name] = g
            return
        if "static" in storage:
            symbol = f"{self.name}.{node.name}"
            var = self.unit.define_global(node, t, symbol)
            self.scopes[-1][node.name] = var
            return
        if node.name in self.scopes[-1]:
            raise at(node.coord, f"redeclaration of '{node.name}'")
        if isinstance(t, Array) and t.n is None:
            if isinstance(node.init, c_ast.InitList):
                t = Array(t.of, len(node.init.exprs))
            else:
                raise at(node.coord, f"array '{node.name}' needs a length")
        if isinstance(t, Struct) and t.fields is None:
            raise at(node.coord, f"storage size of '{node.name}' isn't known ({t} is incomplete)")
        if isinstance(t, Void):
            raise at(node.coord, f"variable '{node.name}' declared void")
        var = Var(node.name, t)
        in_reg = t.is_scalar and node.name not in self.addr_taken and len(self.free) > MIN_TEMPS
        if in_reg:
            var.reg = max(self.free)  # locals from the top, temporaries from the bottom
            self.free.remove(var.reg)
            self.touched.add(var.reg)
        else:
            var.slot = self.frame_size
            self.frame_size += t.size
            self.frame_vars.append((var.slot, node.name, t))
        # the initializer is evaluated before the name is visible (`int x = x;` is C's business)
        if node.init is not None:
            self.init_local(var, t, node.init, node)
        self.scopes[-1][node.name] = var
        lo = self.em.new_label()
        self.em.bind(lo)
        self.var_ranges.append([var, lo, None])

    def init_local(self, var: Var, t, init, node) -> None:
        if isinstance(t, (Array, Struct)):
            if isinstance(init, c_ast.InitList):
                words = [0] * t.size
                exprs: dict[int, object] = {}
                self.flatten_init(t, 0, init, words, exprs, node)
                for i in range(t.size):
                    e = exprs.get(i)
                    if e is None:
                        v = Val(Int(True), imm=words[i])
                    else:
                        et, e = e
                        v = self.convert(self.gen(e), et, e)
                    self.em.emit("st", LVal(t, base=15, off=var.slot + i).mem, v.operand)
                    self.release(v)
                return
            if isinstance(t, Struct):
                src = self.lvalue(init)
                if src.type is not t:
                    raise at(node.coord, f"initialising {t} with {src.type}")
                self.copy_struct(LVal(t, base=15, off=var.slot), src)
                self.release(src)
                return
            raise at(node.coord, f"{t} needs a braced initializer")
        if isinstance(init, c_ast.InitList):
            if len(init.exprs) != 1:
                raise at(node.coord, "too many initializers for a scalar")
            init = init.exprs[0]
        self.set_site(init)
        if var.reg is not None:
            v = self.convert(self.gen(init, var.reg), t, init)
            if v.reg != var.reg:
                self.em.emit("mov", Reg(var.reg), v.operand)
                self.release(v)
        else:
            v = self.convert(self.gen(init), t, init)
            self.em.emit("st", LVal(t, base=15, off=var.slot).mem, v.operand)
            self.release(v)
        self.set_site(node)

    def flatten_init(self, t, off: int, init, words: list, exprs: dict, node) -> None:
        """Local aggregate initializers: constants go to `words`, other expressions to `exprs`."""
        if isinstance(init, c_ast.InitList) and isinstance(t, (Array, Struct)):
            if isinstance(t, Array):
                i = 0
                for e in init.exprs:
                    if isinstance(e, c_ast.NamedInitializer):
                        i = self.unit.array_designator(e, node.coord)
                        e = self.unit.designated(t.of, e.name[1:], e.expr)
                    if i >= t.n:
                        raise at(node.coord, f"excess elements in the initializer of {t}")
                    self.flatten_init(t.of, off + i * t.of.size, e, words, exprs, node)
                    i += 1
                return
            names = list(t.fields)
            i = 0
            for e in init.exprs:
                if isinstance(e, c_ast.NamedInitializer):
                    if not isinstance(e.name[0], c_ast.ID):
                        raise at(node.coord, f"expected a field designator .name for {t}")
                    f = self.unit.field_of(t, e.name[0].name, e.name[0].coord)
                    i = names.index(f.name)
                    e = self.unit.designated(f.type, e.name[1:], e.expr)
                if i >= len(names):
                    raise at(node.coord, f"excess elements in the initializer of {t}")
                f = t.fields[names[i]]
                self.flatten_init(f.type, off + f.offset, e, words, exprs, node)
                i += 1
            return
        if isinstance(init, c_ast.InitList):
            if len(init.exprs) != 1:
                raise at(node.coord, "too many initializers for a scalar")
            init = init.exprs[0]
        c = self.try_const(init)
        if c is not None:
            words[off] = int(c.imm != 0) if isinstance(t, Int) and t.is_bool else wrap(c.imm, t)
        else:
            exprs[off] = (t, init)

    def set_site(self, node) -> None:
        self.em.site = self.site_of(node.coord)

    # -- control flow --------------------------------------------------------------------------

    def s_If(self, node) -> None:
        other = self.em.new_label()
        self.branch(node.cond, other, False)
        self.stmt(node.iftrue)
        if node.iffalse is not None:
            end = self.em.new_label()
            if not self.em.last_is_jump():
                self.set_site(node)
                self.em.emit("jmp", Jump(end))
            self.em.bind(other)
            self.stmt(node.iffalse)
            self.em.bind(end)
        else:
            self.em.bind(other)

    def loop(self, node, cond, body, step, test_first: bool) -> None:
        top, cont, end = self.em.new_label(), self.em.new_label(), self.em.new_label()
        test = self.em.new_label()
        if test_first and cond is not None:
            self.em.emit("jmp", Jump(test))  # test at the bottom: one branch per iteration
        self.em.bind(top)
        self.breaks.append(end)
        self.continues.append(cont)
        self.stmt(body)
        self.breaks.pop()
        self.continues.pop()
        self.em.bind(cont)
        if step is not None:
            self.set_site(step)
            self.gen_discard(step)
        self.em.bind(test)
        if cond is None:
            self.set_site(node)
            self.em.emit("jmp", Jump(top))
        else:
            self.set_site(cond)
            self.branch(cond, top, True)
        self.em.bind(end)

    def s_While(self, node) -> None:
        self.loop(node, node.cond, node.stmt, None, True)

    def s_DoWhile(self, node) -> None:
        self.loop(node, node.cond, node.stmt, None, False)

    def s_For(self, node) -> None:
        self.scopes.append({})
        if node.init is not None:
            if isinstance(node.init, c_ast.DeclList):
                self.s_DeclList(node.init)
            else:
                self.gen_discard(node.init)
        self.loop(node, node.cond, node.stmt, node.next, True)
        self.pop_scope()

    def s_Break(self, node) -> None:
        if not self.breaks:
            raise at(node.coord, "break statement not within a loop or switch")
        self.em.emit("jmp", Jump(self.breaks[-1]))

    def s_Continue(self, node) -> None:
        if not self.continues:
            raise at(node.coord, "continue statement not within a loop")
        self.em.emit("jmp", Jump(self.continues[-1]))

    def s_Return(self, node) -> None:
        ret = self.ftype.ret
        if node.expr is not None:
            if isinstance(ret, Void):
                v = self.gen(node.expr)
                if not isinstance(v.type, Void):
                    raise at(node.coord, f"'return' with a value, in function {self.name} returning void")
            else:
                v = self.convert(self.gen(node.expr, RET), ret, node.expr)
                if isinstance(decay(v.type), Struct):
                    raise at(node.coord, "returning a struct by value is not supported")
                self.set_site(node)
                self.to_reg(v, RET)
        elif not isinstance(ret, Void):
            raise at(node.coord, f"'return' with no value, in function {self.name} returning {ret}")
        self.set_site(node)
        self.em.emit("jmp", Jump(self.epilogue))

    def s_Goto(self, node) -> None:
        self.em.emit("jmp", Jump(self.goto_label(node.name, node.coord)))

    def s_Label(self, node) -> None:
        label = self.goto_label(node.name, node.coord)
        if label in self.labels_bound:
            raise at(node.coord, f"duplicate label '{node.name}'")
        self.labels_bound.add(label)
        self.em.bind(label)
        self.stmt(node.stmt)

    def goto_label(self, name: str, coord) -> int:
        if name not in self.goto_labels:
            self.goto_labels[name] = (self.em.new_label(), coord)
        return self.goto_labels[name][0]

    def s_Switch(self, node) -> None:
        v = self.in_reg(self.gen(node.cond))
        if not isinstance(v.type, Int):
            raise at(node.cond.coord, f"switch quantity is not an integer ({v.type})")
        quantity = promote(v.type)
        cases: list[tuple[int, int]] = []
        default = None
        for c in _cases(node.stmt):
            label = self.em.new_label()
            self.case_labels[id(c)] = label
            if isinstance(c, c_ast.Default):
                if default is not None:
                    raise at(c.coord, "multiple default labels in one switch")
                default = label
            else:
                value = wrap(self.unit.const_int(c.expr), quantity)  # converted to the promoted type
                if any(value == seen for seen, _ in cases):
                    raise at(c.coord, f"duplicate case value {signed(value)}")
                cases.append((value, label))
        end = self.em.new_label()
        for value, label in cases:
            self.em.emit("beq", Reg(v.reg), Imm(value), Jump(label))
        self.release(v)
        self.em.emit("jmp", Jump(default if default is not None else end))
        self.breaks.append(end)
        self.stmt(node.stmt)
        self.breaks.pop()
        self.em.bind(end)

    def s_Case(self, node) -> None:
        label = self.case_labels.get(id(node))
        if label is None:
            raise at(node.coord, "case label not within a switch statement")
        self.em.bind(label)
        for s in node.stmts or []:
            self.stmt(s)

    s_Default = s_Case


def _cases(node):
    """Case and Default nodes of one switch body (not those of nested switches)."""
    if node is None or isinstance(node, c_ast.Switch):
        return
    if isinstance(node, (c_ast.Case, c_ast.Default)):
        yield node
    for _, child in node.children():
        yield from _cases(child)
