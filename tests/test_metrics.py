# SPDX-License-Identifier: Apache-2.0
"""econ_fast.metrics against brute-force numpy references (every point against every face)."""
import numpy as np
import pytest

import meshcases
from econ_fast import metrics
from econ_fast.mesh import Mesh
from econ_fast.reference import meshquery_ref


def _ref_distance(points, mesh):
    d2, face, _, _ = meshquery_ref.closest_point(points, mesh.vertices, mesh.faces)
    return np.sqrt(d2), face


def _sphere(subdiv=2, r=1.0, centre=(0, 0, 0)):
    v, f = meshcases.icosphere(subdiv, r, centre)
    return Mesh(v, f)


def test_samples_lie_on_the_surface_and_are_deterministic():
    m = Mesh(*meshcases.bumpy_sphere(2, seed=3))
    p, f, n = metrics.sample_surface(m, 2000, seed=7)
    d, _ = _ref_distance(p, m)
    assert d.max() < 1e-9
    p2, f2, _ = metrics.sample_surface(m, 2000, seed=7)
    np.testing.assert_array_equal(p, p2)
    np.testing.assert_array_equal(f, f2)
    assert not np.array_equal(p, metrics.sample_surface(m, 2000, seed=8)[0])
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)


def test_samples_are_area_weighted_and_uniform_in_the_triangle():
    # two triangles with areas 1 : 3
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [5, 0, 0], [8, 0, 0], [5, 2, 0]], float)
    m = Mesh(v, np.array([[0, 1, 2], [3, 4, 5]]))
    p, f, _ = metrics.sample_surface(m, 40000, seed=0)
    assert abs((f == 1).mean() - 0.75) < 0.01
    # uniform in the triangle: the mean is the centroid
    np.testing.assert_allclose(p[f == 0].mean(0), v[:3].mean(0), atol=0.01)


def test_directed_distance_matches_brute_force():
    gt = Mesh(*meshcases.bumpy_sphere(2, seed=1))
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)) * 0.8
    d = metrics.directed_distance(pts, gt)
    ref, _ = _ref_distance(pts, gt)
    np.testing.assert_allclose(d, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shift", [0.0, 0.013, 0.1])
def test_evaluate_matches_a_numpy_reference(shift):
    pred = Mesh(*meshcases.bumpy_sphere(2, seed=2, amp=0.1))
    gt = _sphere(3, 1.0, (shift, 0.0, 0.0))
    n, seed, scale = 3000, 5, 100.0
    m = metrics.evaluate(pred, gt, n_samples=n, seed=seed, scale=scale, normal_images=False)
    ps, _, pn = metrics.sample_surface(pred, n, seed)
    gs, _, gn = metrics.sample_surface(gt, n, seed + 1)
    d_pg, f_pg = _ref_distance(ps, gt)
    d_gp, f_gp = _ref_distance(gs, pred)
    assert m.p2s == pytest.approx(d_pg.mean() * scale, rel=1e-4, abs=1e-5)
    assert m.pred_to_gt == m.p2s
    assert m.gt_to_pred == pytest.approx(d_gp.mean() * scale, rel=1e-4, abs=1e-5)
    assert m.chamfer == pytest.approx(0.5 * (d_pg.mean() + d_gp.mean()) * scale, rel=1e-4, abs=1e-5)
    # normal consistency: closest-face normals (ties only change |n.n'| by rounding)
    nc = 0.5 * (np.abs((pn * gt.face_normals()[f_pg]).sum(1)).mean()
                + np.abs((gn * pred.face_normals()[f_gp]).sum(1)).mean())
    assert m.normal_consistency == pytest.approx(nc, abs=2e-3)
    assert m.normal_error is None and m.unit == "cm"


def test_identical_meshes_score_perfectly():
    m = Mesh(*meshcases.bumpy_sphere(2, seed=4))
    r = metrics.evaluate(m, m.copy(), n_samples=2000, image_size=128)
    assert r.chamfer < 1e-4 and r.p2s < 1e-4
    assert r.normal_consistency == pytest.approx(1.0, abs=1e-6)
    assert r.normal_error == pytest.approx(0.0, abs=1e-9)


def test_concentric_spheres_give_the_radius_gap():
    a, b = _sphere(4, 1.0), _sphere(4, 1.02)
    r = metrics.evaluate(a, b, n_samples=4000, scale=1.0, normal_images=False)
    assert r.chamfer == pytest.approx(0.02, rel=0.05)
    assert r.normal_consistency > 0.999


def test_normal_image_error_grows_with_misalignment():
    a = Mesh(*meshcases.bumpy_sphere(2, seed=4))
    small = metrics.normal_image_error(a, Mesh(a.vertices + [0.01, 0, 0], a.faces), size=96)
    big = metrics.normal_image_error(a, Mesh(a.vertices + [0.2, 0, 0], a.faces), size=96)
    assert 0 < small < big
    # flipped winding does not change smooth rendered normals' geometry but the image error sees
    # the orientation of the renderer's vertex normals
    flipped = Mesh(a.vertices, a.faces[:, ::-1])
    assert metrics.normal_image_error(a, flipped, size=96) > big


def test_bad_arguments():
    m = _sphere(1)
    with pytest.raises(ValueError, match="pred has no faces"):
        metrics.evaluate(Mesh(np.zeros((3, 3)), np.zeros((0, 3), int)), m)
    with pytest.raises(ValueError, match="scale"):
        metrics.evaluate(m, m, scale=0)
    with pytest.raises(ValueError, match="n_samples"):
        metrics.evaluate(m, m, n_samples=0)
    with pytest.raises(TypeError, match="gt must be a Mesh"):
        metrics.evaluate(m, "x")
    with pytest.raises(ValueError, match="zero surface area"):
        metrics.evaluate(Mesh(np.zeros((3, 3)), [[0, 1, 2]]), m)
    with pytest.raises(ValueError, match="unknown view"):
        metrics.normal_image_error(m, m, views=("top",))
