# SPDX-License-Identifier: Apache-2.0
"""econ_fast.MeshQuery against the brute-force numpy oracle (econ_fast.reference.meshquery_ref)
and constructed truths. Tie-aware: distances and closest points rebuilt from barycentrics are
compared, face ids only where they are provably unique."""
import math

import numpy as np
import pytest

import econ_fast
import meshcases as mc
from econ_fast import MeshQuery
from econ_fast.reference import meshquery_ref as R

SIZES = [0, 1, 255, 256, 257, 4099]


def dist_tol(p):
    """float32 rounding of a distance computed from coordinates of magnitude |p|."""
    return 2e-6 * (1.0 + np.abs(np.asarray(p, np.float64)).max(-1))


@pytest.fixture(scope="module")
def bumpy():
    v, f = mc.bumpy_sphere(2, seed=3)
    return v, f, MeshQuery(v, f)


def check_closest(q, v, f, p, r=None):
    r = q.closest_points(p) if r is None else r
    d2, _, cp_ref, _ = R.closest_point(p, v, f)
    tol = dist_tol(p)
    assert np.all(np.abs(r.distance - np.sqrt(d2)) <= tol), np.abs(r.distance - np.sqrt(d2)).max()
    assert np.allclose(r.squared_distance, r.distance.astype(np.float64) ** 2, rtol=1e-5, atol=1e-12)
    # The reported point lies on the reported face at the reported distance.
    w = r.barycentric.astype(np.float64)
    assert np.all(w >= -1e-6) and np.allclose(w.sum(1), 1, atol=1e-5)
    rebuilt = (w[:, :, None] * v[f[r.face]]).sum(1)
    assert np.all(np.abs(rebuilt - r.points).max(1) <= 4 * tol)
    assert np.all(np.abs(np.linalg.norm(p - rebuilt, axis=1) - np.sqrt(d2)) <= 4 * tol)
    # Where the closest point is well defined (no tie within tolerance), it matches the oracle.
    return r, cp_ref


@pytest.mark.parametrize("n", SIZES)
def test_closest_points_match_reference(bumpy, n):
    v, f, q = bumpy
    p = mc.query_points(v, n, seed=n)
    r, cp_ref = check_closest(q, v, f, p)
    assert r.points.shape == (n, 3) and r.face.dtype == np.int32 and r.distance.dtype == np.float32
    # Bumpy sphere: ties are measure-zero; closest points agree with the oracle.
    if n:
        assert np.abs(r.points - cp_ref).max() <= 1e-4 * (1 + np.abs(p).max())


def test_soup_barycentres_are_their_own_faces():
    v, f = mc.triangle_soup(300, seed=1)
    q = MeshQuery(v, f, leaf_size=4)
    c = v[f].mean(1)
    r = q.closest_points(c)
    np.testing.assert_array_equal(r.face, np.arange(len(f)))
    assert r.distance.max() < 1e-5
    np.testing.assert_allclose(r.barycentric, 1 / 3, atol=1e-5)


def test_voronoi_regions_closed_form():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)
    q = MeshQuery(v, np.array([[0, 1, 2]]))
    pts = np.array([
        [-1, -1, 0.5],    # vertex 0
        [2, -0.5, 0],     # vertex 1
        [-0.5, 2, 0],     # vertex 2
        [0.5, -1, 0],     # edge 01
        [1, 1, 2],        # edge 12
        [-1, 0.5, 0],     # edge 20
        [0.25, 0.25, 3],  # face
    ])
    want_q = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0], [0.25, 0.25, 0]])
    want_w = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.25, 0.25]])
    r = q.closest_points(pts)
    np.testing.assert_allclose(r.points, want_q, atol=1e-6)
    np.testing.assert_allclose(r.barycentric, want_w, atol=1e-6)
    np.testing.assert_allclose(r.distance, np.linalg.norm(pts - want_q, axis=1), rtol=1e-6)
    # The plane projection is not clamped (ICON): (2, -0.5) has weights (-0.5, 2, -0.5).
    np.testing.assert_allclose(r.barycentric_projected[1], [-0.5, 2.0, -0.5], atol=1e-6)
    np.testing.assert_allclose(r.normals, np.tile([0, 0, 1], (7, 1)), atol=1e-6)


def test_degenerate_and_duplicate_triangles():
    v, f = mc.bumpy_sphere(1, seed=5)
    n0 = len(v)
    extra_v = np.array([[0, 0, 2.0], [0, 0, 3.0], [0, 0, 4.0], [2.5, 0, 0], [1.5, 1.5, 1.5]])
    v = np.concatenate([v, extra_v])
    f = np.concatenate([
        f,
        f[:7],                                   # duplicates
        [[n0, n0 + 1, n0 + 2]],                  # collinear (a segment)
        [[n0 + 3, n0 + 3, n0 + 3]],              # a point
        [[n0 + 4, n0 + 4, n0 + 3]],              # repeated vertex: a segment
        [[0, 0, 1]],                             # repeated vertex on the surface
    ])
    q = MeshQuery(v, f)
    p = np.concatenate([mc.query_points(v, 2000, seed=2), [[0, 0, 2.5], [0.1, 0, 3.5], [2.6, 0, 0], [2.0, 0.75, 0.75]]])
    r, _ = check_closest(q, v, f, p)
    assert np.all(np.isfinite(r.distance)) and np.all(np.isfinite(r.barycentric))
    assert abs(r.distance[-4]) < 1e-6 and abs(r.distance[-3] - 0.1) < 1e-6 and abs(r.distance[-2] - 0.1) < 1e-6
    assert not q.is_closed


@pytest.mark.parametrize("sign", ["auto", "pseudonormal", "winding"])
def test_signed_distance_closed_mesh(bumpy, sign):
    v, f, q = bumpy
    assert q.is_closed
    p = mc.query_points(v, 3000, seed=7)
    s = q.signed_distance(p, sign=sign)
    ref = R.signed_distance(p, v, f)
    np.testing.assert_array_less(np.abs(np.abs(s) - np.abs(ref)), dist_tol(p) + 1e-12)
    m = np.abs(ref) > 1e-4
    assert np.array_equal(s[m] < 0, ref[m] < 0)
    icon = q.signed_distance(p, sign=sign, inside_positive=True)
    np.testing.assert_array_equal(icon, -s)


def test_sphere_sign_closed_form():
    v, f = mc.icosphere(3, radius=0.5)
    q = MeshQuery(v, f)
    rng = np.random.default_rng(0)
    d = rng.normal(size=(5000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    rad = rng.uniform(0, 1.0, (5000, 1))
    p = d * rad
    s = q.signed_distance(p)
    inscribed = 0.5 * 0.99  # the icosphere lies between these radii
    assert np.all(s[rad[:, 0] < inscribed - 1e-3] < 0) and np.all(s[rad[:, 0] > 0.5 + 1e-3] > 0)


def test_open_mesh_uses_winding_numbers():
    v, f = mc.bumpy_sphere(2, seed=4)
    f = f[np.abs(v[f].mean(1)[:, 1] - 0.9) > 0.25]  # cut a hole near the top
    q = MeshQuery(v, f)
    assert not q.is_closed
    p = mc.query_points(v, 3000, seed=8)
    w = q.winding_number(p)
    wr = R.winding_number(p, v, f)
    assert np.abs(w - wr).max() < 0.05
    s = q.signed_distance(p)  # auto -> winding
    d2, _, _, _ = R.closest_point(p, v, f)
    confident = (np.abs(wr - 0.5) > 0.1) & (np.sqrt(d2) > 1e-4)
    assert np.array_equal((s < 0)[confident], (wr > 0.5)[confident])


def test_winding_number_closed_mesh(bumpy):
    v, f, q = bumpy
    p = mc.query_points(v, 1000, seed=9)
    w = q.winding_number(p)
    wr = R.winding_number(p, v, f)
    assert np.abs(w - wr).max() < 0.05
    assert np.abs(q.winding_number(p, beta=1e6) - wr).max() < 1e-3  # beta -> inf: exact sum


def test_projected_barycentric_and_normals(bumpy):
    v, f, q = bumpy
    p = mc.query_points(v, 1000, seed=11)
    r = q.closest_points(p)
    bp = R.projected_barycentric(p, v, f, r.face)
    np.testing.assert_allclose(r.barycentric_projected, bp, rtol=1e-4, atol=1e-4 * (1 + np.abs(bp).max()))
    for weighting in ("angle", "area"):
        qq = MeshQuery(v, f, vertex_normals=weighting)
        vn = R.vertex_normals(v, f, weighting)
        np.testing.assert_allclose(qq.vertex_normals, vn, atol=1e-6)
    n = (r.barycentric[:, :, None] * vn[f[r.face]]).sum(1)  # vn: "area" from the loop above
    n = (r.barycentric[:, :, None] * R.vertex_normals(v, f, "angle")[f[r.face]]).sum(1)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(r.normals, n, atol=1e-5)


def test_point_features_icon(bumpy):
    v, f, q = bumpy
    rng = np.random.default_rng(3)
    cmap = rng.uniform(size=(len(v), 3))
    vis = (rng.uniform(size=len(v)) > 0.5).astype(np.float32)
    p = mc.query_points(v, 500, seed=12).reshape(5, 100, 3)  # ICON's (B, N, 3)
    ft = q.point_features(p, cmap, inside_positive=True)
    assert ft.sdf.shape == (5, 100) and ft.attributes.shape == (5, 100, 3) and ft.normals.shape == (5, 100, 3)
    flat = p.reshape(-1, 3)
    np.testing.assert_array_equal(ft.sdf.reshape(-1), q.signed_distance(flat, inside_positive=True))
    w = R.projected_barycentric(flat, v, f, ft.face.reshape(-1))
    want = (w[:, :, None] * cmap[f[ft.face.reshape(-1)]]).sum(1)
    np.testing.assert_allclose(ft.attributes.reshape(-1, 3), want, rtol=1e-4, atol=1e-4 * (1 + np.abs(want).max()))
    nv = (w[:, :, None] * q.vertex_normals[f[ft.face.reshape(-1)]]).sum(1)  # not renormalised (ICON)
    np.testing.assert_allclose(ft.normals.reshape(-1, 3), nv, rtol=1e-4, atol=1e-4 * (1 + np.abs(nv).max()))
    f1 = q.point_features(flat, vis, barycentric="closest")
    assert f1.attributes.shape == (500, 1)
    assert np.all((f1.attributes >= -1e-6) & (f1.attributes <= 1 + 1e-6))


@pytest.mark.parametrize("radius", [0.0, 0.02, 0.08, 0.5])
def test_within_radius(bumpy, radius):
    v, f, q = bumpy
    p = mc.query_points(v, 3000, seed=13)
    d = np.sqrt(R.closest_point(p, v, f)[0])
    got = q.within(p, radius)
    assert got.dtype == bool
    clear = np.abs(d - radius) > 1e-5
    np.testing.assert_array_equal(got[clear], (d <= radius)[clear])
    r = q.closest_points(p, max_distance=radius)
    far = r.face < 0
    np.testing.assert_array_equal(far[clear], (d > radius)[clear])
    assert np.all(np.isinf(r.distance[far])) and np.all(np.isnan(r.points[far]))
    np.testing.assert_allclose(r.distance[~far], d[~far], atol=1e-5)


@pytest.mark.parametrize("n", SIZES)
def test_ray_cast_matches_reference(bumpy, n):
    v, f, q = bumpy
    rng = np.random.default_rng(n)
    o = rng.normal(size=(n, 3)) * 3
    d = -o + rng.normal(size=(n, 3)) * 0.5
    h = q.ray_cast(o, d)
    t, fr, _ = R.ray_cast(o, d, v, f)
    hit = np.isfinite(t)
    assert np.array_equal(hit, h.face >= 0)
    np.testing.assert_allclose(h.t[hit], t[hit], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.points[hit], o[hit] + t[hit, None] * d[hit], atol=1e-4)
    rebuilt = (h.barycentric[hit, :, None] * v[f[h.face[hit]]]).sum(1)
    np.testing.assert_allclose(rebuilt, h.points[hit], atol=1e-5)
    assert np.all(np.isinf(h.t[~hit])) and np.all(np.isnan(h.barycentric[~hit]))
    # tmax / tmin
    h2 = q.ray_cast(o, d, tmax=0.5)
    assert np.all((h2.face < 0) | (h2.t <= 0.5))
    np.testing.assert_array_equal(h2.face >= 0, hit & (t <= 0.5))


def test_rays_through_shared_edges_never_leak():
    # A flat grid of unit squares; rays through every vertex and edge midpoint must hit.
    g = 8
    xs, ys = np.meshgrid(np.arange(g + 1, dtype=np.float64), np.arange(g + 1, dtype=np.float64), indexing="ij")
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    idx = np.arange((g + 1) ** 2).reshape(g + 1, g + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    f = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    q = MeshQuery(v, f)
    u = np.arange(1, 2 * g) / 2.0
    X, Y = np.meshgrid(u, u, indexing="ij")
    o = np.stack([X.ravel(), Y.ravel(), np.full(X.size, 5.0)], 1)
    h = q.ray_cast(o, np.tile([0, 0, -1.0], (len(o), 1)))
    assert np.all(h.face >= 0)
    np.testing.assert_allclose(h.t, 5.0)


def test_render_orthographic_econ_convention():
    # A sphere off-centre towards +x and +z: front and back both see it at the same columns
    # (the back map is mirrored to align with the front), front normals face +z, back -z.
    v, f = mc.icosphere(3, radius=0.4, centre=(0.3, 0.1, 0.2))
    r = econ_fast.render_depth_normals(v, f, "frontback", 64)
    assert r.depth.shape == (2, 64, 64) and r.normals.shape == (2, 64, 64, 3) and r.face_visible.shape == (2, len(f))
    np.testing.assert_array_equal(r.mask[0], r.mask[1])
    cols = np.nonzero(r.mask[0].any(0))[0]
    x = (2 * cols + 1) / 64 - 1
    assert x.min() > 0.3 - 0.42 and x.max() < 0.3 + 0.42 and x.mean() > 0.2
    assert np.all(r.normals[0][r.mask[0]][:, 2] > 0) and np.all(r.normals[1][r.mask[1]][:, 2] < 0)
    assert np.all(np.isnan(r.depth[~r.mask])) and np.all(np.isnan(r.normals[~r.mask]))
    # Depth = 100 - z (front) and 100 + z (back) of the first hit, checked by ray casting.
    ii, jj = np.nonzero(r.mask[0])
    X, Y = (2 * jj + 1) / 64 - 1, 1 - (2 * ii + 1) / 64
    t, _, _ = R.ray_cast(np.stack([X, Y, np.full_like(X, 100)], 1), np.tile([0, 0, -1.0], (len(X), 1)), v, f)
    np.testing.assert_allclose(r.depth[0][ii, jj], t, atol=2e-5)
    tb, _, _ = R.ray_cast(np.stack([X, Y, np.full_like(X, -100)], 1), np.tile([0, 0, 1.0], (len(X), 1)), v, f)
    np.testing.assert_allclose(r.depth[1][ii, jj], tb, atol=2e-5)
    # Visibility: every face seen in a pixel is flagged, and only those.
    for s in range(2):
        seen = np.zeros(len(f), bool)
        seen[r.face[s][r.mask[s]]] = True
        np.testing.assert_array_equal(r.face_visible[s], seen)
    # Unmirrored back camera = the mirrored one flipped left-right.
    rb = econ_fast.render_depth_normals(v, f, econ_fast.OrthographicCamera("back", mirror_back=False), 64)
    np.testing.assert_array_equal(rb.depth[0], r.depth[1][:, ::-1])


def test_render_perspective_matches_ray_cast():
    v, f = mc.bumpy_sphere(2, seed=1)
    K = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    ang = 0.3
    Rm = np.array([[math.cos(ang), 0, math.sin(ang)], [0, 1, 0], [-math.sin(ang), 0, math.cos(ang)]])
    t = np.array([0.1, -0.2, 4.0])
    cam = econ_fast.PerspectiveCamera(K, Rm, t)
    q = MeshQuery(v, f)
    r = q.render_depth_normals(cam, (48, 64))
    assert r.depth.shape == (1, 48, 64)
    ii, jj = np.mgrid[0:48, 0:64]
    dcam = np.stack([(jj - K[0, 2]) / K[0, 0], (ii - K[1, 2]) / K[1, 1], np.ones_like(jj, float)], -1).reshape(-1, 3)
    dirs = dcam @ Rm  # R^T d
    C = -Rm.T @ t
    tt, _, _ = R.ray_cast(np.tile(C, (len(dirs), 1)), dirs, v, f)
    hit = np.isfinite(tt)
    got = r.depth[0].reshape(-1)
    clear = np.ones_like(hit)
    np.testing.assert_array_equal(np.isfinite(got)[clear], hit[clear])
    np.testing.assert_allclose(got[hit], tt[hit], rtol=1e-5)  # t along d with d_z(cam) = 1 is z_cam


def test_anny_body_fixture():
    v, f = mc.anny_small()
    q = MeshQuery(v, f)
    assert q.is_closed and q.num_faces == 2454
    p = mc.query_points(v, 1500, seed=21)
    check_closest(q, v, f, p)
    s = q.signed_distance(p)
    ref = R.signed_distance(p, v, f)
    m = np.abs(ref) > 1e-4
    assert np.array_equal(s[m] < 0, ref[m] < 0)
    r = q.render_depth_normals("frontback", 128)
    assert 0.05 < r.mask[0].mean() < 0.5 and r.face_visible.any(0).mean() > 0.5


def test_input_forms(bumpy):
    v, f, q = bumpy
    p = mc.query_points(v, 600, seed=30)
    base = q.closest_points(p.astype(np.float32))
    nc = np.asfortranarray(p)[::2]  # non-contiguous, float64
    r = q.closest_points(nc)
    np.testing.assert_array_equal(r.distance, base.distance[::2])
    r3 = q.closest_points(p.reshape(2, 300, 3))
    assert r3.distance.shape == (2, 300) and r3.points.shape == (2, 300, 3)
    np.testing.assert_array_equal(r3.face.reshape(-1), base.face)
    one = q.closest_points(p[0])
    assert one.distance.shape == () and one.points.shape == (3,)
    np.testing.assert_array_equal(q.closest_points(p.tolist()).distance, base.distance)
    # Mesh from non-contiguous float64 / int32 / uint32 arrays.
    q2 = MeshQuery(np.asfortranarray(v), f.astype(np.uint32))
    np.testing.assert_array_equal(q2.closest_points(p).distance, base.distance)


def test_torch_cpu_tensors(bumpy):
    torch = pytest.importorskip("torch")
    v, f, q = bumpy
    p = mc.query_points(v, 300, seed=31)
    qt = MeshQuery(torch.from_numpy(v), torch.from_numpy(f))
    r = qt.closest_points(torch.from_numpy(p))
    assert isinstance(r.distance, torch.Tensor) and r.face.dtype == torch.int32
    np.testing.assert_array_equal(r.distance.numpy(), q.closest_points(p).distance)
    s = qt.signed_distance(torch.from_numpy(p).float())
    assert isinstance(s, torch.Tensor)
    assert isinstance(qt.within(torch.from_numpy(p), 0.1), torch.Tensor)
    h = qt.ray_cast(torch.zeros(4, 3), torch.tensor([[1.0, 0, 0]] * 4))
    assert isinstance(h.t, torch.Tensor) and bool((h.face >= 0).all())


def test_deterministic_across_threads(bumpy):
    v, f, q = bumpy
    p = mc.query_points(v, 20000, seed=40)
    n0 = econ_fast.get_num_threads()
    try:
        econ_fast.set_num_threads(1)
        a = q.closest_points(p)
        sa = q.signed_distance(p, sign="winding")
        econ_fast.set_num_threads(max(2, n0))
        b = q.closest_points(p)
        sb = q.signed_distance(p, sign="winding")
    finally:
        econ_fast.set_num_threads(n0)
    for x, y in zip((a.points, a.face, a.barycentric, sa), (b.points, b.face, b.barycentric, sb)):
        np.testing.assert_array_equal(x, y)
    # Same answer one point at a time (no hint from neighbours) as in a batch.
    for i in range(0, 20000, 997):
        np.testing.assert_array_equal(q.closest_points(p[i : i + 1]).face, a.face[i : i + 1])
    # The BVH build is deterministic.
    assert MeshQuery(v, f).bvh_stats["nodes"] == q.bvh_stats["nodes"]


def test_adversarial_bvh_inputs():
    # Exponentially spaced triangles (SAH peels one at a time) and thousands of duplicates.
    n = 3000
    x = 1.001 ** np.arange(n)
    v = np.stack([np.stack([x, np.zeros(n), np.zeros(n)], 1), np.stack([x, np.ones(n), np.zeros(n)], 1),
                  np.stack([x, np.zeros(n), np.ones(n)], 1)], 1).reshape(-1, 3)
    f = np.arange(3 * n).reshape(n, 3)
    q = MeshQuery(v, f)
    assert q.bvh_stats["depth"] <= 64
    p = np.random.default_rng(0).uniform(0, 20, (500, 3))
    check_closest(q, v, f, p)
    vd = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]])
    fd = np.zeros((5000, 3), np.int64) + [0, 1, 2]
    qd = MeshQuery(vd, fd)
    r = qd.closest_points(np.array([[0.2, 0.2, 1.0], [5, 5, 5]]))
    np.testing.assert_allclose(r.distance, [1.0, np.linalg.norm([5 - 0.5, 5 - 0.5, 5])], rtol=1e-6)



@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_thin_triangles_far_points_and_offsets(offset):
    # The search filters triangles with a vectorised distance (face and edge planes) and runs the
    # exact test only where that can beat the best: check it on thin, tiny and huge triangles,
    # points from the surface to far away, and coordinates far from the origin, down to aspect
    # ratio 1e-7 (see test_meshquery_exact.py for the exactness bound on such triangles).
    rng = np.random.default_rng(7)
    n = 400
    a = rng.uniform(-1, 1, (n, 3))
    u, w = rng.normal(size=(2, n, 3))
    scale = 10.0 ** rng.uniform(-3, 0, (n, 1))
    thin = 10.0 ** rng.uniform(-7, 0, (n, 1))  # aspect ratio down to 1e-7
    b = a + scale * u
    c = a + scale * (0.5 * u + thin * w)
    v = np.concatenate([a, b, c]).reshape(3, n, 3).transpose(1, 0, 2).reshape(-1, 3) + offset
    f = np.arange(3 * n).reshape(n, 3)
    q = MeshQuery(v, f)
    assert q.bvh_stats["wide_nodes"] == 0  # the 4-wide tree is built by the first point query
    v32 = v.astype(np.float32).astype(np.float64)
    near = v32[rng.integers(0, len(v32), 1500)] + rng.normal(size=(1500, 3)) * 10.0 ** rng.uniform(-6, 0, (1500, 1))
    far = offset + rng.normal(size=(500, 3)) * 30
    p = np.concatenate([near, far])
    r, _ = check_closest(q, v32, f, p)
    assert q.bvh_stats["wide_nodes"] > 0
    # One point at a time (no distance hint from the previous query): the same faces.
    for i in range(0, len(p), 37):
        np.testing.assert_array_equal(q.closest_points(p[i : i + 1]).face, r.face[i : i + 1])

# ------------------------------------------------------------------------------------ errors
def test_errors_mesh():
    v, f = mc.icosphere(1)
    with pytest.raises(ValueError, match=r"vertices must have shape \(V, 3\), got \(42, 2\)"):
        MeshQuery(v[:, :2], f)
    with pytest.raises(ValueError, match=r"faces must have shape \(F, 3\)"):
        MeshQuery(v, f[:, :2])
    with pytest.raises(TypeError, match="faces must have an integer dtype, got float64"):
        MeshQuery(v, f.astype(float))
    with pytest.raises(TypeError, match="vertices must have dtype float32 or float64, got int64"):
        MeshQuery(v.astype(np.int64), f)
    with pytest.raises(ValueError, match="faces must not be empty"):
        MeshQuery(v, np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="vertices must not be empty"):
        MeshQuery(np.zeros((0, 3)), f)
    with pytest.raises(ValueError, match=r"faces must index vertices in \[0, 42\)"):
        MeshQuery(v, np.concatenate([f, [[0, 1, 42]]]))
    with pytest.raises(ValueError, match=r"faces must index vertices"):
        MeshQuery(v, np.concatenate([f, [[0, -1, 2]]]))
    bad = v.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"vertices must be finite; vertices\[3, 1\]"):
        MeshQuery(bad, f)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="vertices must be finite"):
        MeshQuery(bad, f)
    with pytest.raises(TypeError, match="vertices must be an array, got None"):
        MeshQuery(None, f)
    with pytest.raises(ValueError, match="vertex_normals must be 'angle' or 'area'"):
        MeshQuery(v, f, vertex_normals="mean")
    with pytest.raises(ValueError, match="leaf_size"):
        MeshQuery(v, f, leaf_size=0)


def test_errors_queries(bumpy):
    v, f, q = bumpy
    p = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\), got \(4, 2\)"):
        q.closest_points(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="points must have dtype float32 or float64, got int64"):
        q.closest_points(np.zeros((4, 3), np.int64))
    bad = p.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="points must be finite"):
        q.signed_distance(bad)
    bad[1, 2] = -np.inf
    with pytest.raises(ValueError, match="points must be finite"):
        q.closest_points(bad)
    with pytest.raises(TypeError, match="points must be an array, got str"):
        q.closest_points("abc")
    with pytest.raises(ValueError, match="sign must be one of"):
        q.signed_distance(p, sign="parity")
    with pytest.raises(ValueError, match="max_distance must be >= 0"):
        q.closest_points(p, max_distance=-1)
    with pytest.raises(TypeError, match="radius must be a number"):
        q.within(p, "2cm")
    with pytest.raises(ValueError, match="radius must be finite"):
        q.within(p, float("nan"))
    with pytest.raises(ValueError, match="beta must be > 0"):
        q.winding_number(p, beta=0)
    with pytest.raises(ValueError, match=r"attributes must have shape \(V, C\) or \(V,\) with V = "):
        q.point_features(p, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="barycentric must be 'projected' or 'closest'"):
        q.point_features(p, barycentric="exact")
    with pytest.raises(ValueError, match="directions must have the shape of origins"):
        q.ray_cast(p, np.ones((3, 3)))
    with pytest.raises(ValueError, match="directions must be non-zero"):
        q.ray_cast(p, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="directions must be finite"):
        q.ray_cast(p, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="tmin must be <= tmax"):
        q.ray_cast(p, np.ones((4, 3)), tmin=2, tmax=1)
    with pytest.raises(ValueError, match="camera must be"):
        q.render_depth_normals("side", 8)
    with pytest.raises(TypeError, match="size must be an int or a"):
        q.render_depth_normals("front", 8.5)
    with pytest.raises(ValueError, match="size must be positive"):
        q.render_depth_normals("front", (0, 8))
    with pytest.raises(ValueError, match="K must be"):
        q.render_depth_normals(econ_fast.PerspectiveCamera(np.eye(2)), 8)
    with pytest.raises(ValueError, match="view must be 'front' or 'back'"):
        econ_fast.OrthographicCamera("left")
    # Native layer re-checks (C++ callers get the same guarantees).
    with pytest.raises(TypeError, match="points must have dtype float32, got float64"):
        q._core.closest(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"out_dist must have shape \(2,\), got \(3,\)"):
        q._core.closest(np.zeros((2, 3), np.float32), out_dist=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="points must be C-contiguous"):
        q._core.closest(np.zeros((3, 6), np.float32)[:, ::2])


def test_peer_trimesh(bumpy):
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("rtree")
    v, f, q = bumpy
    p = mc.query_points(v, 300, seed=50)
    cp, d, tri = trimesh.proximity.closest_point(trimesh.Trimesh(v, f, process=False), p)
    np.testing.assert_allclose(q.closest_points(p).distance, d, atol=1e-5 * (1 + np.abs(p).max()))


def test_peer_open3d(bumpy):
    o3d = pytest.importorskip("open3d")
    v, f, q = bumpy
    p = mc.query_points(v, 2000, seed=51).astype(np.float32)
    sc = o3d.t.geometry.RaycastingScene()
    sc.add_triangles(o3d.core.Tensor(v.astype(np.float32)), o3d.core.Tensor(f.astype(np.uint32)))
    sd = sc.compute_signed_distance(o3d.core.Tensor(p)).numpy()
    ours = q.signed_distance(p)
    np.testing.assert_allclose(np.abs(ours), np.abs(sd), atol=1e-5 * (1 + np.abs(p).max()))
    m = np.abs(sd) > 1e-4
    assert np.array_equal(ours[m] < 0, sd[m] < 0)
