"""Integer types have C's widths (char 8, short 16, int 32, long 64 bits; storage stays one word
per scalar): a value is truncated and sign- or zero-extended on assignment, conversion, argument
passing, return and store, and arithmetic follows C's promotions (no gcc needed here; the
differential tests compare the same rules against gcc)."""

from __future__ import annotations


def test_a_kernel_developers_expectations(crun):
    system, outcome = crun("""
        #include <linux/types.h>
        unsigned long out[8];
        u8 counter8 = 250;
        s32 sum(s32 a, s32 b) { return a + b; }
        void test_main(void) {
            u8 x = 255; x++; out[0] = x;                      /* 0 */
            int i = 0x7fffffff; i++; out[1] = i;              /* INT_MIN, sign-extended */
            for (int k = 0; k < 10; k++) counter8++;          /* 250 + 10 wraps to 4 */
            out[2] = counter8;
            out[3] = sum(0x7fffffff, 1) < 0;                  /* int arithmetic wraps at 32 bits */
            u16 h = 0x12345; out[4] = h;                      /* truncated on initialisation */
            s8 c = (s8)0xff; out[5] = c;                      /* -1 */
            unsigned int u = -1; out[6] = u;                  /* 0xffffffff, zero-extended */
            out[7] = (u8)(x - 1) == 255;                      /* 0 - 1 as an int is -1; as a u8, 255 */
        }
    """)
    assert outcome.outcome == "completed"
    assert crun.out(system, 8) == [0, (1 << 64) - (1 << 31), 4, 1, 0x2345, (1 << 64) - 1, 0xffffffff, 1]


def test_a_narrow_struct_field_is_stored_and_read_as_its_type(crun):
    system, outcome = crun("""
        struct hdr { unsigned char type; short len; long payload; };
        struct hdr h;
        unsigned long out[3];
        void test_main(void) {
            struct hdr *p = &h;
            p->type = 0x1ff; p->len = 40000; p->payload = 1L << 40;
            out[0] = p->type; out[1] = p->len; out[2] = p->payload;
        }
    """)
    assert outcome.outcome == "completed"
    assert crun.out(system, 3) == [0xff, (1 << 64) - 25536, 1 << 40]
    # the word in memory is the value as C holds it (what queries show)
    assert system.read_symbol("h.type") == 0xff
