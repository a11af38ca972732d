"""Pass 2: every queued instruction's operands encoded by its sim.isa signature, and its Site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..expr import evaluate
from ..isa import MASK64, MAX_PAYLOAD, OPS, Imm, Label, Mem, Operand, OpSpec, Port, Reg, Str
from ..lexer import NAME, STRING, LineError, Token, tokenize
from ..program import Instr, Site
from .source_line import REGISTERS, Arg, Where, count, is_punct, missing_comma, no_junk, register, split_args, suggest


@dataclass(frozen=True, slots=True)
class _Pending:
    """An instruction queued by pass 1 for pass 2."""

    op: str
    args: tuple[Arg, ...] | None  # None: a fast line (sim.asm.line_forms), whose operands are `texts`
    where: Where
    col: int  # the mnemonic's column (the invocation's, for macro expansions)
    function: str
    raw: str = ""  # a fast line's text, read again by the general path if its operands need it
    texts: tuple[str, ...] = ()


class Encoder:
    """The pass-2 part of sim.assembler's _Machine."""

    def encode(self, sites: list[Site]) -> None:
        for pc, p in enumerate(self.pending):
            if not isinstance(p, _Pending):  # compiled C (sim.c.link.CPending)
                args, site = p.encode(self, pc)
                sites.append(site)
                self.out.code.append(Instr(p.ins.op, args, len(sites) - 1))
                continue
            try:
                args = self._operands(p)
            except LineError as e:
                raise p.where.error(e.message, e.col) from None
            sites.append(Site(self.name, pc, p.where.file, p.where.line, p.col, p.function,
                              self._site_label(pc, p.function), p.where.text))
            self.out.code.append(Instr(p.op, args, len(sites) - 1))
        for words, arg, where in self.initializers:
            try:
                value = self._eval(arg)
            except LineError as e:
                raise where.error(e.message, e.col) from None
            if value:
                self.out.initial.update(dict.fromkeys(words, value))
        if self.c_initial:
            from ..c.link import resolve_initial
            resolve_initial(self)

    def _site_label(self, pc: int, function: str) -> str:
        """The label at exactly this pc: the function's own name if it starts here, else the
        first label written there, preferring the user's labels to macros' internal ones."""
        names = self.labels_at.get(pc, [])
        if function in names:
            return function
        ranked = sorted(names, key=lambda n: n in self.macro_labels)  # stable: keeps source order
        return ranked[0] if ranked else ""

    def _operands(self, p: _Pending) -> tuple[Operand, ...]:
        args = p.args
        if args is None:
            fast = self._fast_operands(p)
            if fast is not None:
                return fast
            args = _line_args(p.raw)
        spec = OPS[p.op]
        letters = operand_letters(spec, args, p.col)
        if len(letters) == len(args) + 1:  # two-operand form: `add r1, 5` is `add r1, r1, 5`
            args = (args[0], *args)
        return tuple(self._operand(letter, arg, p.function) for letter, arg in zip(letters, args))

    def _fast_operands(self, p: _Pending) -> tuple[Operand, ...] | None:
        """A fast line's operands, each distinct operand text encoded once per machine (every
        name is known in pass 2, so an operand means the same wherever it is written; labels are
        looked up by function for local ones). None: something is not simple or not right; the
        general path then encodes the line from its tokens, and says what is wrong, where."""
        texts = p.texts
        letters = _fast_letters(p.op, len(texts))
        if letters is None:
            return None
        if len(letters) == len(texts) + 1:  # two-operand form
            texts = (texts[0], *texts)
        cache = self.operand_cache
        out = []
        for letter, text in zip(letters, texts):
            if letter == "L":
                operand = self._fast_label(text, p.function)
            else:
                operand = cache.get(letter + text)
                if operand is None:
                    try:
                        operand = self._operand(letter, Arg(tuple(tokenize(text)), text, 1), p.function)
                    except LineError:
                        return None
                    cache[letter + text] = operand
            if operand is None:
                return None
            out.append(operand)
        return tuple(out)

    def _fast_label(self, name: str, function: str) -> Label | None:
        """As _label_ref for a label written as one name, or None (the general path explains)."""
        key = function + name if name[0] == "." else name
        label = self.label_cache.get(key)
        if label is None:
            pc = self.locals.get(key) if name[0] == "." else self.out.labels.get(name, self.locals.get(name))
            if pc is None:
                return None
            label = self.label_cache[key] = Label(pc, key)
        return label

    def _operand(self, letter: str, arg: Arg, function: str) -> Operand:
        if letter == "R":
            return Reg(register(arg))
        if letter == "V":
            tok = arg.tokens[0]
            if tok.kind == NAME and tok.text in REGISTERS and len(arg.tokens) == 1:
                return Reg(REGISTERS[tok.text])
            return Imm(self._eval(arg) & MASK64)
        if letter == "M":
            return self._memory(arg)
        if letter == "L":
            return self._label_ref(arg, function)
        if letter == "P":
            return self._port(arg)
        assert letter == "S", letter
        tok = arg.tokens[0]
        if tok.kind != STRING:
            raise LineError(f"expected a string in double quotes, got '{arg.text}'", arg.col)
        no_junk(arg, 1, "string")
        return Str(tok.value)  # type: ignore[arg-type]

    def _memory(self, arg: Arg) -> Mem:
        toks = arg.tokens
        if not is_punct(toks[0], "["):
            raise LineError(f"expected a memory operand in brackets such as [addr] or [r1 + 8], "
                            f"got '{arg.text}'", arg.col)
        depth, close = 0, None
        for i, tok in enumerate(toks):
            depth += is_punct(tok, "[") - is_punct(tok, "]")
            if depth == 0:
                close = i
                break
        if close is None:
            raise LineError("missing ']' at the end of the memory operand", toks[-1].end + 1)
        no_junk(arg, close + 1, "memory operand")
        inner = toks[1:close]
        if not inner:
            raise LineError("empty memory operand '[]'", toks[0].col)

        def is_reg(tok: Token) -> bool:
            return tok.kind == NAME and tok.text in REGISTERS

        if is_reg(inner[0]):  # [reg], [reg + expr], [reg - expr]
            base = REGISTERS[inner[0].text]
            if len(inner) == 1:
                return Mem(base, 0)
            sign = inner[1]
            if not (is_punct(sign, "+") or is_punct(sign, "-")):
                raise LineError(f"expected '+' or '-' after the base register, got '{sign.text}'", sign.col)
            # The sign is kept as a unary operator so that [r1 - 4 + 2] means r1 + (-4 + 2).
            return Mem(base, evaluate(inner[1:], self._resolve, col=arg.col))
        if len(inner) >= 3 and is_reg(inner[-1]) and is_punct(inner[-2], "+"):  # [expr + reg]
            return Mem(REGISTERS[inner[-1].text], evaluate(inner[:-2], self._resolve, col=arg.col))
        return Mem(None, evaluate(inner, self._resolve, col=arg.col))

    def _label_ref(self, arg: Arg, function: str) -> Label:
        tok = arg.tokens[0]
        if tok.kind != NAME:
            raise LineError(f"expected a label, got '{arg.text}'", arg.col)
        no_junk(arg, 1, "label")
        name = tok.text
        local_names = self.local_names.get(function, [])
        if name.startswith("."):  # local to the current function
            key = function + name
            if key in self.locals:
                return Label(self.locals[key], key)
            candidates = [*local_names, *self.out.labels]
        else:
            if name in self.out.labels:
                return Label(self.out.labels[name], name)
            if name in self.locals:  # a qualified local label such as nfs_flush.retry
                return Label(self.locals[name], name)
            candidates = [*self.out.labels, *local_names]
        hint = suggest(name, candidates)
        if not hint and (name in self.constants or name in self.asm.layout.names):
            hint = f" ('{name}' is a value, not a code label)"
        raise LineError(f"unknown label '{name}'{hint}", tok.col)

    def _port(self, arg: Arg) -> Port:
        tok = arg.tokens[0]
        if tok.kind != NAME:
            raise LineError(f"expected a port name, got '{arg.text}'", arg.col)
        no_junk(arg, 1, "port name")
        ports = self.asm.ports
        if tok.text in ports:
            return Port(ports[tok.text], tok.text)
        hint = suggest(tok.text, ports) if ports else " (the scenario declares no ports)"
        raise LineError(f"unknown port '{tok.text}'{hint}", tok.col)



def operand_letters(spec: OpSpec, args: Sequence[Arg], col: int) -> str:
    """The operand letters for the written operands, or a LineError saying what was expected."""
    n = len(args)
    sig = spec.signature
    if sig.endswith("*"):  # like a regex: `PV*` is a P then 0..MAX_PAYLOAD Vs
        fixed, repeated = sig[:-2], sig[-2]
        lo, hi = len(fixed), len(fixed) + MAX_PAYLOAD
        if lo <= n <= hi:
            return fixed + repeated * (n - lo)
        expected = f"{lo} to {hi} operands ({', '.join(fixed)}, {repeated}...)"
    else:
        if n == len(sig) or (spec.two_operand_form and n == len(sig) - 1):
            return sig
        expected = count(len(sig)) + (f" ({', '.join(sig)})" if sig else "")
        if spec.two_operand_form:
            expected += f" or {len(sig) - 1} ({', '.join(sig[1:])})"
    missing_comma(args)
    raise LineError(f"expected {expected} for {spec.name}, got {n}", col)


_NO_ARG = Arg((), "", 0)
_letter_cache: dict[tuple[str, int], str | None] = {}


def _fast_letters(op: str, n: int) -> str | None:
    """operand_letters for n operands of op, or None when n is wrong for it."""
    key = (op, n)
    if key not in _letter_cache:
        try:
            _letter_cache[key] = operand_letters(OPS[op], [_NO_ARG] * n, 0)
        except LineError:
            _letter_cache[key] = None
    return _letter_cache[key]


def _line_args(raw: str) -> tuple[Arg, ...]:
    """The operands of an instruction line as the general path cuts them (after its labels and
    mnemonic): for a fast line whose operands pass 2 must encode from tokens."""
    tokens = tokenize(raw)
    i = 0
    while i + 1 < len(tokens) and tokens[i].kind == NAME and is_punct(tokens[i + 1], ":"):
        i += 2
    return tuple(split_args(raw, tokens[i + 1:]))
