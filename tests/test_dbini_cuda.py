# SPDX-License-Identifier: Apache-2.0
"""d-BiNI on the GPU: the CUDA backend against the CPU backend, and GPU arrays in and out.

Skipped unless ``econ_fast.has_cuda()`` (built with CUDA and a device present) and torch with
CUDA or cupy is importable. The CPU backend is the reference here: it is itself tested against
the scipy oracle in test_dbini.py. The two backends run the same per-element code but reduce in
a different order, so the IRLS paths may differ by one CG step per iteration or one IRLS
iteration; depth maps must agree to within what the CG tolerance implies.
"""
from __future__ import annotations

import numpy as np
import pytest

import cases
import econ_fast
from econ_fast import dbini

pytestmark = pytest.mark.cuda

SOLVERS = ("fast", "jacobi")
CG_TOL = 1e-3


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _cupy():
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return None
    return cupy


if not econ_fast.has_cuda():
    pytest.skip("econ_fast has no CUDA backend or no GPU", allow_module_level=True)
if _torch_cuda() is None and _cupy() is None:
    pytest.skip("neither torch with CUDA nor cupy is available", allow_module_level=True)

FRAMEWORKS = [pytest.param("torch", marks=pytest.mark.skipif(_torch_cuda() is None, reason="no torch.cuda")),
              pytest.param("cupy", marks=pytest.mark.skipif(_cupy() is None, reason="no cupy"))]


def _to_device(fw, x):
    if x is None:
        return None
    if fw == "torch":
        return _torch_cuda().from_numpy(np.ascontiguousarray(x)).cuda()
    return _cupy().asarray(x)


def _to_host(fw, x):
    return x.cpu().numpy() if fw == "torch" else x.get()


def _check_type(fw, x, dtype):
    if fw == "torch":
        torch = _torch_cuda()
        assert isinstance(x, torch.Tensor) and x.device.type == "cuda"
        assert x.dtype == {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    else:
        assert isinstance(x, _cupy().ndarray) and x.dtype == dtype


def _compare(gpu, cpu, solver):
    assert abs(gpu.iterations - cpu.iterations) <= 1, (gpu.iterations, cpu.iterations)
    n = min(gpu.iterations, cpu.iterations)
    if solver == "jacobi":
        d = np.abs(np.array(gpu.cg_per_iter[:n]) - np.array(cpu.cg_per_iter[:n]))
        assert np.all(d <= 1), (gpu.cg_per_iter, cpu.cg_per_iter)
    E, Ec = gpu.energy[: n + 1], cpu.energy[: n + 1]
    assert np.all(np.abs(E - Ec) <= CG_TOL * Ec), np.max(np.abs(E - Ec) / Ec)


CASES = {
    "human:256": lambda: cases.human_pair(256, 256, seed=0),
    "two:96": lambda: cases.two_sided(96, 96),
    "rand2:64:80": lambda: cases.random_mask(64, 80, seed=2, two_sided=True),
}


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_matches_cpu(name, solver, dtype, fw):
    c = CASES[name]()
    n = c["normals"].astype(dtype)
    b = c["body_depth"].astype(dtype)
    m = c["mask"]
    cpu = dbini.solve(n, b, m, solver=solver)
    gpu = dbini.solve(_to_device(fw, n), _to_device(fw, b), _to_device(fw, m), solver=solver)
    _check_type(fw, gpu.depth, dtype)
    _compare(gpu, cpu, solver)
    dg = _to_host(fw, gpu.depth).astype(np.float64)
    dc = np.asarray(cpu.depth, np.float64)
    assert np.array_equal(np.isnan(dg), np.isnan(dc))
    rng = np.nanmax(dc) - np.nanmin(dc)
    assert np.nanmax(np.abs(dg - dc)) <= 2 * CG_TOL * rng, np.nanmax(np.abs(dg - dc)) / rng


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_cuda_single_sided_perspective_and_no_prior(solver, fw):
    c = cases.sphere_perspective(64, 64, aspect=1.3)
    cpu = dbini.solve(c["normals"], None, c["mask"], K=c["K"], solver=solver)
    gpu = dbini.solve(_to_device(fw, c["normals"]), None, _to_device(fw, c["mask"]), K=c["K"], solver=solver)
    _check_type(fw, gpu.depth, np.float32)
    _compare(gpu, cpu, solver)
    dg = _to_host(fw, gpu.depth)
    np.testing.assert_allclose(dg[c["mask"]], np.asarray(cpu.depth)[c["mask"]], rtol=2 * CG_TOL)
    # default mask (valid normals), computed on the device
    gpu2 = dbini.solve(_to_device(fw, c["normals"]), None, None, K=c["K"], solver=solver)
    assert np.array_equal(gpu2.mask, c["mask"])


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cuda_deterministic_and_progress(fw):
    c = cases.human_pair(128, 128, seed=1)
    args = [_to_device(fw, x) for x in (c["normals"], c["body_depth"], c["mask"])]
    calls = []
    a = dbini.solve(*args, progress=lambda it, e, cg: calls.append(it))
    b = dbini.solve(*args)
    assert np.array_equal(_to_host(fw, a.depth), _to_host(fw, b.depth), equal_nan=True)
    assert calls == list(range(1, a.iterations + 1))
    s = dbini.solve(*args, progress=lambda it, e, cg: it < 2)
    assert s.iterations == 2 and not s.converged


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cuda_batch(fw):
    cs = [cases.human_pair(64, 64, seed=s) for s in range(3)]
    out = dbini.solve_batch([_to_device(fw, c["normals"]) for c in cs],
                            [_to_device(fw, c["body_depth"]) for c in cs],
                            [_to_device(fw, c["mask"]) for c in cs])
    for c, r in zip(cs, out):
        _check_type(fw, r.depth, np.float32)
        one = dbini.solve(_to_device(fw, c["normals"]), _to_device(fw, c["body_depth"]), _to_device(fw, c["mask"]))
        assert np.array_equal(_to_host(fw, r.depth), _to_host(fw, one.depth), equal_nan=True)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cuda_bad_input(fw):
    c = cases.two_sided(32, 32)
    n, b, m = c["normals"], c["body_depth"], c["mask"]
    with pytest.raises(ValueError, match="mask must be on the same device as normals"):
        dbini.solve(_to_device(fw, n), None, m)
    with pytest.raises(ValueError, match="body_depth must be on the same device"):
        dbini.solve(_to_device(fw, n), b, _to_device(fw, m))
    with pytest.raises(ValueError, match="normals must have shape"):
        dbini.solve(_to_device(fw, n[..., :2]))
    with pytest.raises(ValueError, match="mask selects no pixel"):
        dbini.solve(_to_device(fw, n), None, _to_device(fw, np.zeros_like(m)))
    bad = n.copy()
    i, j = np.argwhere(m)[3]
    bad[0, i, j, 0] = np.nan
    # The host checks do not run on device arrays; the native layer re-checks (ECON_SPEC: never a
    # silent NaN): a clear error that names the normals.
    with pytest.raises((ValueError, RuntimeError), match="normals"):
        dbini.solve(_to_device(fw, bad), _to_device(fw, b), _to_device(fw, m))
