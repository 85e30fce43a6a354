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
