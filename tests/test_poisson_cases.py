# SPDX-License-Identifier: Apache-2.0
"""The Poisson benchmark cases and metric (benchmarks/poisson_cases.py) against closed forms.

These cases are the ground truth the screened-Poisson tests and benchmark score against, so they are
checked here: points on the true surface, exact outward unit normals, watertight ground truth,
determinism, and a Chamfer metric that returns known distances."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import poisson_cases as pc  # noqa: E402
from econ_fast.mesh import Mesh  # noqa: E402
from econ_fast.meshquery import MeshQuery  # noqa: E402


def _gt_distance(case, p):
    return np.asarray(MeshQuery(case.gt_vertices, case.gt_faces).distance(p), np.float64)


@pytest.mark.parametrize("level", [0, 1, 3])
def test_icosphere_closed_unit(level):
    v, f = pc.icosphere(level)
    m = Mesh(v, f)
    assert m.n_faces == 20 * 4 ** level and m.n_vertices == 10 * 4 ** level + 2
    assert m.is_watertight() and m.is_manifold() and m.is_winding_consistent()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)
    assert (m.vertices[m.faces].mean(1) * m.face_normals()).sum(1).min() > 0      # outward
    with pytest.raises(ValueError, match="level"):
        pc.icosphere(-1)


def test_sample_mesh_uniform_by_area():
    # Two triangles, areas 1 and 3 (same shape, scaled): 1/4 of the samples on the first.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [5, 0, 0], [5 + 3 ** 0.5, 0, 0], [5, 2 * 3 ** 0.5, 0]], float)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    p, fid, bary = pc.sample_mesh(v, f, 40000, np.random.default_rng(0))
    assert abs((fid == 0).mean() - 0.25) < 0.01
    np.testing.assert_allclose(bary.sum(1), 1.0)
    assert bary.min() >= 0
    # uniform inside a triangle: mean is the centroid
    np.testing.assert_allclose(p[fid == 0].mean(0), v[:3].mean(0), atol=0.01)
    with pytest.raises(ValueError, match="zero total area"):
        pc.sample_mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]), 10, np.random.default_rng(0))


def test_sphere_case_exact():
    c = pc.sphere(5000, seed=3)
    ctr = np.array([0.1, -0.05, 0.02])
    np.testing.assert_allclose(np.linalg.norm(c.points - ctr, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(c.normals, c.points - ctr, atol=1e-12)
    d = c.distance(ctr + np.array([[2.0, 0, 0], [0, 0.5, 0]]))
    np.testing.assert_allclose(d, [1.0, 0.5])
    c2 = pc.sphere(5000, seed=3)
    np.testing.assert_array_equal(c.points, c2.points)
    assert not np.array_equal(c.points, pc.sphere(5000, seed=4).points)


def test_blob_points_normals_on_true_surface():
    c = pc.blob(4000, seed=1, gt_level=5)
    m = Mesh(c.gt_vertices, c.gt_faces)
    assert m.is_watertight() and m.is_manifold() and m.is_winding_consistent()
    np.testing.assert_allclose(np.linalg.norm(c.normals, axis=1), 1.0, atol=1e-12)
    # On the surface: within the level-5 mesh's chord error.
    assert _gt_distance(c, c.points).max() < 2e-3
    # Analytic normal = gradient direction: a central difference of the implicit
    # F(x) = |S^-1 x| - r(S^-1 x / |S^-1 x|) along the normal changes sign, tangent moves do not.
    def F(x):
        y = x / pc._BLOB_SCALE
        ny = np.linalg.norm(y, axis=1)
        return ny - pc._blob_r(y / ny[:, None])
    h = 1e-5
    g = (F(c.points + h * c.normals) - F(c.points - h * c.normals)) / (2 * h)
    assert g.min() > 0
    t = np.cross(c.normals, [0.3, 0.5, 0.81])
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    gt = (F(c.points + h * t) - F(c.points - h * t)) / (2 * h)
    assert np.abs(gt / g).max() < 1e-4
    # The exact sampler lands on the surface too, and the case is deterministic.
    s = c.sample(2000, np.random.default_rng(0))
    assert np.abs(F(s)).max() < 1e-12
    np.testing.assert_array_equal(c.points, pc.blob(4000, seed=1, gt_level=5).points)


def test_noisy_case_density_and_noise():
    clean = pc.blob(20000, seed=0, gt_level=4)
    c = pc.noisy(20000, seed=0, gt_level=4)
    x = c.points[:, 0]
    gm = Mesh(clean.gt_vertices, clean.gt_faces)
    cx, area = gm.vertices[gm.faces].mean(1)[:, 0], gm.face_areas()
    lo, hi = cx.min(), cx.max()
    third = (hi - lo) / 3
    # The density per unit area ramps 1 -> 10 along x; compare per-area counts in the end thirds.
    dens_lo = (x < lo + third).sum() / area[cx < lo + third].sum()
    dens_hi = (x > hi - third).sum() / area[cx > hi - third].sum()
    ratio = dens_hi / dens_lo
    assert 3.0 < ratio < 10.0, ratio          # end-third averages of a 1..10 linear ramp: 8.5 / 2.5 = 3.4
    d = _gt_distance(c, c.points)
    std = c.info["noise_std"]
    assert 0.5 * std < np.median(d) < 2.5 * std
    np.testing.assert_allclose(np.linalg.norm(c.normals, axis=1), 1.0, atol=1e-12)


def test_sandwich_case_like_econ():
    c = pc.sandwich(size=128, seed=0, body="vendored")
    body = Mesh(c.gt_vertices, c.gt_faces)
    assert body.is_watertight()
    lo, hi = c.gt_vertices.min(0), c.gt_vertices.max(0)
    np.testing.assert_allclose(hi[1] - lo[1], 1.8, rtol=1e-12)     # ECON frame: 1.8 units tall
    assert c.info["sheet_points"] > 1000 and c.info["side_points"] > 100
    assert c.n_points == c.info["sheet_points"] + c.info["side_points"]
    # Every input point lies on the body (rendered depth and area samples of the same mesh).
    assert _gt_distance(c, c.points).max() < 1e-4
    # Normals: unit, and agree with the body's own normals (sheet normals come from the pixel grid).
    q = MeshQuery(c.gt_vertices, c.gt_faces).closest_points(c.points)
    dots = (np.asarray(q.normals) * c.normals).sum(1)
    np.testing.assert_allclose(np.linalg.norm(c.normals, axis=1), 1.0, atol=1e-9)
    assert np.median(dots) > 0.95 and (dots < 0).mean() < 0.01
    # Side samples keep at least `cull` from the sheet points (they were culled against the sheets).
    side, sheet = c.points[c.info["sheet_points"]:], c.points[:c.info["sheet_points"]]
    from scipy.spatial import cKDTree
    assert cKDTree(sheet).query(side)[0].min() >= c.info["cull"] - 1e-9
    c2 = pc.sandwich(size=128, seed=0, body="vendored")
    np.testing.assert_array_equal(c.points, c2.points)
    with pytest.raises(ValueError, match="source must be"):
        pc.body_mesh("smplx")


def test_chamfer_known_values_and_checks():
    c = pc.sphere(1000, seed=0)
    ctr = np.array([0.1, -0.05, 0.02])
    v, f = pc.icosphere(6)
    q = pc.chamfer(ctr + v, f, c, n_samples=20000)
    assert q["chamfer"] < 2e-4                                     # level-6 chord error only
    q = pc.chamfer(ctr + 1.01 * v, f, c, n_samples=20000)          # sphere 1 % too big
    assert abs(q["recon_to_gt"] - 0.01) < 2e-4 and abs(q["gt_to_recon"] - 0.01) < 2e-4
    # Missing half of the surface: only the gt -> recon direction sees it.
    keep = (v[f].mean(1)[:, 2] > 0)
    half = Mesh(ctr + v, f).submesh(keep)
    q = pc.chamfer(half.vertices, half.faces, c, n_samples=20000)
    assert q["recon_to_gt"] < 2e-4 and q["gt_to_recon"] > 0.1
    assert pc.chamfer(np.zeros((0, 3)), np.zeros((0, 3), int), c)["chamfer"] == np.inf
    chk = pc.mesh_checks(ctr + v, f)
    assert chk["watertight"] and chk["manifold"] and chk["components"] == 1 and chk["euler"] == 2
    chk = pc.mesh_checks(half.vertices, half.faces)
    assert not chk["watertight"] and chk["euler"] == 1
