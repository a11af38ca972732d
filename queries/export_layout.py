"""The Parquet export's contract: what `revtrace export --format parquet` writes and what
`revtrace sql` reads back from it (export/parquet.py writes it, queries/exported.py reads it).

    OUT/events/machine=<name>/part-N.parquet     every event, partitioned Hive-style by machine name
    OUT/accesses/machine=<name>/part-N.parquet   the reads, writes and rmws among them
    OUT/<table>/part-0.parquet                   every other table (TABLES)
    OUT/meta.json, OUT/README.md
    OUT/export.json                              the marker, written last: what says a folder is an
                                                 export, with its format, tables and file sizes

A folder of exports (`revtrace export KEEP -o OUT` over a sweep's kept recordings) has one export
per run in OUT/<run name>/ and a marker of kind "runs" naming them.

Format 2 added the tables a run's SQL sees beside the recording's own (ports, schedule,
checkpoints, meta and the C stack tables), the file sizes and the format number itself; an export
without one is format 1.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = "export.json"
EXPORT_FORMAT = 2
KIND_RUN = "run"
KIND_RUNS = "runs"

PARTITIONED = ("events", "accesses")  # Hive-partitioned by machine name
DIMENSIONS = ("symbols", "bits", "sites", "threads", "machines", "words")
# the tables of a run's query catalogue that the export copies as they are (queries/README.md)
CATALOGUE = ("ports", "schedule", "checkpoints", "meta", "stacks", "frame_words", "frame_sites", "frames",
             "stack_names")
TABLES = ("vclocks", *DIMENSIONS, *CATALOGUE)

# What a run's SQL has and an export has not, and why (a query naming one fails with this line).
UNAVAILABLE = {
    "word_offsets": "it says where each word's rows lie in the run's query index (row numbers in its "
                    "column files), which an export does not have",
    "index_info": "it describes the run's query index (its build, fingerprint and format), which an "
                  "export does not have",
}


class LayoutError(Exception):
    """Not an export, or not one this revtrace reads: a message and the folder."""

    def __init__(self, message: str, location: str):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}")


def read_marker(folder: Path) -> dict | None:
    """The folder's export.json, or None when it has none (it is not an export)."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LayoutError(f"{MARKER} is unreadable ({err})", str(folder)) from None
    if not isinstance(marker, dict) or marker.get("format") != "parquet":
        raise LayoutError(f"{MARKER} does not describe a Parquet export", str(folder))
    return marker


def format_of(marker: dict) -> int:
    version = marker.get("export_format", 1)
    return version if isinstance(version, int) else -1


def kind_of(marker: dict) -> str:
    return marker.get("kind", KIND_RUN)


def natural_key(name: str) -> tuple:
    """Names in natural order: seed-5 before seed-24."""
    import re

    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part)
