# SPDX-License-Identifier: Apache-2.0
"""Exactness of the per-triangle closest-point test on thin triangles (issue 3): needles, slivers
and caps with aspect ratios 1e-1 ... 1e-7, sizes 1e-3 ... 1e2, coordinates offset by up to 300
units, points on, near and far from them, degenerate and duplicate triangles; against the float64
brute force of econ_fast.reference.meshquery_ref.

Bound: the inputs are float32, so a distance computed from them cannot be better than the rounding
of the coordinates it is computed from. We require |d - d_ref| <= ULPS * eps32 * scale with
scale = max(|p|_inf, max |vertex|_inf) per point (eps32 = 2^-23) and ULPS = 8: the subtraction
p - a (1 rounding of a coordinate of magnitude <= scale), the rebuilt closest point a + w1 ab + w2 ac
(3 roundings) and the squared-norm and square root (a few relative roundings of d <= 2 scale).
"""
import numpy as np
import pytest

from econ_fast import MeshQuery
from econ_fast.reference import meshquery_ref as R

EPS32 = 2.0**-23
ULPS = 8.0


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def thin_triangles(rng, n, size, offset, aspect=(-7, -1)):
    """n thin triangles of edge length ~size near (offset, offset, offset): a third needles (one
    short edge), a third caps (third vertex near the interior of the long edge), a third slivers
    (third vertex near the line of the long edge, outside it); aspect ratios 10^U(-7, -1)."""
    a = offset + rng.uniform(-1.5, 1.5, (n, 3)) * size
    u = _unit(rng.normal(size=(n, 3)))
    w = _unit(np.cross(u, rng.normal(size=(n, 3))))
    L = size * 10.0 ** rng.uniform(-0.3, 0.3, (n, 1))
    thin = 10.0 ** rng.uniform(*aspect, (n, 1))
    kind = np.arange(n) % 3
    t = np.where(kind == 0, 1.0, np.where(kind == 1, rng.uniform(0.05, 0.95, n), rng.uniform(1.05, 3.0, n)))[:, None]
    b = a + L * u
    c = a + L * (t * u + thin * w)
    tri = np.stack([a, b, c], 1)
    # Shuffle the vertex order so the sharp corner is not always at the same slot.
    for i in range(n):
        tri[i] = tri[i][rng.permutation(3)]
    return tri.astype(np.float32).astype(np.float64)


def soup(tri):
    v = tri.reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3)
    return v, f


def points_around(rng, tri, size, m):
    """Points on the triangles (random barycentrics, on edges, at vertices), near them (along the
    normal and in-plane, 10^U(-8, 0) * size away) and far (100 sizes away)."""
    n = len(tri)
    k = rng.integers(0, n, m)
    wts = rng.dirichlet([1, 1, 1], m)
    edge = rng.random(m) < 0.3
    wts[edge, rng.integers(0, 3, edge.sum())] = 0.0
    wts /= wts.sum(1, keepdims=True)
    vert = rng.random(m) < 0.1
    wts[vert] = np.eye(3)[rng.integers(0, 3, vert.sum())]
    on = (wts[:, :, None] * tri[k]).sum(1)
    nrm = np.cross(tri[k, 1] - tri[k, 0], tri[k, 2] - tri[k, 0])
    nl = np.linalg.norm(nrm, axis=1, keepdims=True)
    nrm = np.where(nl > 0, nrm / np.where(nl > 0, nl, 1), 0.0)
    d = size * 10.0 ** rng.uniform(-8, 0, (m, 1))
    mode = rng.integers(0, 3, m)[:, None]
    off = np.where(mode == 0, 0.0, np.where(mode == 1, d * np.sign(rng.normal(size=(m, 1))) * nrm, d * _unit(rng.normal(size=(m, 3)))))
    near = on + off
    far = tri.reshape(-1, 3).mean(0) + 100 * size * rng.normal(size=(m // 4, 3))
    return np.concatenate([near, far]).astype(np.float32).astype(np.float64)


def scale_of(p, v):
    return np.maximum(np.abs(p).max(1), np.abs(v).max())


def check_exact(q, v, f, p):
    tol = ULPS * EPS32 * scale_of(p, v)
    d2, _, cp_ref, _ = R.closest_point(p, v, f)
    d_ref = np.sqrt(d2)
    r = q.closest_points(p)
    err = np.abs(r.distance.astype(np.float64) - d_ref)
    assert np.all(err <= tol), f"max |d - d_ref| = {err.max():.3g} ({(err / tol).max() * ULPS:.1f} ulps of scale)"
    # The reported point is on the reported face (float64 distance from it to that face) and at the
    # reported distance from p.
    pts = r.points.astype(np.float64)
    on = np.array([R.closest_point(pts[i : i + 1], v, f[r.face[i] : r.face[i] + 1])[0][0] for i in range(len(p))])
    assert np.all(np.sqrt(on) <= tol), np.sqrt(on).max()
    assert np.all(np.abs(np.linalg.norm(p - pts, axis=1) - d_ref) <= tol)
    # Where the closest point is unique (a single face), it is the reference's.
    if len(f) == 1:
        assert np.all(np.abs(pts - cp_ref).max(1) <= 2 * tol + 1e-3 * 0), np.abs(pts - cp_ref).max()
    np.testing.assert_array_equal(q.distance(p), r.distance)
    return r, d_ref, tol


@pytest.mark.parametrize("size", [1e-3, 1e-1, 1e1, 1e2])
@pytest.mark.parametrize("offset", [0.0, 1.0, 300.0])
def test_thin_triangle_soup(size, offset):
    rng = np.random.default_rng(int(size * 1000) + int(offset))
    tri = thin_triangles(rng, 60, size, offset)
    v, f = soup(tri)
    # Duplicated faces and degenerate ones (repeated vertex, collinear vertices).
    v = np.concatenate([v, tri[0], [tri[1, 0], tri[1, 0], tri[1, 1]], [tri[2, 0], tri[2, 1], 0.5 * (tri[2, 0] + tri[2, 1])]])
    v = v.astype(np.float32).astype(np.float64)
    nv = len(tri) * 3
    f = np.concatenate([f, f[:5], np.arange(nv, nv + 9).reshape(3, 3)])
    q = MeshQuery(v, f)
    p = points_around(rng, tri, size, 1200)
    check_exact(q, v, f, p)


@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_fairly_shaped_triangles(offset):
    # Aspect ratios 0.1 ... 1: around the switch between the float test (every corner's sin at
    # least 1/4) and the double one, both within the same bound.
    rng = np.random.default_rng(5 + int(offset))
    for size in (1e-3, 1.0, 1e2):
        tri = thin_triangles(rng, 90, size, offset, aspect=(-1, 0))
        v, f = soup(tri)
        check_exact(MeshQuery(v, f), v, f, points_around(rng, tri, size, 1500))


@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_single_thin_triangles_closest_point(offset):
    # One triangle per mesh: the closest point is unique and must match the reference's.
    rng = np.random.default_rng(11 + int(offset))
    for size in (1e-3, 1e-1, 1e2):
        tri = thin_triangles(rng, 24, size, offset)
        for t in tri:
            v, f = soup(t[None])
            check_exact(MeshQuery(v, f), v, f, points_around(rng, t[None], size, 40))


@pytest.mark.parametrize("thin", [1e-1, 1e-3, 1e-5, 1e-7])
@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_thin_closed_mesh_signs(thin, offset):
    # A closed box of height `thin` (its side faces are needles of aspect `thin`) and a flat
    # tetrahedron: pseudo-normal signs agree with the winding number away from the surface, where
    # the sign is well posed in float32: the box only while it is thicker than ~1000 ulps of its
    # coordinates (thinner, its top and bottom faces are within rounding of each other and either
    # may be reported); the tetrahedron's blade-like wedges only where the nearest face is unique by
    # more than the distance tolerance (a near-tie between a blade's two faces picks one of them
    # and the pseudo-normal of a near-360-degree edge is then not a reliable side test).
    rng = np.random.default_rng(int(-np.log10(thin)) + int(offset))
    box = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, thin)], np.float64)
    fb = np.array([[0, 2, 3], [0, 3, 1], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4],
                   [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]])
    tet = np.array([[0, 0, 0], [1, 0, 0], [0.3, 1, 0], [0.4, 0.3, thin]], np.float64)
    ft = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
    for name, v0, f in (("box", box, fb), ("tet", tet, ft)):
        R_ = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        R_ *= np.sign(np.linalg.det(R_))  # a rotation, not a reflection
        if R.winding_number(v0[f].mean((0, 1))[None], v0, f)[0] < 0:
            f = f[:, ::-1]  # outward
        v = (v0 @ R_.T + offset).astype(np.float32).astype(np.float64)
        q = MeshQuery(v, f)
        assert q.is_closed
        p = points_around(rng, v[f], 1.0, 800)
        r, d_ref, tol = check_exact(q, v, f, p)
        sd = q.signed_distance(p).astype(np.float64)
        np.testing.assert_allclose(np.abs(sd), r.distance, rtol=0, atol=0)
        wn = R.winding_number(p, v, f)
        ok = (d_ref > 64 * tol) & (np.abs(wn - 0.5) > 0.25)
        if name == "box" and thin < 1000 * EPS32 * (1 + offset):
            continue
        if name == "tet":
            per_face = np.sqrt(np.stack([R.closest_point(p, v, f[k : k + 1])[0] for k in range(len(f))], 1))
            per_face.sort(1)
            ok &= per_face[:, 1] - per_face[:, 0] > 2 * tol
        assert ok.sum() > (50 if name == "box" else 0) or (name == "tet" and thin < 1e-4)
        np.testing.assert_array_equal(np.sign(sd[ok]), np.where(wn[ok] > 0.5, -1.0, 1.0))


def test_thin_results_are_thread_count_independent():
    import econ_fast

    rng = np.random.default_rng(3)
    tri = np.concatenate([thin_triangles(rng, 150, 1.0, 1.0), thin_triangles(rng, 150, 1.0, 1.0, aspect=(-1, 0))])
    v, f = soup(tri)
    p = points_around(rng, tri, 1.0, 4000)
    n0 = econ_fast.get_num_threads()
    try:
        out = []
        for threads in (1, 2, 7):
            econ_fast.set_num_threads(threads)
            q = MeshQuery(v, f)
            r = q.closest_points(p)
            out.append((r.distance, r.face, r.points, q.signed_distance(p)))
        for o in out[1:]:
            for x, y in zip(out[0], o):
                np.testing.assert_array_equal(x, y)
    finally:
        econ_fast.set_num_threads(n0)
