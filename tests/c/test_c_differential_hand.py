"""Hand-written programs, one per construct of the subset, run here and compiled natively by gcc."""

from __future__ import annotations

import pytest

PROGRAMS = {
    "arithmetic": """
        unsigned long out[8];
        void test_main(void) {
            long a = 7, b = -3; unsigned long u = 5;
            out[0] = a + b; out[1] = a - b * 4; out[2] = a * b; out[3] = u - 9;
            out[4] = (a << 3) | (b & 0xff); out[5] = a ^ b; out[6] = ~a; out[7] = -b + +a;
        }""",
    "signed division and shifts": """
        unsigned long out[12];
        void test_main(void) {
            long a = -17, b = 5, c = 17, d = -5; unsigned long u = -17;
            out[0] = a / b; out[1] = a % b; out[2] = c / d; out[3] = c % d; out[4] = a / d; out[5] = a % d;
            out[6] = a >> 2; out[7] = u >> 2; out[8] = u / 5; out[9] = u % 5; out[10] = (-1L) >> 63;
            out[11] = 0x8000000000000000UL >> 63;
        }""",
    "comparisons signed and unsigned": """
        unsigned long out[10];
        void test_main(void) {
            long a = -1, b = 1; unsigned long u = 1, v = -1;
            out[0] = a < b; out[1] = a > b; out[2] = u < v; out[3] = a < u; out[4] = a <= -1;
            out[5] = b >= 2; out[6] = a == v; out[7] = a != b; out[8] = !a; out[9] = !!b;
        }""",
    "short circuit and ternary": """
        unsigned long out[6]; long calls;
        long bump(long x) { calls++; return x; }
        void test_main(void) {
            long z = 0, one = 1;
            out[0] = z && bump(1); out[1] = one || bump(2); out[2] = one && bump(3);
            out[3] = z || bump(0); out[4] = calls; out[5] = one ? (z ? 10 : 20) : 30;
        }""",
    "compound assignment and increments": """
        unsigned long out[10];
        void test_main(void) {
            long a = 10, b; unsigned long u = 3;
            a += 5; a -= 2; a *= 3; a /= 4; a %= 7; out[0] = a;
            u <<= 4; u >>= 1; u |= 1; u &= 0x1d; u ^= 0xff; out[1] = u;
            b = a++; out[2] = b; out[3] = a; b = --a; out[4] = b; out[5] = a--; out[6] = a;
            long x = -100; x >>= 3; out[7] = x; x /= -3; out[8] = x; out[9] = (x += 1, x * 2);
        }""",
    "if else and loops": """
        unsigned long out[6];
        void test_main(void) {
            long i, s = 0, n = 0;
            for (i = 0; i < 10; i++) { if (i % 3 == 0) continue; if (i == 8) break; s += i; }
            out[0] = s;
            while (n < 100) n = n * 2 + 1;
            out[1] = n;
            do { n -= 30; } while (n > 0);
            out[2] = n;
            for (long j = 0, k = 10; j < k; j++, k--) s += j * k;
            out[3] = s;
            if (s > 1000) out[4] = 1; else if (s > 100) out[4] = 2; else out[4] = 3;
            for (;;) { if (++i > 20) break; }
            out[5] = i;
        }""",
    "switch with fall-through": """
        unsigned long out[8];
        long classify(long x) {
            long r = 0;
            switch (x) {
            case 0: r += 1;
            case 1: r += 10; break;
            case 2: case 3: r = 100; break;
            case -4: { r = -4; break; }
            default: r = 1000;
            case 7: r += 7;
            }
            return r;
        }
        void test_main(void) { for (long i = -4; i < 4; i++) out[i + 4] = classify(i == -3 ? 7 : i); }""",
    "goto error paths": """
        unsigned long out[4];
        long setup(long fail_at) {
            long steps = 0;
            if (fail_at == 1) goto fail_one;
            steps += 1;
            if (fail_at == 2) goto fail_two;
            steps += 10;
            return steps;
        fail_two:
            steps += 100;
        fail_one:
            steps += 1000;
            return -steps;
        }
        void test_main(void) { out[0] = setup(0); out[1] = setup(1); out[2] = setup(2);
            long i = 0; again: if (++i < 5) goto again; out[3] = i; }""",
    "functions and recursion": """
        unsigned long out[6];
        long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
        long gcd(long a, long b) { while (b) { long t = a % b; a = b; b = t; } return a; }
        long ack(long m, long n) { if (!m) return n + 1; if (!n) return ack(m - 1, 1); return ack(m - 1, ack(m, n - 1)); }
        long many(long a, long b, long c, long d, long e, long f, long g, long h) { return a - b + c - d + e - f + g - h * 2; }
        long swap_args(long a, long b) { return many(b, a, b, a, 1, 2, 3, 4); }
        void test_main(void) { out[0] = fib(15); out[1] = gcd(1071, 462); out[2] = ack(2, 3);
            out[3] = many(1, 2, 3, 4, 5, 6, 7, 8); out[4] = swap_args(10, 3); out[5] = fib(fib(7)); }""",
    "structs arrays and pointers": """
        unsigned long out[10];
        struct point { long x, y; };
        struct shape { long kind; struct point p[3]; struct point *first; };
        struct shape shapes[2] = { { 1, { {1, 2}, {3, 4}, {5, 6} } }, { .kind = 2, .p[1].y = 9 } };
        long sum(struct point *p, long n) { long s = 0; for (long i = 0; i < n; i++) s += p[i].x * 10 + (p + i)->y; return s; }
        void test_main(void) {
            struct shape *s = &shapes[0];
            s->first = &s->p[1];
            out[0] = sum(s->p, 3); out[1] = s->first->y; out[2] = shapes[1].p[1].y;
            long *q = &shapes[0].p[0].x; q += 3; out[3] = *q; out[4] = q - &shapes[0].p[0].x;
            struct point local = { 7, 8 }, copy;
            copy = local; copy.y += 1; out[5] = copy.x * 100 + copy.y; out[6] = local.y;
            long arr[5] = { 1, 2, 3 }; long *pa = arr; pa[4] = 50; out[7] = arr[4] + arr[3] + *(pa + 2);
            out[8] = sizeof(struct shape) / sizeof(long); out[9] = sizeof arr / sizeof arr[0];
        }""",
    "pointers to locals and out parameters": """
        unsigned long out[4];
        void divmod(long a, long b, long *q, long *r) { *q = a / b; *r = a % b; }
        void inc(long *p) { (*p)++; }
        void test_main(void) { long q, r, n = 5; divmod(47, 5, &q, &r); inc(&n); inc(&n);
            out[0] = q; out[1] = r; out[2] = n; long *pn = &n; *pn *= 3; out[3] = n; }""",
    "globals with initialisers": """
        unsigned long out[6];
        long g = -5; unsigned long mask = 1UL << 40; long table[4] = { 3, 1, 4, 1 };
        struct cfg { long a; long b[2]; } cfg = { 9, { 8, 7 } };
        long *gp = &table[2];
        enum color { RED, GREEN = 5, BLUE };
        void test_main(void) { out[0] = g; out[1] = mask; out[2] = table[0] + table[3]; out[3] = cfg.b[1];
            out[4] = *gp; out[5] = BLUE + RED * 3 + GREEN; }""",
    "casts and bool": """
        unsigned long out[6];
        void test_main(void) {
            long a = -2; _Bool b = 5; unsigned long u = (unsigned long)a;
            out[0] = u; out[1] = b; out[2] = (_Bool)0 + (_Bool)a; out[3] = (long)u < 0;
            out[4] = (unsigned long)a > 3; out[5] = ((void)0, 9);
        }""",
    "block scopes and shadowing": """
        unsigned long out[3];
        void test_main(void) { long x = 1; { long x = 2; out[0] = x; { long x = 3; out[1] = x; } } out[2] = x; }""",
    "static locals": """
        unsigned long out[3];
        long counter(void) { static long n = 10; return n++; }
        void test_main(void) { out[0] = counter(); out[1] = counter(); out[2] = counter(); }""",
    "char constants and hex": """
        unsigned long out[4];
        void test_main(void) { out[0] = 'A'; out[1] = '\\n'; out[2] = 0x7fffffffffffffff + 1; out[3] = 017 + 0xFFul; }""",
    "many locals spill to the frame": """
        unsigned long out[2];
        void test_main(void) {
            long a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9, j = 10, k = 11, l = 12;
            long m = a + b * c - d + e * f - g + h * i - j + k * l;
            out[0] = m; out[1] = a + b + c + d + e + f + g + h + i + j + k + l;
        }""",
    "narrow types wrap, truncate and extend": """
        unsigned long out[16];
        typedef unsigned char u8; typedef signed char s8; typedef unsigned short u16; typedef int s32;
        u8 gc = 300; s8 gs = 200; int gi = -5;
        struct n { u8 a; short b; unsigned int c; } gn = { 511, 70000, -1 };
        int add(int a, int b) { return a + b; }
        u8 low(long x) { return x; }
        void test_main(void) {
            u8 x = 255; x++; out[0] = x;
            int i = 2147483647; i++; out[1] = i;
            unsigned int u = 0; u--; out[2] = u;
            s8 s = 127; s += 1; out[3] = s;
            short sh = -32768; sh--; out[4] = sh;
            out[5] = gc + gs + gi; out[6] = gn.a + gn.b + gn.c;
            u8 c1 = 200, c2 = 100; out[7] = c1 + c2; u8 c3 = c1 + c2; out[8] = c3;
            out[9] = add(2147483647, 1); out[10] = low(0x1234);
            int neg = -7; out[11] = (unsigned int)neg; out[12] = (long)(s8)0x80;
            out[13] = (1u << 31) | (unsigned long)(u16)-1;
            s32 big = 65536; out[14] = big * big; out[15] = (unsigned int)-1 * 2u;
        }""",
    "narrow types: promotions and the usual conversions": """
        unsigned long out[14];
        void test_main(void) {
            int m = -1; unsigned int um = 1; unsigned char uc = 5; short sm = -3;
            out[0] = m < um; out[1] = m == 0xffffffff; out[2] = m < uc; out[3] = sm < uc;
            out[4] = m + um; out[5] = m + 1L; out[6] = um - 2; out[7] = um - 2L;
            out[8] = ~uc; out[9] = -uc; out[10] = uc << 30; out[11] = (unsigned char)~uc;
            out[12] = (m > 0u) + (sm > 0u); out[13] = -2147483647 - 1 == (int)0x80000000;
        }""",
    "narrow types: division, shifts, switch, arrays and pointers": """
        unsigned long out[12];
        unsigned short table[4] = { 65535, 65536, -1, 7 };
        void fill(unsigned char *p, int n) { for (int k = 0; k < n; k++) p[k] = k * 100; }
        void test_main(void) {
            signed char d = -7; d /= 2; out[0] = d;
            int q = -7; out[1] = q % 4; out[2] = (unsigned int)q / 4; out[3] = q >> 1;
            unsigned int w = 0x80000000u; out[4] = w >> 31; out[5] = (int)w >> 31;
            unsigned char sel = 258;
            switch (sel) { case 2: out[6] = 1; break; case 258: out[6] = 2; break; default: out[6] = 3; }
            out[7] = table[0] + table[1] + table[2] + table[3];
            unsigned char bytes[4]; fill(bytes, 4); out[8] = bytes[3]; out[9] = bytes[1] + bytes[2];
            short *ps = (short *)&table[0]; *ps = 40000; out[10] = *ps; out[11] = table[0];
        }""",
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_construct_matches_gcc(crun, name):
    source = PROGRAMS[name]
    n = int(source.split("out[", 1)[1].split("]", 1)[0])
    simulated, native = crun.differential(source, n)
    assert simulated == native
