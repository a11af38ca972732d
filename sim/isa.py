"""The instruction set: every mnemonic, its operand signature and what it means.

This table is the single contract between the assembler (which parses operands by it) and the
executor (which compiles each decoded instruction to a closure once, at load time).

Operand signature letters:
  R  a register: r0..r15 (aliases: `at` is r14, the assembler temporary that macros may clobber;
     `sp` is r15 by convention only: the call stack is thread-private and not in memory)
  V  a value: a register or a constant expression (numbers, .equ constants, .bit names, symbol
     addresses such as page0.flags, thread and port names, + - * / % << >> & | ^ ~ and parentheses)
  M  a memory operand in brackets: [expr], [reg], [reg + expr], [reg - expr], [expr + reg]
  L  a code label (a function name, or a local `.name` label inside the current function)
  P  a port name declared in the scenario's [ports] table
  S  a string literal in double quotes
A trailing `*` means "zero or more more of the same" (send/recv payloads, at most 4 words).

Words are 64-bit; arithmetic wraps modulo 2**64; comparisons and div/mod/shr are unsigned, their
`_s`/`s`/`sar` forms signed (two's complement).
"""

from __future__ import annotations

from dataclasses import dataclass

MASK64 = (1 << 64) - 1
# A thread's stack: a kernel stack is 16 KiB. Return addresses and pushed words (and, in C, the
# in-memory frames of sim/c) share it; overflowing it panics "stack overflow" with the call chain.
KERNEL_STACK_BYTES = 16 * 1024
WORD_BYTES = 8
STACK_WORDS = KERNEL_STACK_BYTES // WORD_BYTES
NUM_REGS = 16
REG_ALIASES = {"at": 14, "sp": 15}
MAX_PAYLOAD = 4


@dataclass(frozen=True, slots=True)
class OpSpec:
    name: str
    signature: str  # e.g. "RRV"; a trailing '*' repeats the letter before it
    summary: str
    two_operand_form: bool = False  # `add rd, v` means `add rd, rd, v`


_SPECS = [
    # data movement (plain, non-atomic accesses)
    OpSpec("mov", "RV", "rd = v"),
    OpSpec("ld", "RM", "rd = mem[m]  (a plain read)"),
    OpSpec("st", "MV", "mem[m] = v  (a plain write; under tso it goes through the store buffer)"),
    # marked and ordered accesses (the kernel's READ_ONCE, WRITE_ONCE, smp_load_acquire,
    # smp_store_release): the same loads and stores as ld/st to the machine (under tso every
    # load is an acquire and every store, buffered, a release), recorded with their mode so the
    # race rules know what the programmer declared
    OpSpec("ld_once", "RM", "rd = READ_ONCE(mem[m])  (a marked read)"),
    OpSpec("st_once", "MV", "WRITE_ONCE(mem[m], v)  (a marked write; buffered under tso)"),
    OpSpec("ld_acquire", "RM", "rd = smp_load_acquire(mem[m])"),
    OpSpec("st_release", "MV", "smp_store_release(mem[m], v)  (buffered under tso like any store)"),
    # arithmetic and logic: three-operand, or two-operand meaning rd = rd op v
    OpSpec("add", "RRV", "rd = ra + v", True),
    OpSpec("sub", "RRV", "rd = ra - v", True),
    OpSpec("mul", "RRV", "rd = ra * v", True),
    OpSpec("div", "RRV", "rd = ra // v (division by zero panics)", True),
    OpSpec("mod", "RRV", "rd = ra % v (division by zero panics)", True),
    OpSpec("and", "RRV", "rd = ra & v", True),
    OpSpec("or", "RRV", "rd = ra | v", True),
    OpSpec("xor", "RRV", "rd = ra ^ v", True),
    OpSpec("shl", "RRV", "rd = ra << v", True),
    OpSpec("shr", "RRV", "rd = ra >> v", True),
    OpSpec("not", "RV", "rd = ~v"),
    # signed arithmetic (C's signed types): two's complement, division truncates toward zero
    OpSpec("sar", "RRV", "rd = ra >> v, arithmetic (the sign bit is copied in)", True),
    OpSpec("sdiv", "RRV", "rd = ra / v, signed, truncating toward zero (division by zero panics)", True),
    OpSpec("smod", "RRV", "rd = ra % v, signed, with the sign of ra (division by zero panics)", True),
    # control flow
    OpSpec("jmp", "L", "goto label"),
    OpSpec("jz", "RL", "if ra == 0 goto label"),
    OpSpec("jnz", "RL", "if ra != 0 goto label"),
    OpSpec("beq", "RVL", "if ra == v goto label"),
    OpSpec("bne", "RVL", "if ra != v goto label"),
    OpSpec("blt", "RVL", "if ra < v goto label (unsigned)"),
    OpSpec("ble", "RVL", "if ra <= v goto label (unsigned)"),
    OpSpec("bgt", "RVL", "if ra > v goto label (unsigned)"),
    OpSpec("bge", "RVL", "if ra >= v goto label (unsigned)"),
    OpSpec("blt_s", "RVL", "if ra < v goto label (signed)"),
    OpSpec("ble_s", "RVL", "if ra <= v goto label (signed)"),
    OpSpec("bgt_s", "RVL", "if ra > v goto label (signed)"),
    OpSpec("bge_s", "RVL", "if ra >= v goto label (signed)"),
    OpSpec("call", "L", "push the return address on the thread's stack and jump"),
    OpSpec("ret", "", "pop the return address and jump to it"),
    OpSpec("push", "V", "push v on the thread's stack"),
    OpSpec("pop", "R", "rd = pop the thread's stack"),
    # the in-memory stack of C frames (sp = r15): thread-private words, 16 KiB per thread
    OpSpec("enter", "V", "sp -= v: a frame of v words at [sp]; below the thread's stack panics 'stack overflow'"),
    OpSpec("leave", "V", "sp += v: drop the frame"),
    # atomic read-modify-write: locked, drain the store buffer, never split by another core
    OpSpec("xchg", "RMV", "rd = mem[m]; mem[m] = v"),
    OpSpec("cas", "RMVV", "rd = mem[m]; if rd == expected: mem[m] = new"),
    OpSpec("xadd", "RMV", "rd = mem[m]; mem[m] += v"),
    OpSpec("test_and_set_bit", "RVM", "rd = bit v of mem[m]; set it (atomic)"),
    OpSpec("test_and_clear_bit", "RVM", "rd = bit v of mem[m]; clear it (atomic)"),
    OpSpec("set_bit", "VM", "set bit v of mem[m] (atomic, like Linux set_bit)"),
    OpSpec("clear_bit", "VM", "clear bit v of mem[m] (atomic, like Linux clear_bit)"),
    OpSpec("test_and_set_bit_lock", "RVM", "test_and_set_bit with acquire semantics when it takes the bit"),
    OpSpec("clear_bit_unlock", "VM", "clear_bit with release semantics"),
    OpSpec("fence", "", "smp_mb(): full memory barrier (mfence): drains this core's store buffer"),
    OpSpec("rmb", "", "smp_rmb(): orders loads (a compiler barrier under sc and tso: no drain)"),
    OpSpec("wmb", "", "smp_wmb(): orders stores (a compiler barrier under sc and tso: no drain)"),
    # kernel synchronisation
    OpSpec("spin_lock", "M", "preempt_disable, then spin until the lock word is taken (acquire)"),
    OpSpec("spin_trylock", "RM", "preempt_disable; rd = 1 and acquire if taken, else rd = 0 and preempt_enable"),
    OpSpec("spin_unlock", "M", "release the lock word, then preempt_enable"),
    OpSpec("preempt_disable", "", "preempt_count += 1"),
    OpSpec("preempt_enable", "", "preempt_count -= 1"),
    OpSpec("kernel_enter", "", "a user thread enters the kernel (a system call or ioctl)"),
    OpSpec("kernel_exit", "", "return to user mode"),
    # scheduling
    OpSpec("pause", "", "cpu_relax(): a spin-wait hint, lets the scheduler run someone else"),
    OpSpec("yield", "", "a voluntary preemption point (cond_resched)"),
    OpSpec("sleep", "", "block until woken (a pending wake-up is consumed at once)"),
    OpSpec("wake", "V", "wake the thread with id v (thread names are constants)"),
    OpSpec("spawn", "V", "start the thread with id v (declared with start = false)"),
    OpSpec("delay", "V", "busy-wait v cycles on this core (udelay): the core stays busy"),
    OpSpec("msleep", "V", "sleep v cycles (schedule_timeout): the thread blocks and frees its core"),
    OpSpec("halt", "", "the thread exits"),
    OpSpec("tid", "R", "rd = this thread's id"),
    OpSpec("cpu", "R", "rd = this core's number on its machine (smp_processor_id)"),
    # network
    OpSpec("send", "PV*", "send a message of up to 4 words to a port (delivered after the link latency)"),
    OpSpec("recv", "PR*", "block until a message is on the port, then copy its words to the registers"),
    # assertions
    OpSpec("bug_on", "RS", "BUG_ON(ra): panic the machine with the message if ra != 0"),
    OpSpec("bug", "S", "BUG(): panic the machine with the message"),
    OpSpec("nop", "", "do nothing for one cycle"),
]

OPS: dict[str, OpSpec] = {spec.name: spec for spec in _SPECS}

# Instructions whose memory access is atomic (locked): they drain the store buffer first.
ATOMIC_OPS = frozenset({
    "xchg", "cas", "xadd", "test_and_set_bit", "test_and_clear_bit", "set_bit", "clear_bit",
    "test_and_set_bit_lock", "clear_bit_unlock", "spin_lock", "spin_trylock", "spin_unlock",
})


@dataclass(frozen=True, slots=True)
class Reg:
    n: int


@dataclass(frozen=True, slots=True)
class Imm:
    value: int  # already masked to 64 bits


@dataclass(frozen=True, slots=True)
class Mem:
    base: int | None  # register number, or None for an absolute address
    disp: int


@dataclass(frozen=True, slots=True)
class Label:
    pc: int
    name: str


@dataclass(frozen=True, slots=True)
class Port:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Str:
    text: str


Operand = Reg | Imm | Mem | Label | Port | Str
