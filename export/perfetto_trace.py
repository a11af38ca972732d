"""A recording as a Perfetto trace (open it in https://ui.perfetto.dev), written packet by packet
with the `perfetto` package's StreamingTraceProtoBuilder, so that a big run never sits in memory.

Tracks (TrackDescriptor, custom track-event tracks; one cycle of the simulator is one nanosecond):

    <machine>                      a group per machine, with for each of its cores:
      core N                       a slice per time slice, named for the thread that ran
      core N functions             a slice per stretch of that thread's events in one function
      core N events                instants: writes to the watched words (with the bits they set
                                   and cleared), the ends of each race pair and each message (joined
                                   by flow arrows), and the panic
    invariant: <name>              a slice per window in which the invariant was false
    <word> (value)                 a counter track per counted word: its value after each write

Time slices, calls and instants each get their own track so that nothing has to nest inside
anything else: Perfetto requires the slices of one track to nest properly, and an event at the
very cycle a time slice ends would otherwise have to be ordered against that end.
"""

from __future__ import annotations

import os
from pathlib import Path

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket, TrackEvent
from perfetto.trace_builder.proto_builder import StreamingTraceProtoBuilder

from .errors import ExportError
from .story import Point, Story, Stretch, Write, read_story

SEQUENCE_ID = 1  # every packet comes from one writer
RACE_FLOW_BASE = 1
MESSAGE_FLOW_BASE = 1 << 40


class _Tracks:
    """Track uuids: one per machine, three per core, one per invariant and per counter."""

    def __init__(self, story: Story):
        self.uuids: dict[tuple, int] = {}
        self.story = story

    def uuid(self, *key) -> int:
        if key not in self.uuids:
            self.uuids[key] = len(self.uuids) + 1
        return self.uuids[key]


def export_perfetto(run: str | Path, out: str | Path, watch: list[str] | None = None,
                    counters: list[str] | None = None, force: bool = False,
                    first: int | None = None, last: int | None = None) -> dict:
    """Write the run (events first..last) as a Perfetto trace at `out`; a summary of what it holds."""
    out = Path(out)
    if out.exists() and not force:
        raise ExportError("exists (use --force to replace it)", str(out))
    if out.is_dir():
        raise ExportError("is a directory (the Perfetto trace is one file)", str(out))
    story, batches = read_story(run, first, last, watch, counters)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            counts = _write(StreamingTraceProtoBuilder(f), story, batches)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write the trace: {e.strerror or e}", str(out)) from None
    return {"run": story.run, "out": str(out), "format": "perfetto", "events": story.last - story.first + 1,
            "from": story.first, "to": story.last, "packets": counts.pop("packets"), "counts": counts,
            "watch": sorted(story.watch.values()), "counters": sorted(story.counters.values()),
            "warnings": story.warnings}


def _write(builder: StreamingTraceProtoBuilder, story: Story, batches) -> dict:
    tracks = _Tracks(story)
    counts = {"tracks": 0, "time slices": 0, "function slices": 0, "writes": 0, "counter values": 0,
              "messages": 0, "race pairs": 0, "windows": 0, "panic": 0, "packets": 0}

    def emit(packet: TracePacket) -> None:
        packet.trusted_packet_sequence_id = SEQUENCE_ID
        builder.write_packet(packet)
        counts["packets"] += 1

    def describe(uuid: int, name: str, parent: int | None = None, counter: bool = False, rank: int = 0) -> None:
        p = TracePacket()
        d = p.track_descriptor
        d.uuid = uuid
        d.name = name
        d.sibling_order_rank = rank
        if parent is not None:
            d.parent_uuid = parent
        if counter:
            d.counter.SetInParent()
        emit(p)
        counts["tracks"] += 1

    def event(ts: int, track: int, kind, name: str | None = None, flows=(), ends=(), args=None) -> TracePacket:
        p = TracePacket()
        p.timestamp = ts
        e = p.track_event
        e.type = kind
        e.track_uuid = track
        if name is not None:
            e.name = name
        e.flow_ids.extend(flows)
        e.terminating_flow_ids.extend(ends)
        for key, value in (args or {}).items():
            a = e.debug_annotations.add()
            a.name = key
            if isinstance(value, str):
                a.string_value = value
            elif 0 <= value < 1 << 63 or -(1 << 63) <= value < 0:
                a.int_value = value
            else:
                a.uint_value = value
        emit(p)
        return p

    def where(p: Point) -> dict:
        return {"seq": p.seq, "thread": story.thread_name(p.thread), "core": p.core}

    # -- the tracks, machine by machine and core by core ---------------------------------------------
    rank = 0
    for m, name in enumerate(story.machines):
        describe(tracks.uuid("machine", m), name, rank=rank)
        rank += 1
    for m, c in story.lanes():
        group = tracks.uuid("machine", m)
        describe(tracks.uuid("core", m, c), f"core {c}", group, rank=3 * c)
        describe(tracks.uuid("calls", m, c), f"core {c} functions", group, rank=3 * c + 1)
        describe(tracks.uuid("events", m, c), f"core {c} events", group, rank=3 * c + 2)
    invariants = sorted({w["invariant"] for w in story.windows})
    for inv in invariants:
        describe(tracks.uuid("invariant", inv), f"invariant: {inv}", rank=rank)
        rank += 1
    for addr, symbol in sorted(story.counters.items(), key=lambda kv: kv[1]):
        describe(tracks.uuid("counter", addr), f"{symbol} (value)", counter=True, rank=rank)
        rank += 1

    def counter_packet(addr: int, cycle: int, value: int) -> None:
        p = TracePacket()
        p.timestamp = cycle
        e = p.track_event
        e.type = TrackEvent.TYPE_COUNTER
        e.track_uuid = tracks.uuid("counter", addr)
        if value < 1 << 63:
            e.counter_value = value
        else:
            e.double_counter_value = float(value)
        emit(p)
        counts["counter values"] += 1

    for addr in story.counters:
        counter_packet(addr, story.start_cycle, story.initial[addr])

    # -- what grows with the run, streamed ------------------------------------------------------------
    for what, item in story.scan(batches):
        if what == "slice":
            s: Stretch = item
            _slice(event, tracks.uuid("core", s.machine, s.core), s, story.thread_name(s.thread),
                   {"thread": story.thread_name(s.thread), "first seq": s.start_seq, "last seq": s.end_seq,
                    "events": s.events})
            counts["time slices"] += 1
        elif what == "call":
            s = item
            _slice(event, tracks.uuid("calls", s.machine, s.core), s, s.function,
                   {"thread": story.thread_name(s.thread), "first seq": s.start_seq, "last seq": s.end_seq})
            counts["function slices"] += 1
        elif what == "write":
            w: Write = item
            event(w.cycle, tracks.uuid("events", w.machine, w.core), TrackEvent.TYPE_INSTANT, w.label,
                  args={**where(Point(w.seq, w.cycle, w.machine, w.core, w.thread)), "old": w.old, "new": w.new})
            counts["writes"] += 1
        elif what == "counter":
            addr, cycle, value = item
            counter_packet(addr, cycle, value)
        elif what in ("send", "recv"):
            message, p = item
            flow = MESSAGE_FLOW_BASE + message
            event(p.cycle, tracks.uuid("events", p.machine, p.core), TrackEvent.TYPE_INSTANT,
                  f"{what} message {message}", flows=[flow] if what == "send" else (),
                  ends=[flow] if what == "recv" else (), args={**where(p), "message": message})
            counts["messages"] += what == "send"

    # -- the findings -------------------------------------------------------------------------------
    for k, race in enumerate(story.races):
        flow = RACE_FLOW_BASE + k
        a, b = race["first"], race["second"]
        event(a.cycle, tracks.uuid("events", a.machine, a.core), TrackEvent.TYPE_INSTANT,
              f"race on {race['symbol']} (first)", flows=[flow], args={**where(a), "pair": race["text"]})
        event(b.cycle, tracks.uuid("events", b.machine, b.core), TrackEvent.TYPE_INSTANT,
              f"race on {race['symbol']} (second)", ends=[flow], args={**where(b), "pair": race["text"]})
        counts["race pairs"] += 1
    for w in story.windows:
        track = tracks.uuid("invariant", w["invariant"])
        event(w["start_cycle"], track, TrackEvent.TYPE_SLICE_BEGIN, f"{w['invariant']} is false",
              args={"from seq": w["start_seq"], "to seq": w["end_seq"], "ended by": w["end_reason"]})
        event(max(w["end_cycle"], w["start_cycle"] + 1), track, TrackEvent.TYPE_SLICE_END)
        counts["windows"] += 1
    if story.panic is not None:
        p = story.panic["point"]
        event(p.cycle, tracks.uuid("events", p.machine, p.core), TrackEvent.TYPE_INSTANT,
              f"PANIC: {story.panic['message']}", args={**where(p), "at": story.panic["where"]})
        counts["panic"] = 1
    return counts


def _slice(event, track: int, s: Stretch, name: str, args: dict) -> None:
    """A slice over the stretch's cycles (Stretch.until: to the cycle after its last event, so
    that a thread that ran one event still shows, or to the next stretch on the core)."""
    event(s.start_cycle, track, TrackEvent.TYPE_SLICE_BEGIN, name, args=args)
    event(s.until, track, TrackEvent.TYPE_SLICE_END)
