# SPDX-License-Identifier: Apache-2.0
"""The CPU thread pool under stress: many threads on few cores, concurrent callers, and results
that do not depend on the thread count (deterministic chunked reductions).

A race in the pool's job hand-over (a worker reading the next job's chunk count while holding the
previous job's state) once crashed solves with 16 threads on this 2-core machine; these tests run
thousands of short parallel loops with more threads than cores to catch such regressions.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cases
import econ_fast
from econ_fast import dbini


@pytest.fixture
def restore_threads():
    n = econ_fast.get_num_threads()
    yield
    econ_fast.set_num_threads(n)


@pytest.fixture(scope="module")
def pair():
    c = cases.human_pair(160, 160, seed=3)
    return c["normals"], c["body_depth"], c["mask"]


@pytest.mark.parametrize("solver", ["fast", "jacobi"])
def test_oversubscribed_pool_is_bit_identical(pair, solver, restore_threads):
    econ_fast.set_num_threads(1)
    ref = dbini.solve(*pair, solver=solver)
    for threads in (16, 3, 7):
        econ_fast.set_num_threads(threads)
        for _ in range(2):
            r = dbini.solve(*pair, solver=solver)
            assert r.iterations == ref.iterations and r.cg_iterations == ref.cg_iterations
            np.testing.assert_array_equal(r.depth, ref.depth)


def test_concurrent_callers_share_the_pool(pair, restore_threads):
    econ_fast.set_num_threads(8)
    ref = dbini.solve(*pair)
    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(lambda _: dbini.solve(*pair), range(8)))
    for r in results:
        np.testing.assert_array_equal(r.depth, ref.depth)


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="num_threads"):
        econ_fast.set_num_threads(0)


def test_bvh_build_is_thread_count_independent(restore_threads):
    # > 4 * 2048 faces, so the build runs its parallel subtree phase.
    n = 90
    u, v = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n), indexing="ij")
    V = np.stack([np.sin(u) * np.cos(v), np.sin(u) * np.sin(v), np.cos(u)], -1).reshape(-1, 3).astype(np.float32)
    i = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel()
    F = np.concatenate([np.stack([i, i + n, i + 1], 1), np.stack([i + 1, i + n, i + n + 1], 1)]).astype(np.int32)
    pts = np.random.default_rng(0).normal(size=(5000, 3)).astype(np.float32)
    out = []
    for threads in (1, 2, 7):
        econ_fast.set_num_threads(threads)
        q = econ_fast.MeshQuery(V, F)
        cp = q.closest_points(pts)
        s = q.bvh_stats
        out.append(((s["depth"], s["nodes"], s["leaves"]), cp.distance, cp.face))
    for o in out[1:]:
        assert o[0] == out[0][0]
        np.testing.assert_array_equal(o[1], out[0][1])
        np.testing.assert_array_equal(o[2], out[0][2])
