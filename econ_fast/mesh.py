# SPDX-License-Identifier: Apache-2.0
"""A minimal triangle mesh for host-side results (numpy only).

    from econ_fast.mesh import Mesh
    m = Mesh(vertices, faces)                 # (V, 3) float, (F, 3) int32
    both = Mesh.concatenate([front, back])    # ECON's d-BiNI output: two open sheets, not stitched
    n = both.vertex_normals()                 # angle-weighted (trimesh's default), or weighting="area"

Connectivity follows trimesh, which ECON uses: two faces are *connected* when they share an edge
(``connectivity="edge"``, trimesh's ``face_adjacency``), so two sheets touching at one vertex are two
components. ``is_watertight`` / ``is_manifold`` / ``is_winding_consistent`` are edge-based checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["Mesh", "MeshPair", "to_numpy"]


def _native_module():
    """econ_fast._native when it is built (this module works without it, in numpy)."""
    try:
        from . import _native
    except ImportError:  # pragma: no cover - source tree without the extension
        return None
    return _native if hasattr(_native, "face_components") else None


def to_numpy(x, name: str = "array") -> np.ndarray:
    """Host numpy view/copy of a numpy, torch (any device) or cupy array, or an array-like."""
    mod = type(x).__module__.split(".", 1)[0]
    if mod == "torch":
        return x.detach().cpu().numpy()
    if mod == "cupy":
        return x.get()
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be an array, got {type(x).__name__}") from e


def unique_ints(x) -> np.ndarray:
    """Sorted unique values of an integer array, by sorting. numpy 2.x's ``np.unique`` without
    ``return_inverse`` takes a hash-based path that measured 1.37 s on 1.2M int64 values here
    (a sort takes 13 ms)."""
    s = np.sort(np.asarray(x).ravel())
    if s.size == 0:
        return s
    keep = np.empty(s.size, bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


@dataclass(eq=False)
class Mesh:
    """Triangle mesh.

    vertices: (V, 3) float32 or float64
    faces:    (F, 3) int32, indices into ``vertices``
    normals:  optional (V, 3) per-vertex normals carried with the mesh (e.g. sampled from the input
              normal maps by :func:`econ_fast.dbini.depth_to_mesh`, or read from a file); None if absent.
              :meth:`vertex_normals` computes geometric ones instead.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: Optional[np.ndarray] = None

    def __post_init__(self):
        v = to_numpy(self.vertices, "vertices")
        if v.dtype not in (np.float32, np.float64):
            v = v.astype(np.float64)
        if v.ndim != 2 or v.shape[1] != 3:
            if v.size == 0:
                v = v.reshape(0, 3)
            else:
                raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
        f = to_numpy(self.faces, "faces")
        if f.size == 0:
            f = f.reshape(0, 3)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
        if f.dtype.kind not in "iu":
            if f.dtype.kind == "f" and np.all(f == np.round(f)):
                pass
            else:
                raise TypeError(f"faces must be integer indices, got dtype {f.dtype}")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError(f"faces index vertices out of range [0, {len(v)}): min {f.min()}, max {f.max()}")
        self.vertices = np.ascontiguousarray(v)
        self.faces = np.ascontiguousarray(f, dtype=np.int32)
        if self.normals is not None:
            n = to_numpy(self.normals, "normals")
            if n.shape != self.vertices.shape:
                raise ValueError(f"normals must have shape {self.vertices.shape} (one per vertex), got {n.shape}")
            self.normals = np.ascontiguousarray(n)

    def __repr__(self):
        extra = ", with normals" if self.normals is not None else ""
        return f"Mesh({self.n_vertices} vertices, {self.n_faces} faces, {self.vertices.dtype}{extra})"

    # -- basic properties -------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def is_empty(self) -> bool:
        return self.n_faces == 0

    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner; NaN for a mesh without vertices."""
        if self.n_vertices == 0:
            return np.full((2, 3), np.nan)
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def copy(self) -> "Mesh":
        return Mesh(self.vertices.copy(), self.faces.copy(), None if self.normals is None else self.normals.copy())

    # -- construction -----------------------------------------------------------------------
    @staticmethod
    def concatenate(meshes: Sequence["Mesh"]) -> "Mesh":
        """One mesh holding all of ``meshes`` (vertices stacked, face indices offset; no welding).
        Normals are kept only when every mesh has them."""
        meshes = list(meshes)
        if not meshes:
            return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int32))
        for i, m in enumerate(meshes):
            if not isinstance(m, Mesh):
                raise TypeError(f"meshes[{i}] must be a Mesh, got {type(m).__name__}")
        dt = np.result_type(*[m.vertices.dtype for m in meshes])
        offs = np.cumsum([0] + [m.n_vertices for m in meshes])
        if offs[-1] > np.iinfo(np.int32).max:
            raise ValueError(f"too many vertices for int32 faces: {offs[-1]}")
        v = np.concatenate([m.vertices.astype(dt, copy=False) for m in meshes])
        f = np.concatenate([m.faces.astype(np.int64) + o for m, o in zip(meshes, offs[:-1])]).astype(np.int32)
        n = None
        if all(m.normals is not None for m in meshes):
            n = np.concatenate([m.normals for m in meshes])
        return Mesh(v, f, n)

    def submesh(self, face_mask) -> "Mesh":
        """The faces selected by a boolean mask (or index array), without unreferenced vertices
        (the kept vertices keep their relative order)."""
        faces = self.faces[np.asarray(face_mask)]
        return Mesh(self.vertices, faces, self.normals).remove_unreferenced_vertices()

    def remove_unreferenced_vertices(self) -> "Mesh":
        """A mesh without the vertices no face uses (order of the others kept)."""
        used = np.zeros(self.n_vertices, dtype=bool)
        used[self.faces.ravel()] = True
        if used.all():
            return Mesh(self.vertices, self.faces, self.normals)
        remap = np.cumsum(used, dtype=np.int64) - 1
        n = None if self.normals is None else self.normals[used]
        return Mesh(self.vertices[used], remap[self.faces].astype(np.int32), n)

    # -- geometry ---------------------------------------------------------------------------
    def _corners(self):
        v = self.vertices.astype(np.float64, copy=False)
        f = self.faces
        return v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]

    def face_normals(self, normalize: bool = True) -> np.ndarray:
        """(F, 3) float64 right-hand-rule normals ((v1 - v0) x (v2 - v0)); unnormalised their length
        is twice the face area. Degenerate faces get a zero normal."""
        a, b, c = self._corners()
        n = np.cross(b - a, c - a)
        if normalize:
            ln = np.linalg.norm(n, axis=1, keepdims=True)
            n = np.divide(n, ln, out=np.zeros_like(n), where=ln > 0)
        return n

    def face_areas(self) -> np.ndarray:
        return 0.5 * np.linalg.norm(self.face_normals(normalize=False), axis=1)

    def area(self) -> float:
        return float(self.face_areas().sum())

    def vertex_normals(self, weighting: str = "angle") -> np.ndarray:
        """(V, 3) float64 unit vertex normals: the sum of the normals of the incident faces,
        weighted by the corner angle (``"angle"``, trimesh's default, used by ECON before Poisson)
        or by the face area (``"area"``). Vertices without faces get a zero normal."""
        fn = self.face_normals(normalize=True)
        V = self.n_vertices
        if weighting == "area":
            w = np.repeat(self.face_areas()[:, None], 3, axis=1)
        elif weighting == "angle":
            w = self.corner_angles()
        else:
            raise ValueError(f"weighting must be 'angle' or 'area', got {weighting!r}")
        out = np.zeros((V, 3))
        for k in range(3):
            contrib = fn * w[:, k:k + 1]
            for d in range(3):
                out[:, d] += np.bincount(self.faces[:, k], weights=contrib[:, d], minlength=V)
        ln = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, ln, out=np.zeros_like(out), where=ln > 0)

    def corner_angles(self) -> np.ndarray:
        """(F, 3) interior angle (radians) at each corner of each face (0 for degenerate faces)."""
        a, b, c = self._corners()
        out = np.empty((self.n_faces, 3))
        for k, (p, q, r) in enumerate(((a, b, c), (b, c, a), (c, a, b))):
            u, w = q - p, r - p
            nu = np.linalg.norm(u, axis=1)
            nw = np.linalg.norm(w, axis=1)
            den = nu * nw
            cos = np.divide((u * w).sum(1), den, out=np.ones_like(den), where=den > 0)
            out[:, k] = np.where(den > 0, np.arccos(np.clip(cos, -1.0, 1.0)), 0.0)
        return out

    # -- connectivity -----------------------------------------------------------------------
    def edges(self):
        """Unique undirected edges and how they are used.

        Returns ``(edges, face_edge, counts)``: edges (E, 2) int64 with edges[:, 0] < edges[:, 1];
        face_edge (F, 3) edge id of each face side (v0v1, v1v2, v2v0); counts (E,) faces per edge.
        """
        f = self.faces.astype(np.int64)
        a = f.ravel()
        b = f[:, [1, 2, 0]].ravel()
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo * max(self.n_vertices, 1) + hi
        uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        V = max(self.n_vertices, 1)
        edges = np.stack([uniq // V, uniq % V], axis=1)
        return edges, inv.reshape(-1, 3), counts

    def connected_components(self, connectivity: str = "edge"):
        """Face components. Returns ``(n_components, labels)`` with labels (F,) int32 in 0..n-1,
        numbered in order of each component's first face.

        connectivity: ``"edge"`` (faces sharing an edge; trimesh's ``split``, used by ECON's
        ``clean_floats``) or ``"vertex"`` (faces sharing any vertex). Native (a union-find, a few
        ms for 400k faces) when the extension is built, else :meth:`connected_components_numpy`."""
        k, lab, _, _ = self._components(connectivity)
        return k, lab

    def _components(self, connectivity: str):
        """(n, labels, faces per component, vertices per component or None)."""
        if connectivity not in ("edge", "vertex"):
            raise ValueError(f"connectivity must be 'edge' or 'vertex', got {connectivity!r}")
        native = _native_module()
        if native is not None:
            k, lab, nf, nv = native.face_components(np.ascontiguousarray(self.faces, np.int32), self.n_vertices,
                                                    connectivity == "edge")
            return int(k), lab, nf, nv
        k, lab = self.connected_components_numpy(connectivity)
        return k, lab, np.bincount(lab, minlength=k), None

    def connected_components_numpy(self, connectivity: str = "edge"):
        """:meth:`connected_components` in numpy/scipy (edge table + scipy's graph components):
        the fallback without the extension, and the tests' reference."""
        F = self.n_faces
        if F == 0:
            return 0, np.zeros(0, np.int32)
        if connectivity == "edge":
            _, fe, _ = self.edges()
            E = int(fe.max()) + 1
            rows = np.repeat(np.arange(F), 3)
            cols = F + fe.ravel()
            n = F + E
        elif connectivity == "vertex":
            rows = np.repeat(np.arange(F), 3)
            cols = F + self.faces.ravel().astype(np.int64)
            n = F + self.n_vertices
        else:
            raise ValueError(f"connectivity must be 'edge' or 'vertex', got {connectivity!r}")
        import scipy.sparse as sp  # lazily: scipy costs ~30 MB and ~0.2 s at import
        from scipy.sparse.csgraph import connected_components

        g = sp.coo_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(n, n)).tocsr()
        _, lab = connected_components(g, directed=False)
        return _renumber(lab[:F])

    def split(self, connectivity: str = "edge") -> list:
        """One mesh per face component (unreferenced vertices dropped), in label order."""
        k, lab = self.connected_components(connectivity)
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(k + 1))
        return [self.submesh(order[bounds[i]:bounds[i + 1]]) for i in range(k)]

    def component_vertex_counts(self, labels: np.ndarray, n_components: int) -> np.ndarray:
        """Distinct vertices used by each component (a vertex shared by two components counts in
        both, as in trimesh's ``split``)."""
        return _component_vertex_counts(self.faces, labels, n_components, self.n_vertices)

    def largest_component(self, connectivity: str = "edge", by: str = "faces") -> "Mesh":
        """The component with the most faces (``by="faces"``) or vertices (``by="vertices"``), the
        first one (in order of first face) on a tie."""
        if by not in ("faces", "vertices"):
            raise ValueError(f"by must be 'faces' or 'vertices', got {by!r}")
        k, lab, nf, nv = self._components(connectivity)
        if k == 0:
            return self.copy()
        if by == "faces":
            size = nf
        else:
            size = nv if nv is not None else self.component_vertex_counts(lab, k)
        return self.submesh(lab == int(np.argmax(size)))

    # -- checks -----------------------------------------------------------------------------
    def boundary_edges(self) -> np.ndarray:
        """(B, 2) undirected edges used by exactly one face."""
        e, _, c = self.edges()
        return e[c == 1]

    def is_watertight(self) -> bool:
        """Every edge is shared by exactly two faces (closed surface; trimesh's definition).
        False for an empty mesh."""
        if self.n_faces == 0:
            return False
        _, _, c = self.edges()
        return bool(np.all(c == 2))

    def is_manifold(self) -> bool:
        """Edge-manifold: no edge is shared by more than two faces and no face repeats a vertex.
        (Vertices where two fans touch, "bow-ties", are not detected: the check is edge-based.)"""
        f = self.faces
        if np.any((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])):
            return False
        if self.n_faces == 0:
            return True
        _, _, c = self.edges()
        return bool(np.all(c <= 2))

    def is_winding_consistent(self) -> bool:
        """Every edge shared by two faces is traversed in opposite directions by them (and no
        directed edge is used twice)."""
        f = self.faces.astype(np.int64)
        a = f.ravel()
        b = f[:, [1, 2, 0]].ravel()
        V = max(self.n_vertices, 1)
        directed = a * V + b
        d = np.sort(directed)
        if np.any(d[1:] == d[:-1]):
            return False
        return self.is_manifold()

    def euler_characteristic(self) -> int:
        """V - E + F over the referenced vertices."""
        if self.n_faces == 0:
            return 0
        e, _, _ = self.edges()
        return int(len(unique_ints(self.faces)) - len(e) + self.n_faces)


class MeshPair(NamedTuple):
    """Front and back sheets of a two-sided reconstruction (``front, back = pair`` works too)."""

    front: Mesh
    back: Mesh

    def combined(self) -> Mesh:
        """Both sheets in one mesh, front first (ECON's ``*_BNI.obj``: concatenated, not stitched)."""
        return Mesh.concatenate([self.front, self.back])


def _renumber(lab: np.ndarray):
    """Labels renumbered 0..k-1 in order of first appearance."""
    if lab.size == 0:
        return 0, np.zeros(0, np.int32)
    uniq, first = np.unique(lab, return_index=True)
    order = np.argsort(first)
    new = np.empty(len(uniq), np.int64)
    new[order] = np.arange(len(uniq))
    inv = np.searchsorted(uniq, lab)
    return len(uniq), new[inv].astype(np.int32)


def _component_vertex_counts(faces, labels, k, n_vertices):
    if k == 0:
        return np.zeros(0, np.int64)
    lab = np.repeat(np.asarray(labels, np.int64), 3)
    v = faces.ravel().astype(np.int64)
    # Most vertices touch one component: count those by their label, and only the few shared
    # ("bow-tie") vertices through unique (label, vertex) pairs.
    lo = np.full(max(n_vertices, 1), np.iinfo(np.int64).max)
    hi = np.full(max(n_vertices, 1), -1)
    np.minimum.at(lo, v, lab)
    np.maximum.at(hi, v, lab)
    used = hi >= 0
    single = used & (lo == hi)
    counts = np.bincount(lo[single], minlength=k).astype(np.int64)
    shared = ~single[v]
    if shared.any():
        pairs = unique_ints(lab[shared] * max(n_vertices, 1) + v[shared])
        counts += np.bincount(pairs // max(n_vertices, 1), minlength=k)
    return counts
