"""The recording's schema: the single source of truth for every table in a run directory.

Readers (queries/, tests, users' own scripts) rely on these names and types. Bump
SCHEMA_VERSION whenever a column changes; the query index rebuilds itself when it sees a newer one.

Run directory layout (a contract, documented in the README):

    meta.json                   scenario path and hash, options, outcome, counts, truncated
    events/part-NNNNN.arrows    Arrow IPC *stream* files of EVENTS rows, dense seq from 0
    vclocks/part-NNNNN.arrows   VCLOCKS rows: a thread's full vector clock whenever it changes
    symbols.parquet             SYMBOLS: every named data word
    bits.parquet                BITS: named bit numbers
    sites.parquet               SITES: instruction sites
    threads.parquet             THREADS: thread ids, names, machines
    frame_words.parquet         FRAME_WORDS: the words of each C function's frame, by name
    frame_sites.parquet         FRAME_SITES: instructions that access their own C frame directly
    frames.parquet              FRAMES: every C frame entered and left (written when the run ends)
    checkpoints/index.parquet   CHECKPOINTS: seq, cycle, instructions, file
    checkpoints/ckpt-NNNNN.bin  snapshots of the whole system
    schedule.json               the run's scheduling decisions, drains included (sim/schedule.py)
    index.duckdb                built by queries/ on first query
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: access `mode`; 3: every events/vclocks batch carries a checksum; 4: `issued`
# Recordings older than this lack a column the readers need (version 1: no access `mode`; before 4:
# no `issued`); they are refused with one line that says so (re-record the run: the scenario and
# seed reproduce it).
OLDEST_READABLE = 4

# The event and vector-clock streams say in their schema that every batch carries a checksum
# (tracer.trace_stream.CHECKSUM_KEY in its message's metadata): a reader then refuses a batch without.
STREAM_METADATA = {b"revtrace.checksums": b"crc32 per batch"}
# An events batch's metadata: how many vclocks rows exist once its clock changes are written (the
# vclocks batch follows it), so a reader with fewer knows where the clocks it has run out.
VCLOCK_ROWS_KEY = b"revtrace.vclock_rows"

# The event kinds, in the order of the simulator's numeric codes (sim/observer.py; a test keeps the
# two equal). Spelled out here because queries/ reads this module and must not import sim/.
KIND_NAMES = (
    "read", "write", "rmw", "acquire", "release", "fence", "send", "recv",
    "spawn", "wake", "switch", "panic", "sleep", "exit",
)

KIND_TYPE = pa.dictionary(pa.int8(), pa.string())
KIND_DICTIONARY = pa.array(KIND_NAMES, pa.string())

# How an access was made (sim/observer.py's MODE constants, in order; a test keeps them equal):
# plain (ld, st), marked (READ_ONCE / WRITE_ONCE: ld_once, st_once), acquire (ld_acquire, a lock
# taken), release (st_release, a lock released), atomic (a value-returning atomic RMW: fully
# ordered), atomic_noret (set_bit, clear_bit: unordered), mb / rmb / wmb (a fence's kind), trylock
# (the acquire event of a spin_trylock that took its lock). Non-access events are plain.
MODE_NAMES = (
    "plain", "marked", "acquire", "release", "atomic", "atomic_noret", "mb", "rmb", "wmb", "trylock",
)
MODE_TYPE = pa.dictionary(pa.int8(), pa.string())
MODE_DICTIONARY = pa.array(MODE_NAMES, pa.string())

# One row per event, in global order. Missing values are -1 (never null) so that columns stay
# plain and fast: addr for events without memory, sync for events without a sync object.
EVENTS = pa.schema([
    pa.field("seq", pa.int64(), nullable=False),  # global order, dense from 0
    pa.field("cycle", pa.int64(), nullable=False),  # global virtual clock
    pa.field("machine", pa.int16(), nullable=False),  # index into meta.json "machines"
    pa.field("core", pa.int16(), nullable=False),  # core number on that machine
    pa.field("thread", pa.int32(), nullable=False),  # threads.parquet thread id
    pa.field("site", pa.int32(), nullable=False),  # sites.parquet site id, -1 for none
    pa.field("kind", KIND_TYPE, nullable=False),  # read, write, rmw, acquire, release, ...
    pa.field("addr", pa.int64(), nullable=False),  # word address (port id for send/recv), -1
    pa.field("old", pa.uint64(), nullable=False),  # the word before (writes, rmw)
    pa.field("new", pa.uint64(), nullable=False),  # the word after (writes, rmw) or value read
    pa.field("clock", pa.int64(), nullable=False),  # the thread's own vector-clock entry (epoch)
    pa.field("sync", pa.int64(), nullable=False),  # lock addr, message id or thread id, -1
    pa.field("atomic", pa.bool_(), nullable=False),  # a locked/atomic access
    pa.field("mode", MODE_TYPE, nullable=False),  # how it was made: plain, marked, acquire, ...
    # under tso a store is recorded when it drains from the store buffer (when other cores can see
    # it): `issued` is the cycle its instruction ran at; -1 for every event that was not buffered
    pa.field("issued", pa.int64(), nullable=False),
], metadata=STREAM_METADATA)

# Whenever thread `thread`'s vector clock changes (at a sync operation) its own entry becomes
# `clock` and the full clock is written: one row per other thread `of_thread` with its `value`.
# "a happens-before b" (different threads) is then:
#     a.clock <= value where thread = b.thread and clock = b.clock and of_thread = a.thread
VCLOCKS = pa.schema([
    pa.field("thread", pa.int32(), nullable=False),
    pa.field("clock", pa.int64(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),  # the event at which the clock changed
    pa.field("of_thread", pa.int32(), nullable=False),
    pa.field("value", pa.int64(), nullable=False),
], metadata=STREAM_METADATA)

SYMBOLS = pa.schema([
    pa.field("addr", pa.int64(), nullable=False),
    pa.field("name", pa.string(), nullable=False),  # page0.flags, counter, server_data[3]
    pa.field("object", pa.string(), nullable=False),  # page0
    pa.field("field", pa.string(), nullable=False),  # flags ('' for a scalar)
    pa.field("size", pa.int32(), nullable=False),
    pa.field("machine", pa.string(), nullable=False),
    pa.field("initial", pa.uint64(), nullable=False),  # the value when the run starts
])

BITS = pa.schema([
    pa.field("name", pa.string(), nullable=False),  # PG_dirty
    pa.field("bit", pa.int32(), nullable=False),
])

SITES = pa.schema([
    pa.field("site", pa.int32(), nullable=False),
    pa.field("machine", pa.string(), nullable=False),
    pa.field("pc", pa.int32(), nullable=False),
    pa.field("file", pa.string(), nullable=False),
    pa.field("line", pa.int32(), nullable=False),
    pa.field("col", pa.int32(), nullable=False),
    pa.field("function", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),  # a label at exactly this pc, else ''
    pa.field("text", pa.string(), nullable=False),
])

THREADS = pa.schema([
    pa.field("thread", pa.int32(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("machine", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),  # kernel or user
    pa.field("entry", pa.string(), nullable=False),
])

# C frames (sim/c): the stack words of a thread are named by the frame that holds them, as the
# thread's C local (`flusher:nfs_page_async_flush.req`). FRAME_WORDS: every word of each C
# function's frame; FRAME_SITES: the instructions that access their own frame directly ([sp + k]:
# the name follows from the site); FRAMES: every frame entered and left during the run (the
# cycle of its enter / leave instruction, the frame's lowest word), for accesses through pointers.
FRAME_WORDS = pa.schema([
    pa.field("machine", pa.string(), nullable=False),
    pa.field("function", pa.string(), nullable=False),
    pa.field("lo_pc", pa.int32(), nullable=False),  # the function's code: pcs lo_pc .. hi_pc - 1
    pa.field("hi_pc", pa.int32(), nullable=False),
    pa.field("size", pa.int32(), nullable=False),  # the frame's words
    pa.field("off", pa.int32(), nullable=False),  # this word: base + off
    pa.field("name", pa.string(), nullable=False),  # req, s.flags, buf[2]
])

FRAME_SITES = pa.schema([
    pa.field("site", pa.int32(), nullable=False),
    pa.field("off", pa.int32(), nullable=False),  # the word: sp + off
    pa.field("name", pa.string(), nullable=False),  # function.local: nfs_page_async_flush.req
])

FRAMES = pa.schema([
    pa.field("cycle", pa.int64(), nullable=False),  # when the enter / leave instruction ran
    pa.field("base", pa.int64(), nullable=False),  # the frame's lowest word (sp inside it)
    pa.field("site", pa.int32(), nullable=False),  # the enter / leave instruction's site
    pa.field("entered", pa.bool_(), nullable=False),  # true: enter, false: leave
])

CHECKPOINTS = pa.schema([
    pa.field("seq", pa.int64(), nullable=False),  # events recorded before the snapshot
    pa.field("cycle", pa.int64(), nullable=False),
    pa.field("instructions", pa.int64(), nullable=False),
    pa.field("file", pa.string(), nullable=False),  # relative to checkpoints/
])

META_FILE = "meta.json"
EVENTS_DIR = "events"
VCLOCKS_DIR = "vclocks"
CHECKPOINTS_DIR = "checkpoints"
SCHEDULE_FILE = "schedule.json"  # the run's scheduling decisions (sim.schedule); following it re-executes the run
PART_PATTERN = "part-{:05d}.arrows"
