"""Locals in registers and in the thread's in-memory stack frame; thread entries; mixed C and asm."""

from __future__ import annotations

from sim.c.link import STACK_WORDS


def test_recursion_with_array_locals_overflows_the_16k_stack(crun):
    system, outcome = crun("""
        long depth;
        long down(long n) {
            long buf[8];
            buf[n & 7] = n;
            depth++;
            return down(n + 1) + buf[n & 7];
        }
        void test_main(void) { down(0); }
    """)
    assert outcome.outcome == "panic"
    assert outcome.panic.message.startswith("stack overflow: ") and outcome.panic.message.endswith("-> down")  # with the call chain
    assert outcome.panic.function == "down" and outcome.panic.file == "prog.c"
    # 8 words of buf per frame: the stack holds STACK_WORDS // 8 frames
    assert system.read_symbol("depth") == STACK_WORDS // 8


def test_each_thread_has_its_own_stack_and_address_taken_locals_live_there(crun):
    system, outcome = crun("""
        long result[2];
        void fill(long *p, long v) { *p = v; }
        void worker(long id) {
            long mine = 0;
            for (long i = 0; i < 50; i++) { fill(&mine, mine + id); cond_resched(); }
            result[id] = mine;
        }
    """, threads=[{"name": "a", "entry": "worker", "regs": {"r1": 1}},
                  {"name": "b", "entry": "worker", "regs": {"r1": 0}}], cores=2)
    assert outcome.outcome == "completed"
    assert system.read_symbol("result[1]") == 50 and system.read_symbol("result[0]") == 0
    stacks = system.image.stacks
    assert set(stacks) == {"a", "b"} and stacks["a"][1] - stacks["a"][0] == STACK_WORDS
    assert system.image.symbol("__stack_a").size == STACK_WORDS


def test_returning_from_the_entry_function_ends_the_thread(crun):
    system, outcome = crun("long done; void test_main(void) { done = 1; return; }")
    assert outcome.outcome == "completed" and system.read_symbol("done") == 1


def test_c_and_assembly_on_one_machine_call_each_other_and_share_data(crun):
    system, outcome = crun(files={
        "main.c": """
            long from_asm;
            extern long asm_counter;
            long triple(long x);           /* in helper.s */
            long c_add(long a, long b) { return a + b + asm_counter; }
            void test_main(void) { asm_counter = 5; from_asm = triple(7); }
        """,
        "helper.s": """
            .word asm_counter, 0
            ; triple(r1): r0 = c_add(1, 2); like a C function it keeps every register but r0 and at
            triple:
                push r1
                push r2
                mul r2, r1, 3
                mov r1, 1
                mov r2, 2
                call c_add
                pop r2
                pop r1
                ret
        """}, sources=["main.c", "helper.s"])
    assert outcome.outcome == "completed", outcome
    # triple returns c_add(1, 2) = 1 + 2 + 5 (it overwrote r2 before the call on purpose)
    assert system.read_symbol("from_asm") == 8
