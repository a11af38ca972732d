"""Snapshots as data only: a versioned, checksummed encoding of plain values that loads without
running code (it replaces pickle, which runs whatever a crafted file asks it to).

What it holds: None, bools, integers (64-bit, and larger ones up to BIG_INT_BYTES bytes: Python's
random state needs none, but nothing silently loses a bit), floats, str, bytes, lists, tuples and
dicts of them. Lists and tuples of plain integers (memories, registers, random states) are stored
as one little-endian int64 or uint64 buffer each, written and read by numpy in one call, which is
what keeps it as fast as pickle (bench/bench_sim.py's replay figure).

A blob is `MAGIC, version (u16), payload length (u64), CRC-32 of the payload (u32), payload`;
`decode` checks all four, every length inside the payload against what is left, the nesting depth
and that nothing follows the value, and raises SnapshotFormatError (one line, no traceback) for
anything else. The value's shape (which keys a system snapshot has) is checked by its user.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

MAGIC = b"RVTSNAP\x00"
VERSION = 1
HEADER = struct.Struct("<8sHQI")
MAX_DEPTH = 64
BIG_INT_BYTES = 1024
_INT64 = struct.Struct("<q")
_UINT64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_LEN = struct.Struct("<I")
_I64_MIN, _I64_MAX, _U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
_ARRAY_MIN = 4  # int lists from this length are stored as one numpy buffer
_DTYPES = {0: np.dtype("<i8"), 1: np.dtype("<u8")}


class SnapshotFormatError(ValueError):
    """A blob that is not a snapshot of this format (damaged, truncated, hostile or another version)."""


def encode(value) -> bytes:
    out: list[bytes] = []
    _enc(value, out.append, 0)
    payload = b"".join(out)
    return HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload)) + payload


def decode(blob: bytes | bytearray | memoryview):
    """The value encoded in `blob`, or SnapshotFormatError."""
    blob = memoryview(blob).cast("B") if not isinstance(blob, bytes) else blob
    if len(blob) < HEADER.size:
        raise SnapshotFormatError(f"too short for a snapshot ({len(blob)} bytes)")
    magic, version, length, crc = HEADER.unpack_from(blob, 0)
    if magic != MAGIC:
        raise SnapshotFormatError("not a revtrace snapshot (wrong magic number)")
    if version != VERSION:
        raise SnapshotFormatError(f"snapshot format version {version}, this revtrace reads {VERSION}")
    if length != len(blob) - HEADER.size:
        raise SnapshotFormatError(f"truncated or padded: the header says {length:,} bytes of data, "
                                  f"the file has {len(blob) - HEADER.size:,}")
    payload = memoryview(blob)[HEADER.size:]
    if zlib.crc32(payload) != crc:
        raise SnapshotFormatError("checksum mismatch (the file is damaged)")
    try:
        value, end = _dec(payload, 0, 0)
    except (struct.error, IndexError, UnicodeDecodeError, TypeError, ValueError) as err:
        if isinstance(err, SnapshotFormatError):
            raise
        raise SnapshotFormatError(f"malformed data ({type(err).__name__})") from None
    if end != len(payload):
        raise SnapshotFormatError(f"{len(payload) - end} stray bytes after the data")
    return value


# ------------------------------------------------------------------------------------------------


def _enc(v, put, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("snapshot nests too deeply")
    t = type(v)
    if t is int:
        if _I64_MIN <= v <= _I64_MAX:
            put(b"i" + _INT64.pack(v))
        elif 0 <= v <= _U64_MAX:
            put(b"u" + _UINT64.pack(v))
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            if len(raw) > BIG_INT_BYTES:
                raise ValueError("integer too large for a snapshot")
            put(b"I" + _LEN.pack(len(raw)) + raw)
    elif t is list or t is tuple:
        tag = b"l" if t is list else b"t"
        if len(v) >= _ARRAY_MIN and all(type(x) is int for x in v):
            for code, dtype in _DTYPES.items():
                try:
                    arr = np.array(v, dtype=dtype)
                except OverflowError:
                    continue
                put((b"L" if t is list else b"T") + bytes((code,)) + _LEN.pack(len(v)))
                put(arr.tobytes())
                return
        put(tag + _LEN.pack(len(v)))
        for x in v:
            _enc(x, put, depth + 1)
    elif v is None:
        put(b"N")
    elif v is True:
        put(b"1")
    elif v is False:
        put(b"0")
    elif t is str:
        raw = v.encode("utf-8", "surrogatepass")
        put(b"s" + _LEN.pack(len(raw)) + raw)
    elif t is bytes or t is bytearray:
        put(b"b" + _LEN.pack(len(v)) + bytes(v))
    elif t is float:
        put(b"f" + _F64.pack(v))
    elif t is dict:
        put(b"d" + _LEN.pack(len(v)))
        for k, x in v.items():
            _enc(k, put, depth + 1)
            _enc(x, put, depth + 1)
    else:
        raise TypeError(f"a snapshot holds plain data only, not {t.__name__}")


def _length(buf, pos: int, item: int = 1) -> tuple[int, int]:
    (n,) = _LEN.unpack_from(buf, pos)
    pos += 4
    if n * item > len(buf) - pos:
        raise SnapshotFormatError(f"a length of {n:,} runs past the end of the data")
    return n, pos


def _dec(buf, pos: int, depth: int):
    if depth > MAX_DEPTH:
        raise SnapshotFormatError("nests too deeply")
    tag = buf[pos]
    pos += 1
    if tag == 0x69:  # i
        return _INT64.unpack_from(buf, pos)[0], pos + 8
    if tag == 0x75:  # u
        return _UINT64.unpack_from(buf, pos)[0], pos + 8
    if tag in (0x4C, 0x54):  # L, T: an int buffer
        code = buf[pos]
        dtype = _DTYPES.get(code)
        if dtype is None:
            raise SnapshotFormatError(f"unknown integer array type {code}")
        n, pos = _length(buf, pos + 1, 8)
        items = np.frombuffer(buf, dtype=dtype, count=n, offset=pos).tolist()
        return (items if tag == 0x4C else tuple(items)), pos + 8 * n
    if tag in (0x6C, 0x74):  # l, t
        n, pos = _length(buf, pos)
        items = []
        for _ in range(n):
            x, pos = _dec(buf, pos, depth + 1)
            items.append(x)
        return (items if tag == 0x6C else tuple(items)), pos
    if tag == 0x4E:  # N
        return None, pos
    if tag == 0x31:
        return True, pos
    if tag == 0x30:
        return False, pos
    if tag == 0x73:  # s
        n, pos = _length(buf, pos)
        return bytes(buf[pos:pos + n]).decode("utf-8", "surrogatepass"), pos + n
    if tag == 0x62:  # b
        n, pos = _length(buf, pos)
        return bytes(buf[pos:pos + n]), pos + n
    if tag == 0x66:  # f
        return _F64.unpack_from(buf, pos)[0], pos + 8
    if tag == 0x49:  # I
        n, pos = _length(buf, pos)
        if n > BIG_INT_BYTES:
            raise SnapshotFormatError("an integer is too large")
        return int.from_bytes(bytes(buf[pos:pos + n]), "little", signed=True), pos + n
    if tag == 0x64:  # d
        n, pos = _length(buf, pos)
        out = {}
        for _ in range(n):
            k, pos = _dec(buf, pos, depth + 1)
            v, pos = _dec(buf, pos, depth + 1)
            try:
                out[k] = v
            except TypeError:
                raise SnapshotFormatError("a dictionary key is not hashable") from None
        return out, pos
    raise SnapshotFormatError(f"unknown tag byte {tag:#04x} at offset {pos - 1}")
