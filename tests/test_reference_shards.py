"""The numpy reference runs batch shards in threads (lstmspec/reference/shards.py).

Pinned here:
- a sharded run equals the one-thread run to rounding, for a reversed
  sequence spec, a conv spec in channels_first, and a grid spec;
- how many threads: one per BLAS thread, never more than the batch, none for
  small work or with one BLAS thread; one shard per thread;
- BLAS is single-threaded while shards run and restored afterwards, also
  when a shard fails (the failure reaches the caller);
- numpy's errstate reaches the shard threads: an overflowing sigmoid warns
  in none of them;
- a process forked after a sharded run shards too, without hanging on the
  parent's helper threads (which do not exist in the child).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import lstmspec
from lstmspec.reference import blas, shards

pytestmark = pytest.mark.skipif(blas.threads() is None, reason="numpy does not use its bundled OpenBLAS here")


ROUNDING = 8 * np.finfo(np.float64).eps  # values are O(1)


@pytest.fixture
def two_blas_threads(monkeypatch):
    """Two BLAS threads (this machine may have one core) and shards for any work."""
    saved = blas.threads()
    blas.set_threads(2)
    monkeypatch.setattr(shards, "MIN_SHARD_ELEMENTS", 1)
    monkeypatch.setattr(blas, "usable_cores", lambda: 4)
    yield
    blas.set_threads(saved)


def _case(name, config=None, **dims):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(3)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    return spec, x, state, params, config


CASES = {
    "lstm reverse": ("lstm", {"direction": "reverse"}, dict(batch=5, time=4, input=3, units=6)),
    "convlstm2d channels_first": (
        "convlstm2d", {"data_format": "channels_first", "padding": "same"},
        dict(batch=3, time=3, rows=5, cols=4, channels=2, filters=3, kernel_rows=3, kernel_cols=2)),
    "mdlstm2d": ("mdlstm2d", None, dict(batch=4, rows=3, cols=5, channels=2, units=3)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sharded_run_equals_the_one_thread_run_to_rounding(case, two_blas_threads, monkeypatch):
    name, config, dims = CASES[case]
    spec, x, state, params, config = _case(name, config, **dims)
    counts = []
    real = shards.run_sharded
    monkeypatch.setattr(shards, "run_sharded", lambda *a: counts.append(a[-2:]) or real(*a))
    y, final = spec.reference(x, state, params, config)
    assert counts == [(2, 2)], f"(shards, threads) {counts}, but should be [(2, 2)]: one shard per thread"
    monkeypatch.setattr(shards, "MIN_SHARD_ELEMENTS", 10**12)
    y1, final1 = spec.reference(x, state, params, config)
    # not bitwise: OpenBLAS may pick another kernel for fewer rows (a batch of 1 is a GEMV)
    for name, a, b in [("y", y, y1)] + [(f"final[{k!r}]", final[k], final1[k]) for k in final1]:
        err = np.abs(a - b).max()
        assert err <= ROUNDING, f"{name} differs by {err:.3g} between shards and one run, but should be <= {ROUNDING:g}"


def test_threads_follow_blas_batch_and_work_with_one_shard_each(monkeypatch):
    spec = lstmspec.load_spec("lstm")
    monkeypatch.setattr(blas, "usable_cores", lambda: 8)
    x = np.zeros((6, 5, 3))
    state = {"h": np.zeros((6, 4096)), "c": np.zeros((6, 4096))}  # 8192 state numbers per batch item

    def plan(batch=6, units=4096):
        return shards.plan(spec, x[:batch], {k: v[:batch, :units] for k, v in state.items()})

    saved = blas.threads()
    try:
        blas.set_threads(4)
        assert plan() == (4, 4), "one thread per BLAS thread, one shard per thread"
        assert plan(batch=3) == (3, 3), "more threads than the batch"
        assert plan(units=2048) == (3, 3), "6 items x 4096 numbers: 3 threads keep 8192 each"
        assert plan(units=10) == (1, 1), "6 x 20 state numbers per step is not worth a thread"
        blas.set_threads(1)
        assert plan() == (1, 1), "OPENBLAS_NUM_THREADS=1 must turn sharding off"
    finally:
        blas.set_threads(saved)


def test_blas_is_single_threaded_during_shards_and_restored_after_a_failing_shard():
    saved = blas.threads()
    blas.set_threads(2)
    seen = []

    def run(x, state, params):
        seen.append(blas.threads())
        if x[0, 0] > 0:
            raise ValueError("shard two failed")
        return x, dict(state)

    x = np.array([[0.0], [1.0]])
    try:
        with pytest.raises(ValueError, match="shard two failed"):
            shards.run_sharded(run, x, {"h": x}, {}, 2, 2)
        assert seen == [1, 1], f"BLAS threads seen by the shards {seen}, but should be [1, 1]"
        assert blas.threads() == 2, "the BLAS thread count was not restored"
        with blas.single_threaded():
            with blas.single_threaded():
                assert blas.threads() == 1
            assert blas.threads() == 1, "an inner holder restored BLAS while the outer one still holds it"
        assert blas.threads() == 2
    finally:
        blas.set_threads(saved)


def test_shard_threads_inherit_errstate(two_blas_threads):
    spec, x, state, params, config = _case("lstm", None, batch=4, time=3, input=2, units=3)
    x = x * 1e4  # pre-activations far below -709: exp(-z) overflows to inf, sigmoid is exactly 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _ = spec.reference(x, state, params, config)
    assert np.isfinite(y).all()


def _sharded_run_in_child(queue):
    spec, x, state, params, config = _case("lstm", None, batch=4, time=3, input=2, units=3)
    y, _ = spec.reference(x, state, params, config)
    queue.put(y.shape)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_shards_after_its_parent_did(two_blas_threads):
    import multiprocessing as mp

    _sharded_run_in_child(mp.Queue())  # the parent's pool now has a helper thread
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_sharded_run_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in a sharded run (the parent's helper threads do not exist in it)")
    assert child.exitcode == 0 and queue.get(timeout=5) == (4, 3, 3)


def test_callers_in_several_threads_share_the_pool(two_blas_threads):
    from concurrent.futures import ThreadPoolExecutor

    spec, x, state, params, config = _case("lstm", None, batch=6, time=3, input=2, units=4)
    alone = spec.reference(x, state, params, config)[0]
    with ThreadPoolExecutor(4) as callers:
        results = list(callers.map(lambda _: spec.reference(x, state, params, config)[0], range(8)))
    for y in results:
        assert np.abs(y - alone).max() <= ROUNDING
    assert blas.threads() == 2, "BLAS threads not restored after overlapping sharded runs"
