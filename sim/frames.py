"""C frames of a live system: which local of which call a stack word is, right now.

A C function with address-taken, array or struct locals keeps them in a frame on its thread's
in-memory stack (sim/c: `enter`/`leave`, sp = r15). Frames are contiguous: the innermost function's
frame starts at sp, its caller's right above it, and so on up the call stack (`thread.calls`). So a
stack word's current name follows from the thread's pc, sp and return addresses and the frame
layouts the C front-end put in the image (`Image.frames`). Replay names the words it shows this
way; the queries name recorded accesses from the recorded frames (queries/stack_names.py).
"""

from __future__ import annotations


def frame_layout(image, machine: str, pc: int) -> tuple | None:
    """(function, lo, hi, size, words) of the C function with a frame whose code holds pc."""
    for entry in image.frames.get(machine, ()):
        if entry[1] <= pc < entry[2]:
            return entry
    return None


def _allocated(code, layout, pc: int) -> bool:
    """Is the frame allocated at pc (after its `enter`, up to and including its `leave`)?"""
    _fn, lo, hi, _size, _words = layout
    enter = next((p for p in range(lo, hi) if code[p].op == "enter"), hi)
    leave = next((p for p in range(hi - 1, lo - 1, -1) if code[p].op == "leave"), lo)
    return enter < pc <= leave


def stack_word_name(system, addr: int) -> str | None:
    """`THREAD:FUNCTION.LOCAL` (`.field`, `[i]`) of a stack word in a live frame now, else None."""
    image = system.image
    owner = next((name for name, (lo, hi) in image.stacks.items() if lo <= addr < hi), None)
    if owner is None:
        return None
    t = next(t for t in system.threads if t.name == owner)
    machine = system.machines[t.machine]
    code = machine.code
    sp = t.regs[15]
    pcs = [t.pc] + [ret - 1 for ret in reversed(t.calls)]  # innermost first
    for i, pc in enumerate(pcs):
        layout = frame_layout(image, machine.name, pc)
        if layout is None or (i == 0 and not _allocated(code, layout, pc)):
            continue
        function, _lo, _hi, size, words = layout
        if sp <= addr < sp + size:
            name = dict(words).get(addr - sp)
            return f"{owner}:{function}.{name}" if name else None
        sp += size
    return None
