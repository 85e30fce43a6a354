# SPDX-License-Identifier: Apache-2.0
"""CUDA solve of the screened Poisson against the CPU solve (the same per-element code in
poisson_impl.h, compiled by nvcc; blocks of 2^3 cells instead of 4^3, so sums differ in rounding).

Skipped unless econ_fast was built with CUDA and a GPU is visible. The hierarchy and the extraction
run on the host in both, so the meshes agree up to the solve's rounding: compared by the iso-value
and by the distance between the two surfaces, not bit for bit.
"""
import numpy as np
import pytest

import econ_fast
from econ_fast import MeshQuery, poisson

pytestmark = pytest.mark.cuda

if not econ_fast.has_cuda():
    pytest.skip("econ_fast has no usable CUDA device", allow_module_level=True)


def _ellipsoid(n, seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * [1.0, 0.7, 0.5], d / [1.0, 0.7, 0.5]


@pytest.mark.parametrize("depth,groups", [(7, False), (9, False), (9, True)])
def test_cuda_solve_matches_cpu(depth, groups):
    p, nr = _ellipsoid(60000, seed=depth)
    kw = {"density_groups": np.arange(len(p)) % 2} if groups else {}
    cpu = poisson.reconstruct(p, nr, depth=depth, **kw)
    gpu = poisson.reconstruct(p, nr, depth=depth, device="cuda", **kw)
    assert gpu.mesh.is_watertight() and gpu.mesh.is_manifold()
    assert abs(gpu.iso_value - cpu.iso_value) <= 1e-6 * (1 + abs(cpu.iso_value))
    assert gpu.iterations == cpu.iterations or max(abs(a - b) for a, b in zip(gpu.iterations, cpu.iterations)) <= 1
    # every GPU vertex lies on the CPU surface to well under a finest cell
    d = MeshQuery(cpu.mesh.vertices, cpu.mesh.faces).closest_points(gpu.mesh.vertices).distance
    cell = cpu.frame["width"] / 2**depth
    assert np.max(d) < 1e-3 * cell, (np.max(d), cell)
