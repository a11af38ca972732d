"""Checksums of the index's column files: a flipped byte in RUN/index/*.cols is found, and the
index is rebuilt (it is a cache of the recording), instead of answering from damaged data.

The build records, for every column file, its CRC-32, size and modification time (index_info key
`checksums`). Opening the index verifies a file's CRC-32 in full when the file is small enough to
cost little (VERIFY_ALWAYS_BYTES: about 50 ms at the reference machine's ~1.1 GB/s of zlib.crc32),
and, for larger files, whenever its size or modification time is not what the build recorded (any
write through the file system changes them; damage below the file system, such as a failing disk,
escapes that for large files: `open_run(path, rebuild=True)` re-derives the index from the
checksummed recording).
"""

from __future__ import annotations

import mmap
import os
import zlib
from pathlib import Path

VERIFY_ALWAYS_BYTES = 64 << 20
_CHUNK = 64 << 20


def file_crc(path: Path) -> int:
    """CRC-32 of a file's bytes, read through a memory map (no copy)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            crc = 0
            view = memoryview(m)
            try:
                for start in range(0, size, _CHUNK):
                    crc = zlib.crc32(view[start:start + _CHUNK], crc)
            finally:
                view.release()
            return crc


def record(folder: Path, files: list[str]) -> dict[str, list[int]]:
    """{file name: [crc32, size, mtime_ns]} for the column files in `folder` (after writing)."""
    out = {}
    for name in files:
        path = folder / name
        st = path.stat()
        out[name] = [file_crc(path), st.st_size, st.st_mtime_ns]
    return out


def problem(folder: Path, recorded: dict, files: list[str]) -> str | None:
    """Why the column files in `folder` cannot be trusted (None: they can)."""
    for name in files:
        entry = recorded.get(name)
        path = folder / name
        if not (isinstance(entry, list) and len(entry) == 3):
            return f"index/{name} has no checksum"
        crc, size, mtime_ns = entry
        try:
            st = path.stat()
            if st.st_size != size:
                return f"index/{name} has {st.st_size:,} bytes, the build wrote {size:,}"
            if (st.st_size <= VERIFY_ALWAYS_BYTES or st.st_mtime_ns != mtime_ns) and file_crc(path) != crc:
                return f"index/{name} fails its checksum (damaged)"
        except OSError as err:
            return f"index/{name} is unreadable ({err.strerror or err})"
    return None
