"""--engine ray: a local Ray instance gives the same sweep as the process pool."""

from __future__ import annotations

import pytest

from sim.scenario import RunOptions
from tracer.errors import TraceError
from tracer.sweep_session import sweep

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'); --engine ray untested")


def test_a_bad_address_is_one_error():
    from tracer.ray_engine import ensure_ray

    if ray.is_initialized():
        pytest.skip("Ray is already connected in this process")
    with pytest.raises(TraceError, match="cannot start or join Ray at"):
        ensure_ray("ray://127.0.0.1:1", 1)


@pytest.fixture(scope="module")
def local_ray():
    from tracer.ray_engine import ensure_ray

    ensure_ray(None, 2)
    yield
    ray.shutdown()


def test_a_sweep_on_ray_equals_the_process_pool(local_ray, tmp_path):
    options = RunOptions(cores=2, sched="random", max_burst=4)
    seeds = range(0, 12)
    on_pool = sweep("nfs_vmxmon", options, seeds, jobs=2, show=("page0.flags",), keep=tmp_path / "pool")
    on_ray = sweep("nfs_vmxmon", options, seeds, jobs=2, show=("page0.flags",), keep=tmp_path / "ray",
                   engine="ray")
    a, b = on_pool.as_dict(), on_ray.as_dict()
    assert a["failing"], "the window should hold a failing seed"
    for d in (a, b):
        for r in d["failures"]:
            r["run_dir"] = r["run_dir"].rsplit("/", 1)[-1]
    assert b.pop("engine") == "ray" and a.pop("engine") == "process"
    assert a == b
    for seed in a["failing"]:  # --keep recorded every failing seed on both engines
        assert (tmp_path / "ray" / f"seed-{seed}" / "meta.json").is_file()
