"""A picture of a run with matplotlib: who ran where when the invariant broke.

One lane per core (machine by machine), the time slices drawn as bars coloured by the thread that
ran; a marker for each write to a watched word, labelled with the bits it set (+PG_dirty) and
cleared (-PG_BUSY) or its new value; the invariant windows shaded; each race pair joined by a line
from its first access to its second; messages as arrows from the send to the receive; the panic
marked. The x axis is the simulator's cycle (the global virtual clock).

Every drawn thing carries a gid ("lane:client core 0", "slice:flusher", "write:page0.flags",
"race:page0.flags", "window:<invariant>", "message:<id>", "panic"), which an SVG keeps as the
element's id, so tests (and scripts) check what is drawn without looking at pixels.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .errors import ExportError
from .story import Point, Story, read_story

FORMATS = (".png", ".svg", ".pdf")
LABELLED_WRITES = 24  # above this many watched writes, markers only (labels would pile up)
THREAD_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
                  "#bab0ac", "#e15759")


def draw_timeline(run: str | Path, out: str | Path, first: int | None = None, last: int | None = None,
                  watch: list[str] | None = None) -> dict:
    """Draw events first..last of `run` to `out` (.png, .svg or .pdf); a summary of what is drawn."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ExportError(f"the picture must be {', '.join(FORMATS)} (got {out.suffix or 'no suffix'})", str(out))
    story, batches = read_story(run, first, last, watch, counters=[])
    fig, summary = timeline_figure(story, batches)
    try:
        fig.savefig(out, dpi=110, bbox_inches="tight")
    except OSError as e:
        raise ExportError(f"cannot write the picture: {e.strerror or e}", str(out)) from None
    return {**summary, "out": str(out)}


def timeline_figure(story: Story, batches) -> tuple[Figure, dict]:
    slices, writes, sends, recvs = [], [], {}, {}
    for what, item in story.scan(batches):
        if what == "slice":
            slices.append(item)
        elif what == "write":
            writes.append(item)
        elif what == "send":
            sends[item[0]] = item[1]
        elif what == "recv":
            recvs[item[0]] = item[1]
    lanes = story.lanes()
    row = {lane: len(lanes) - 1 - i for i, lane in enumerate(lanes)}  # the first lane on top
    fig = Figure(figsize=(13, 1.3 + 0.75 * len(lanes)), layout="constrained")
    ax = fig.add_subplot()
    threads = sorted({s.thread for s in slices})
    colour = {t: THREAD_COLOURS[i % len(THREAD_COLOURS)] for i, t in enumerate(threads)}

    x0 = story.start_cycle
    x1 = max([s.until for s in slices] + [x0 + 1])
    for lane in lanes:
        ax.axhline(row[lane], color="#dddddd", lw=0.6, zorder=0, gid=f"lane:{story.lane_name(*lane)}")
    for t in threads:  # one bar collection per thread: its colour and its legend entry
        mine = [s for s in slices if s.thread == t]
        for lane in {(s.machine, s.core) for s in mine}:
            bars = [(s.start_cycle, s.until - s.start_cycle) for s in mine if (s.machine, s.core) == lane]
            coll = ax.broken_barh(bars, (row[lane] - 0.3, 0.6), facecolors=colour[t], edgecolors="white",
                                  linewidth=0.4, zorder=1, gid=f"slice:{story.thread_name(t)}")
            coll.set_label(story.thread_name(t))
    handles = {}
    for coll in ax.collections:
        handles.setdefault(coll.get_label(), coll)
    for w in story.windows:
        ax.axvspan(w["start_cycle"], max(w["end_cycle"], w["start_cycle"] + 1), color="#e15759", alpha=0.13,
                   zorder=0, gid=f"window:{w['invariant']}")
        ax.text(w["start_cycle"], -0.62, f" {w['invariant']} is false", color="#b22222", fontsize=8,
                va="bottom", ha="left", gid=f"window-label:{w['invariant']}")
    for k, w in enumerate(writes):
        y = row[(w.machine, w.core)]
        ax.plot([w.cycle], [y + 0.38], marker="v", ms=6, color="black", zorder=3, gid=f"write:{w.symbol}")
        if len(writes) <= LABELLED_WRITES:
            ax.annotate(w.label, (w.cycle, y + 0.38), xytext=(2, 6 + 9 * (k % 3)), textcoords="offset points",
                        fontsize=6.5, rotation=30, gid=f"write-label:{w.symbol}")
    for message, s in sends.items():
        r = recvs.get(message)
        if r is not None and r.cycle >= x0:
            _arrow(ax, row, s, r, "#888888", f"message:{message}", "-|>", ":")
    for race in story.races:
        _arrow(ax, row, race["first"], race["second"], "#d62728", f"race:{race['symbol']}", "-", "--")
        for p in (race["first"], race["second"]):
            ax.plot([p.cycle], [row[(p.machine, p.core)]], marker="o", ms=5, mfc="none", mec="#d62728",
                    zorder=4, gid=f"race-end:{race['symbol']}")
    if story.panic is not None:
        p = story.panic["point"]
        ax.plot([p.cycle], [row[(p.machine, p.core)]], marker="X", ms=14, color="#b22222", mec="white",
                zorder=5, gid="panic")
        ax.annotate(f"PANIC in {story.panic['where']}", (p.cycle, row[(p.machine, p.core)]), xytext=(-8, -24),
                    textcoords="offset points", ha="right", fontsize=8, color="#b22222", weight="bold",
                    gid="panic-label")
    ax.set_yticks([row[lane] for lane in lanes], [story.lane_name(*lane) for lane in lanes])
    ax.set_ylim(-0.7, len(lanes) - 0.1 + 0.6)
    ax.set_xlim(x0, x1 + max(1, (x1 - x0) // 50))
    ax.set_xlabel("cycle")
    ax.set_title(f"{Path(story.run).name}: events {story.first}..{story.last}", fontsize=10, loc="left")
    ax.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              title="thread", title_fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    summary = {"run": story.run, "from": story.first, "to": story.last,
               "lanes": [story.lane_name(*lane) for lane in lanes],
               "threads": [story.thread_name(t) for t in threads], "slices": len(slices),
               "writes": len(writes), "watch": sorted(story.watch.values()), "windows": len(story.windows),
               "races": len(story.races), "messages": sum(m in recvs for m in sends),
               "panic": None if story.panic is None else story.panic["point"].seq, "warnings": story.warnings}
    return fig, summary


def _arrow(ax, row, a: Point, b: Point, colour: str, gid: str, style: str, line: str) -> None:
    ax.annotate("", xy=(b.cycle, row[(b.machine, b.core)]), xytext=(a.cycle, row[(a.machine, a.core)]),
                arrowprops={"arrowstyle": style, "color": colour, "lw": 1.0, "linestyle": line,
                            "shrinkA": 0, "shrinkB": 0}, zorder=2, gid=gid)
