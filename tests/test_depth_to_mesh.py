# SPDX-License-Identifier: Apache-2.0
"""dbini.depth_to_mesh (ECON_SPEC 2.6, traps 5, 14, 15, 16) against a slow loop-based reference
written here from the spec, and against closed forms (planes, sphere caps, an ellipsoid)."""
import numpy as np
import pytest

import cases
from econ_fast import dbini
from econ_fast.mesh import Mesh, MeshPair


# --------------------------------------------------------------------------------------------
# Independent reference: pixel loops, explicit cross products, union-find on shared edges
# --------------------------------------------------------------------------------------------

def ref_depth_to_mesh(depth, mask=None, cut=True, max_stretch=5.0, min_component=0.01):
    """Per side, the set of kept faces as tuples of pixels ((row, col), ...), in winding order."""
    depth = np.asarray(depth, np.float64)
    sides = depth[None] if depth.ndim == 2 else depth
    S, H, W = sides.shape
    m = np.ones((H, W), bool) if mask is None else np.array(mask, bool)
    for i in range(H):
        for j in range(W):
            if not all(np.isfinite(sides[s, i, j]) for s in range(S)):
                m[i, j] = False
            elif S == 2 and cut and sides[0, i, j] >= sides[1, i, j]:
                m[i, j] = False
    out = []
    for s in range(S):
        faces = []
        for i in range(H - 1):
            for j in range(W - 1):
                if not (m[i, j] and m[i + 1, j] and m[i, j + 1] and m[i + 1, j + 1]):
                    continue
                TL, BL, BR, TR = (i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)
                tris = [(TL, BL, BR), (TL, BR, TR)] if s == 0 else [(TL, TR, BR), (TL, BR, BL)]
                for t in tris:
                    P = [np.array([c, r, sides[s, r, c]]) for r, c in t]
                    n = np.cross(P[1] - P[0], P[2] - P[0])
                    n = n / np.linalg.norm(n)
                    if max_stretch is None or abs(n[2]) > 1.0 / max_stretch:
                        faces.append(t)
        if min_component:
            parent = list(range(len(faces)))

            def find(a):
                while parent[a] != a:
                    parent[a] = parent[parent[a]]
                    a = parent[a]
                return a

            owner = {}
            for fi, t in enumerate(faces):
                for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
                    key = frozenset((a, b))
                    if key in owner:
                        parent[find(fi)] = find(owner[key])
                    else:
                        owner[key] = fi
            comps = {}
            for fi in range(len(faces)):
                comps.setdefault(find(fi), []).append(fi)
            nverts = len({p for t in faces for p in t})
            keep = set()
            for members in comps.values():
                verts = {p for fi in members for p in faces[fi]}
                if len(verts) > min_component * nverts:
                    keep.update(members)
            faces = [faces[fi] for fi in sorted(keep)]
        out.append(faces)
    return out


def face_set(mesh: Mesh):
    """Faces of a frame="pixel" mesh as tuples of (row, col) pixels."""
    rc = [(int(round(v[1])), int(round(v[0]))) for v in mesh.vertices]
    return [tuple(rc[k] for k in f) for f in mesh.faces]


def random_depth(H, W, seed, jumps=True, islands=True):
    rng = np.random.default_rng(seed)
    i, j = np.mgrid[0:H, 0:W].astype(float)
    front = 0.3 * np.sin(i / 3.0 + seed) + 0.2 * np.cos(j / 2.5) + rng.normal(0, 0.2, (H, W))
    if jumps:                                        # a few depth jumps -> stretched faces
        front += np.where(j > W // 2, 3.0, 0.0) + np.where(i > 2 * H // 3, -6.0, 0.0)
        front[rng.random((H, W)) < 0.03] += 10.0     # spikes
    back = front + rng.uniform(-0.5, 3.0, (H, W))    # some pixels intersect (back <= front)
    mask = rng.random((H, W)) < 0.85
    if islands:
        mask[1:3, 1:3] = True                       # a small component, isolated below
        mask[0:4, 3] = False
        mask[3, 0:4] = False
    d = np.stack([front, back])
    d[:, ~mask] = np.nan
    return d, mask


# --------------------------------------------------------------------------------------------
# Exact agreement with the reference
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_component", [0.01, 0.08, None])
def test_matches_loop_reference(seed, min_component):
    H, W = 13 + seed, 17 - seed
    d, _ = random_depth(H, W, seed)
    front, back = dbini.depth_to_mesh(d, frame="pixel", min_component=min_component)
    ref = ref_depth_to_mesh(d, min_component=min_component)
    for mesh, want in zip((front, back), ref):
        got = face_set(mesh)
        assert len(got) == len(set(got))
        assert sorted(got) == sorted(want)
        # vertices: exactly the referenced pixels, row-major, with their depth
        pix = sorted({p for t in want for p in t})
        assert [(int(v[1]), int(v[0])) for v in mesh.vertices] == pix
        assert mesh.faces.dtype == np.int32 and mesh.faces.shape[1] == 3


@pytest.mark.parametrize("seed", range(3))
def test_random_mask_case_matches_reference(seed):
    c = cases.random_mask(28, 30, seed=seed, two_sided=True)
    d = c["depth_gt"].copy()
    d[1] += np.where(np.arange(30) > 20, -8.0, 0.0)           # make some pixels intersect
    for kw in ({}, {"max_stretch": 2.0}, {"cut_intersection": False}):
        pair = dbini.depth_to_mesh(d, c["mask"], frame="pixel", **kw)
        ref = ref_depth_to_mesh(d, c["mask"], cut=kw.get("cut_intersection", True),
                                max_stretch=kw.get("max_stretch", 5.0))
        for mesh, want in zip(pair, ref):
            assert sorted(face_set(mesh)) == sorted(want)


def test_single_side_matches_reference():
    d, mask = random_depth(15, 14, 7)
    mesh = dbini.depth_to_mesh(d[0], frame="pixel")
    assert isinstance(mesh, Mesh)
    assert sorted(face_set(mesh)) == sorted(ref_depth_to_mesh(d[0])[0])


def test_grid_components_equal_generic_components():
    # depth_to_mesh labels components on the pixel grid; Mesh.connected_components is generic
    d, _ = random_depth(20, 22, 3)
    frac = 0.05
    raw = dbini.depth_to_mesh(d, frame="pixel", min_component=None)
    filtered = dbini.depth_to_mesh(d, frame="pixel", min_component=frac)
    for mesh, want in zip(raw, filtered):
        k, lab = mesh.connected_components("edge")
        assert k > 1
        keep = mesh.component_vertex_counts(lab, k) > frac * mesh.n_vertices
        assert sorted(face_set(mesh.submesh(keep[lab]))) == sorted(face_set(want))


# --------------------------------------------------------------------------------------------
# Behaviour
# --------------------------------------------------------------------------------------------

def test_winding_front_toward_camera_back_away():
    c = cases.two_sided(64, 64)
    front, back = dbini.depth_to_mesh(c["depth_gt"])
    nf, nb = front.face_normals(), back.face_normals()
    assert np.all(nf[:, 2] > 0)                          # ECON frame: +z toward the front camera
    assert np.all(nb[:, 2] < 0)
    # outward for the closed ellipsoid (centre at depth 10 px -> Z = -10/32)
    centre = np.array([0.0, 0.0, -10.0 / 32.0])
    for m, n in ((front, nf), (back, nb)):
        cen = m.vertices[m.faces].mean(1)
        assert np.all(((cen - centre) * n).sum(1) > 0)
    # the same orientation in the pixel frame (x right, y down, z away): front normals -z
    fp, bp = dbini.depth_to_mesh(c["depth_gt"], frame="pixel")
    assert np.all(fp.face_normals()[:, 2] < 0) and np.all(bp.face_normals()[:, 2] > 0)
    for m in (front, back):
        assert m.is_winding_consistent() and m.is_manifold() and not m.is_watertight()


def test_cut_intersection_removes_pixels_from_both_sides():
    H, W = 12, 12
    front = np.zeros((H, W))
    back = np.full((H, W), 5.0)
    back[4:7, 5:9] = 0.0            # front >= back (equality counts: trap 14)
    back[2, 2] = -1.0
    d = np.stack([front, back])
    f, b = dbini.depth_to_mesh(d, frame="pixel", min_component=None, max_stretch=None)
    cut = {(r, c) for r in range(4, 7) for c in range(5, 9)} | {(2, 2)}
    for m in (f, b):
        pix = {(int(v[1]), int(v[0])) for v in m.vertices}
        assert not (pix & cut)
        assert len(pix) == H * W - len(cut)
    f2, b2 = dbini.depth_to_mesh(d, frame="pixel", cut_intersection=False, min_component=None, max_stretch=None)
    assert f2.n_vertices == b2.n_vertices == H * W
    assert f2.n_faces == 2 * (H - 1) * (W - 1)


def test_stretch_threshold_semantics():
    # plane depth = a * col: unit normal has |n_z| = 1/sqrt(1 + a^2), stretch factor sqrt(1 + a^2)
    H, W = 6, 7
    col = np.arange(W, dtype=float)[None, :].repeat(H, 0)
    for a, ms, kept in [(2.0, 5.0, True), (4.8, 5.0, True), (5.0, 5.0, False), (5.0, 5.2, True),
                        (1.0, 1.5, True), (1.2, 1.5, False)]:
        m = dbini.depth_to_mesh(a * col, max_stretch=ms)
        assert (m.n_faces == 2 * (H - 1) * (W - 1)) == kept, (a, ms)
        if not kept:
            assert m.n_faces == 0 and m.n_vertices == 0
    assert dbini.depth_to_mesh(50.0 * col, max_stretch=None).n_faces == 2 * (H - 1) * (W - 1)


def test_stretched_faces_across_steps():
    c = cases.steps(32, 32)
    m = dbini.depth_to_mesh(c["depth_gt"], frame="pixel", min_component=None)
    assert 0 < m.n_faces < 2 * 31 * 31
    assert sorted(face_set(m)) == sorted(ref_depth_to_mesh(c["depth_gt"], min_component=None)[0])
    assert np.all(np.abs(m.face_normals()[:, 2]) > 0.2)
    keep_all = dbini.depth_to_mesh(c["depth_gt"], max_stretch=None, min_component=None)
    assert keep_all.n_faces == 2 * 31 * 31
    assert np.abs(keep_all.face_normals()[:, 2]).min() < 0.2       # the curtains


def test_small_components_dropped():
    H, W = 30, 30
    mask = np.zeros((H, W), bool)
    mask[2:28, 2:20] = True             # 26 x 18 = 468 vertices
    mask[5:7, 24:26] = True             # 2 x 2 = 4 vertices: 4 <= 1 % of 472
    mask[10:14, 24:28] = True           # 16 vertices: > 1 %
    d = np.where(mask, 0.0, np.nan)
    m = dbini.depth_to_mesh(d)
    assert m.n_vertices == 468 + 16
    assert m.connected_components()[0] == 2
    assert dbini.depth_to_mesh(d, min_component=None).n_vertices == 468 + 16 + 4
    assert dbini.depth_to_mesh(d, min_component=0.04).n_vertices == 468     # 16 <= 0.04 * 488


def test_diagonal_touching_components_are_separate():
    # two 3x3 blocks sharing one pixel, whose quads meet only at that vertex: edge-connectivity
    # (trimesh's split, used by ECON) makes them two components
    mask = np.zeros((8, 8), bool)
    mask[0:3, 0:3] = True
    mask[2:5, 2:5] = True
    d = np.where(mask, 1.0, np.nan)
    m = dbini.depth_to_mesh(d, min_component=None)
    assert m.n_vertices == 17
    assert m.connected_components("edge")[0] == 2
    assert m.connected_components("vertex")[0] == 1
    k, lab = m.connected_components()
    np.testing.assert_array_equal(m.component_vertex_counts(lab, k), [9, 9])   # shared vertex counts twice
    for frac in (0.5, 0.53):            # 9 > 0.5 * 17 keeps both; 9 <= 0.53 * 17 drops both
        got = dbini.depth_to_mesh(d, frame="pixel", min_component=frac)
        assert sorted(face_set(got)) == sorted(ref_depth_to_mesh(d, min_component=frac)[0])
        assert got.n_vertices == (17 if frac == 0.5 else 0)


def test_plane_and_sphere_cap_are_open_sheets_with_expected_counts():
    c = cases.plane(20, 24, slope=(0.3, -0.2))
    m = dbini.depth_to_mesh(c["depth_gt"])
    assert m.n_vertices == 20 * 24 and m.n_faces == 2 * 19 * 23
    assert not m.is_watertight() and m.is_manifold() and m.is_winding_consistent()
    assert m.euler_characteristic() == 1
    assert len(m.boundary_edges()) == 2 * 19 + 2 * 23

    c = cases.sphere_cap(64, 64)
    m = dbini.depth_to_mesh(c["depth_gt"], c["mask"])
    mask = c["mask"]
    quad = mask[:-1, :-1] & mask[1:, :-1] & mask[:-1, 1:] & mask[1:, 1:]
    covered = np.zeros_like(mask)
    for di in (0, 1):
        for dj in (0, 1):
            covered[di:di + 63, dj:dj + 63] |= quad
    assert m.n_vertices == covered.sum()
    assert m.n_faces == 2 * quad.sum()
    assert not m.is_watertight() and m.is_manifold() and m.is_winding_consistent()
    assert m.connected_components()[0] == 1
    assert np.all(m.face_normals()[:, 2] > 0)


def test_econ_frame_formulas():
    rng = np.random.default_rng(0)
    d = rng.uniform(-20, 20, (512, 512))
    m = dbini.depth_to_mesh(d, max_stretch=None, min_component=None)
    r, c = np.mgrid[0:512, 0:512]
    want = np.stack([c / 256.0 - 1.0, (255.0 - r) / 256.0, -d / 256.0], -1).reshape(-1, 3)
    np.testing.assert_allclose(m.vertices, want, rtol=0, atol=1e-15)
    # general H x W: 1 unit = H/2 px, x centred on W/2; pixel_center shifts by +0.5 px in x and y
    H, W = 40, 60
    d = rng.uniform(0, 5, (H, W))
    r, c = np.mgrid[0:H, 0:W]
    h = H / 2
    m = dbini.depth_to_mesh(d, max_stretch=None)
    np.testing.assert_allclose(m.vertices, np.stack([(c - W / 2) / h, (h - 1 - r) / h, -d / h], -1).reshape(-1, 3))
    mc = dbini.depth_to_mesh(d, max_stretch=None, pixel_center=True)
    X, Y = cases.pixel_grid(H, W)                       # pixel centres, the renderer's samples
    np.testing.assert_allclose(mc.vertices[:, :2], np.stack([X, Y], -1).reshape(-1, 2) / h, atol=1e-15)
    np.testing.assert_allclose(mc.vertices - m.vertices, np.tile([0.5 / h, 0.5 / h, 0], (H * W, 1)), atol=1e-15)
    # depth_scale: depth in world units (ECON: z_prior = 256 * depth)
    ms = dbini.depth_to_mesh(d / 20.0, max_stretch=None, depth_scale=20.0)
    np.testing.assert_allclose(ms.vertices, m.vertices, atol=1e-15)
    # pixel frame
    mp = dbini.depth_to_mesh(d, max_stretch=None, frame="pixel")
    np.testing.assert_array_equal(mp.vertices, np.stack([c, r, d], -1).reshape(-1, 3))


def test_dtype_follows_depth():
    d = np.zeros((5, 6), np.float32)
    assert dbini.depth_to_mesh(d).vertices.dtype == np.float32
    assert dbini.depth_to_mesh(d.astype(np.float64)).vertices.dtype == np.float64


def test_perspective_vertices_and_orientation():
    c = cases.sphere_perspective(48, 48)
    K = c["K"]
    m = dbini.depth_to_mesh(c["depth_gt"], c["mask"], K=K)
    rows, cols = np.nonzero(c["mask"])
    Z = c["depth_gt"][rows, cols]
    P = np.stack([(cols - K[0, 2]) / K[0, 0] * Z, (rows - K[1, 2]) / K[1, 1] * Z, Z], 1)
    # every vertex is one of the back-projected pixels, on the sphere
    assert m.n_vertices > 0.9 * len(P)
    d = np.linalg.norm(m.vertices - np.array([0.15, -0.1, 3.0]), axis=1)
    np.testing.assert_allclose(d, 1.0, atol=1e-9)
    # front faces look at the camera (at the origin): n . centroid < 0
    cen = m.vertices[m.faces].mean(1)
    assert np.all((m.face_normals() * cen).sum(1) < 0)
    assert not m.is_watertight() and m.is_winding_consistent()
    with pytest.raises(ValueError, match="camera"):
        dbini.depth_to_mesh(c["depth_gt"], frame="camera")


def test_normals_carried_to_vertices():
    c = cases.two_sided(40, 40)
    f, b = dbini.depth_to_mesh(c["depth_gt"], normals=c["normals"])
    ff, bb = dbini.depth_to_mesh(c["depth_gt"], normals=c["normals"], frame="pixel")
    rows = (ff.vertices[:, 1]).astype(int)
    cols = (ff.vertices[:, 0]).astype(int)
    np.testing.assert_array_equal(f.normals, c["normals"][0][rows, cols])
    np.testing.assert_array_equal(ff.normals, c["normals"][0][rows, cols] * np.array([1, -1, -1], np.float32))
    # the carried normals agree with the geometric ones (smooth ellipsoid)
    for m in (f, b):
        assert np.median((m.vertex_normals() * m.normals).sum(1)) > 0.99


def test_accepts_dbini_result_and_torch():
    c = cases.two_sided(32, 32)
    res = dbini.solve(c["normals"], c["body_depth"], c["mask"])
    pair = dbini.depth_to_mesh(res)
    assert isinstance(pair, MeshPair) and pair.front.n_faces > 0 and pair.back.n_faces > 0
    both = pair.combined()
    assert both.n_vertices == pair.front.n_vertices + pair.back.n_vertices
    torch = pytest.importorskip("torch")
    p2 = dbini.depth_to_mesh(torch.from_numpy(np.asarray(res.depth)))
    np.testing.assert_array_equal(p2.front.faces, pair.front.faces)


def test_bad_arguments():
    d = np.zeros((4, 4))
    with pytest.raises(ValueError, match="shape"):
        dbini.depth_to_mesh(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="mask"):
        dbini.depth_to_mesh(d, np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="max_stretch"):
        dbini.depth_to_mesh(d, max_stretch=1.0)
    with pytest.raises(ValueError, match="min_component"):
        dbini.depth_to_mesh(d, min_component=1.5)
    with pytest.raises(ValueError, match="frame"):
        dbini.depth_to_mesh(d, frame="world")
    with pytest.raises(ValueError, match="depth_scale"):
        dbini.depth_to_mesh(d, depth_scale=0)
    with pytest.raises(ValueError, match="K"):
        dbini.depth_to_mesh(d, K=np.eye(2))
    # empty / degenerate inputs give empty meshes, not errors
    e = dbini.depth_to_mesh(np.full((4, 4), np.nan))
    assert e.n_vertices == 0 and e.n_faces == 0
    assert dbini.depth_to_mesh(np.zeros((1, 5))).n_faces == 0


def test_speed_512_pair():
    c = cases.human_pair(512, 512)
    d = c["depth_gt"].astype(np.float32)
    dbini.depth_to_mesh(d)
    best = min(_timed(lambda: dbini.depth_to_mesh(d)) for _ in range(3))
    assert best < 0.25, best          # measured ~0.02 s on the 2-core dev VM; generous for CI noise


def _timed(f):
    import time

    t = time.perf_counter()
    f()
    return time.perf_counter() - t
