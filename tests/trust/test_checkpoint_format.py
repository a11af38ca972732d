"""Checkpoints hold data only: a crafted checkpoint cannot run code, a damaged one is one error
naming the file, and what the format holds comes back exactly."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import pytest
from trusthelp import refusal
from hypothesis import given, settings
from hypothesis import strategies as st

import tracer
from sim import snapshot_codec
from sim.snapshot_codec import SnapshotFormatError, decode, encode
from tracer.checkpoints import load_index


class Payload:
    """Unpickling this runs os.system: what a hostile recording would ship."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def ckpt(run: Path, n: int = 0) -> Path:
    return run / "checkpoints" / f"ckpt-{n:05d}.bin"


def test_a_pickle_in_a_checkpoint_runs_nothing(cli, fresh_run, tmp_path):
    marker = tmp_path / "pwned"
    ckpt(fresh_run).write_bytes(pickle.dumps({"system": Payload(marker)}))
    line = refusal(cli("replay", fresh_run, "--to", "3"))
    assert "ckpt-00000.bin" in line and "damaged checkpoint" in line
    assert not marker.exists()


def test_an_unindexed_hostile_checkpoint_runs_nothing(fresh_run, tmp_path):
    """A checkpoint file beyond the index is read for its seq when the index is loaded."""
    marker = tmp_path / "pwned"
    n = len(load_index(fresh_run))
    ckpt(fresh_run, n).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(tracer.TraceError, match=f"ckpt-{n:05d}.bin.*damaged checkpoint"):
        load_index(fresh_run)
    assert not marker.exists()


def damage_cases(blob: bytes) -> dict[str, bytes]:
    inner = decode(blob)
    wrong_memory = decode(inner["system"])
    wrong_memory["mems"] = [m[:3] for m in wrong_memory["mems"]]
    wrong_thread = decode(inner["system"])
    wrong_thread["run_queues"] = [[10_000]]
    return {
        "empty": b"",
        "truncated": blob[: len(blob) // 2],
        "flipped byte": blob[:100] + bytes([blob[100] ^ 0x40]) + blob[101:],
        "wrong magic": b"NOTASNAP" + blob[8:],
        "future version": blob[:8] + struct.pack("<H", 99) + blob[10:],
        "not a checkpoint": encode([1, 2, 3]),
        "fields of the wrong type": encode(dict(inner, recorder="x")),
        "system of another size": encode(dict(inner, system=encode(wrong_memory))),
        "thread id out of range": encode(dict(inner, system=encode(wrong_thread))),
        "system is not a snapshot": encode(dict(inner, system=b"\x80\x05junk")),
    }


def test_every_damaged_checkpoint_is_one_line_naming_it(cli, recorded, fresh_run):
    blob = ckpt(recorded).read_bytes()
    for what, data in damage_cases(blob).items():
        ckpt(fresh_run).write_bytes(data)
        line = refusal(cli("replay", fresh_run, "--to", "3"))
        assert "ckpt-00000.bin" in line and "checkpoint" in line, (what, line)
    ckpt(fresh_run).write_bytes(blob)
    assert cli("replay", fresh_run, "--to", "3").exit_code == 0


def test_checkpoints_are_in_the_data_format(recorded):
    for c in load_index(recorded):
        data = ckpt(recorded, int(c.file[5:10])).read_bytes()
        assert data.startswith(snapshot_codec.MAGIC)
        assert decode(decode(data)["system"])["mems"]


values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 200), max_value=1 << 200)
    | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20)
    | st.lists(st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1), max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
    | st.dictionaries(st.integers() | st.text(max_size=5), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(values)
def test_what_goes_in_comes_back_with_its_types(value):
    back = decode(encode(value))
    assert back == value
    assert repr(back) == repr(value)  # lists stay lists, tuples tuples, ints ints


@settings(max_examples=300, deadline=None)
@given(values, st.data())
def test_any_damage_is_a_format_error(value, data):
    blob = bytearray(encode(value))
    i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    for damaged in (bytes(blob), bytes(blob[:cut])):
        try:
            decode(damaged)
        except SnapshotFormatError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_a_forged_payload_with_a_valid_header_is_a_format_error(payload):
    import zlib
    blob = snapshot_codec.HEADER.pack(snapshot_codec.MAGIC, snapshot_codec.VERSION, len(payload),
                                      zlib.crc32(payload)) + payload
    try:
        decode(blob)
    except SnapshotFormatError:
        pass


def test_the_codec_refuses_objects_and_deep_nesting():
    with pytest.raises(TypeError):
        encode({"x": Payload(Path("/nonexistent"))})
    deep = []
    for _ in range(snapshot_codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ValueError):
        encode(deep)
