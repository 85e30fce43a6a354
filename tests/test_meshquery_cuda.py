# SPDX-License-Identifier: Apache-2.0
"""CUDA backend of the mesh queries against the CPU backend (same functors, other compiler).

Skipped unless econ_fast was built with CUDA, a GPU is visible, and cupy or CUDA torch exists.
Results agree to float32 rounding (nvcc contracts a*b+c into FMAs, so bits may differ); faces
are compared only where the distance is not tied within that rounding.
"""
import numpy as np
import pytest

import econ_fast
import meshcases as mc
from econ_fast import MeshQuery

pytestmark = pytest.mark.cuda

if not econ_fast.has_cuda():
    pytest.skip("econ_fast has no usable CUDA device", allow_module_level=True)


def _gpu_libs():
    libs = []
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        libs.append("cupy")
    except Exception:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            libs.append("torch")
    except Exception:
        pass
    return libs


LIBS = _gpu_libs()
if not LIBS:
    pytest.skip("neither cupy nor CUDA torch is available", allow_module_level=True)


def to_gpu(x, lib):
    if lib == "cupy":
        import cupy

        return cupy.asarray(x)
    import torch

    return torch.as_tensor(x, device="cuda")


def to_host(x):
    if hasattr(x, "get"):
        return x.get()
    if hasattr(x, "cpu"):
        return x.cpu().numpy()
    return np.asarray(x)


@pytest.fixture(scope="module")
def body():
    v, f = mc.anny_small()
    return v, f, MeshQuery(v, f)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 4099, 100000])
def test_closest_cuda_matches_cpu(body, lib, n):
    v, f, q = body
    p = mc.query_points(v, n, seed=n).astype(np.float32)
    c = q.closest_points(p)
    g = q.closest_points(to_gpu(p, lib))
    tol = 2e-6 * (1 + np.abs(p).max(1)) if n else 0
    np.testing.assert_array_less(np.abs(to_host(g.distance) - c.distance), tol + 1e-12)
    # The GPU's face and weights rebuild its point. Faces are compared only where the CPU's closest
    # point is interior to its face: points on vertices and edges are tied between faces, and FMA
    # rounding may break the tie the other way.
    gf, gw = to_host(g.face), to_host(g.barycentric)
    if n:
        rebuilt = (gw[:, :, None] * v[f[gf]]).sum(1)
        np.testing.assert_allclose(rebuilt, to_host(g.points), atol=1e-5 * (1 + np.abs(p).max()))
    # Exact ties also occur between mirror-symmetric faces of the body for far-away points, so a
    # tiny fraction of interior points may still pick the other face (at the same distance).
    interior = (c.barycentric > 1e-3).all(1)
    same = (gf == c.face) & interior
    assert interior.sum() - same.sum() <= max(2, 1e-4 * n)
    np.testing.assert_allclose(to_host(g.points)[same], c.points[same], atol=1e-5 * (1 + np.abs(p).max()))
    np.testing.assert_allclose(gw[same], c.barycentric[same], atol=1e-4)
    np.testing.assert_allclose(to_host(g.normals)[same], c.normals[same], atol=1e-4)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("sign", ["pseudonormal", "winding"])
def test_signed_distance_cuda_matches_cpu(body, lib, sign):
    v, f, q = body
    p = mc.query_points(v, 20000, seed=3).astype(np.float32)
    c = q.signed_distance(p, sign=sign)
    g = to_host(q.signed_distance(to_gpu(p, lib), sign=sign))
    m = np.abs(c) > 1e-4
    assert np.array_equal(g[m] < 0, c[m] < 0)
    np.testing.assert_allclose(np.abs(g), np.abs(c), atol=1e-5)
    w = to_host(q.winding_number(to_gpu(p, lib)))
    np.testing.assert_allclose(w, q.winding_number(p), atol=1e-4)


@pytest.mark.parametrize("lib", LIBS)
def test_features_within_rays_cuda(body, lib):
    v, f, q = body
    rng = np.random.default_rng(0)
    p = mc.query_points(v, 5000, seed=4).astype(np.float32)
    attr = rng.uniform(size=(len(v), 4)).astype(np.float32)
    c = q.point_features(p, attr)
    g = q.point_features(to_gpu(p, lib), to_gpu(attr, lib))
    same = to_host(g.face) == c.face
    np.testing.assert_allclose(to_host(g.attributes)[same], c.attributes[same], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(to_host(q.within(to_gpu(p, lib), 0.02)), q.within(p, 0.02))
    o = rng.normal(size=(5000, 3)).astype(np.float32) * 3
    d = (-o + rng.normal(size=(5000, 3)) * 0.3).astype(np.float32)
    hc = q.ray_cast(o, d)
    hg = q.ray_cast(to_gpu(o, lib), to_gpu(d, lib))
    assert ((to_host(hg.face) >= 0) != (hc.face >= 0)).sum() <= 2
    both = (to_host(hg.face) >= 0) & (hc.face >= 0)
    np.testing.assert_allclose(to_host(hg.t)[both], hc.t[both], rtol=1e-5)


@pytest.mark.parametrize("lib", LIBS)
def test_render_cuda_matches_cpu(body, lib):
    v, f, _ = body
    c = econ_fast.render_depth_normals(v, f, "frontback", 256)
    g = econ_fast.render_depth_normals(to_gpu(v.astype(np.float32), lib), to_gpu(f, lib), "frontback", 256)
    gm = to_host(g.mask)
    assert (gm != c.mask).sum() <= 2
    both = gm & c.mask
    # Depths are ~100 (ECON's eye plane), where one float32 ulp is 7.6e-6; FMAs move a few ulps.
    np.testing.assert_allclose(to_host(g.depth)[both], c.depth[both], rtol=0, atol=6e-5)
    np.testing.assert_allclose(to_host(g.normals)[both], c.normals[both], atol=1e-4)
    assert (to_host(g.face_visible) != c.face_visible).sum() <= 4
