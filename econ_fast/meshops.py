# SPDX-License-Identifier: Apache-2.0
"""The mesh clean-up ECON runs after screened Poisson (ECON_SPEC 4.4).

    from econ_fast import meshops
    mesh = meshops.keep_largest(mesh)            # ECON's keep_largest: the component with most vertices
    mesh = meshops.decimate(mesh, 50_000)        # quadric edge collapse to ECON's 50k faces

Decimation: our native quadric edge collapse (``csrc/decimate``, after Garland and Heckbert 1997,
"Surface Simplification Using Quadric Error Metrics") checks every collapse with the link condition
(Dey et al. 1999), so a closed manifold mesh stays closed and manifold. It is the default when this
build has it. ECON goes through trimesh's ``simplify_quadric_decimation``, which calls
``fast-simplification`` (MIT, a wrapper of Sven Forstmann's Fast-Quadric-Mesh-Simplification); that
and Open3D's ``simplify_quadric_decimation`` stay selectable backends (and the fallbacks of a build
without the native module). fast-simplification has no such check and pinched 4 of 10 of our
Poisson bodies (edges shared by 4 faces); see :func:`decimate`.
"""
from __future__ import annotations

import importlib.util
import threading

import numpy as np

from .mesh import Mesh

__all__ = ["keep_largest", "decimate", "DECIMATE_BACKENDS"]

DECIMATE_BACKENDS = ("auto", "native", "fast_simplification", "open3d")

# fast-simplification keeps the loaded mesh in module-level C++ state (load, simplify, read back):
# two threads decimating at once would mix their meshes. Serialise the three calls.
_FS_LOCK = threading.Lock()


def _require_mesh(mesh, name="mesh") -> Mesh:
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{name} must be an econ_fast.mesh.Mesh, got {type(mesh).__name__}")
    return mesh


def keep_largest(mesh: Mesh, *, by: str = "vertices", connectivity: str = "edge") -> Mesh:
    """The largest connected component of ``mesh`` (a new Mesh; unreferenced vertices dropped).

    ECON's ``keep_largest`` splits with trimesh (faces connected through shared edges) and keeps the
    component with the most vertices, the first one on a tie; that is the default here. ``by="faces"``
    counts faces instead; ``connectivity="vertex"`` joins faces that share only a vertex.
    An empty mesh is returned as an empty copy.
    """
    mesh = _require_mesh(mesh)
    if by not in ("vertices", "faces"):
        raise ValueError(f"by must be 'vertices' or 'faces', got {by!r}")
    if connectivity not in ("edge", "vertex"):
        raise ValueError(f"connectivity must be 'edge' or 'vertex', got {connectivity!r}")
    if mesh.n_faces == 0:
        return Mesh(np.zeros((0, 3), mesh.vertices.dtype), np.zeros((0, 3), np.int32))
    return mesh.largest_component(connectivity=connectivity, by=by)


def _have(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


def _native_decimate():
    """The native decimation entry point, or None when this build lacks it."""
    try:
        from . import _native
    except ImportError:
        return None
    return getattr(_native, "decimate", None)


def _check_mesh_arrays(mesh: Mesh):
    """Re-checks what Mesh() checked at construction (its fields may have been replaced since):
    native code must never see bad indices."""
    v, f = mesh.vertices, mesh.faces
    if not isinstance(v, np.ndarray) or v.dtype.kind != "f" or v.ndim != 2 or v.shape[1] != 3:
        raise TypeError(f"mesh.vertices must be a float array of shape (V, 3), got "
                        f"{getattr(v, 'dtype', type(v).__name__)} {getattr(v, 'shape', '')}")
    if not isinstance(f, np.ndarray) or f.dtype.kind not in "iu" or f.ndim != 2 or f.shape[1] != 3:
        raise TypeError(f"mesh.faces must be an integer array of shape (F, 3), got "
                        f"{getattr(f, 'dtype', type(f).__name__)} {getattr(f, 'shape', '')}")
    if f.size and (int(f.min()) < 0 or int(f.max()) >= len(v)):
        raise ValueError(f"mesh.faces index vertices out of range [0, {len(v)}): min {int(f.min())}, "
                         f"max {int(f.max())}")
    if len(v) >= 2**31 - 1:
        raise ValueError(f"mesh has too many vertices for int32 indices: {len(v)}")
    if not np.isfinite(v).all():
        raise ValueError("mesh.vertices must be finite (found NaN or inf)")


def _decimate_native(mesh: Mesh, face_count: int, preserve_border: bool):
    fn = _native_decimate()
    if fn is None:
        raise ImportError("decimate(backend='native') needs the econ_fast native module built with "
                          "csrc/decimate (make build)")
    r = fn(np.ascontiguousarray(mesh.vertices, dtype=np.float64), np.ascontiguousarray(mesh.faces, dtype=np.int32),
           int(face_count), preserve_border=bool(preserve_border))
    return r["vertices"], r["faces"]


def _ok(v, f) -> bool:
    m = Mesh(np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64))
    return m.is_manifold() and m.is_winding_consistent()


def _decimate_fs(mesh: Mesh, face_count: int, aggression: float, preserve_border: bool, keep_manifold: bool):
    try:
        import fast_simplification
    except ImportError as e:
        raise ImportError("decimate(backend='fast_simplification') needs the 'fast-simplification' "
                          "package: pip install fast-simplification") from e
    pts = np.ascontiguousarray(mesh.vertices, dtype=np.float64)

    def fs(agg):
        with _FS_LOCK:
            return fast_simplification.simplify(pts, mesh.faces, target_count=face_count, agg=agg,
                                                preserve_border=preserve_border)

    first = fs(aggression)
    if not keep_manifold or _ok(*first) or not (mesh.is_manifold() and mesh.is_winding_consistent()):
        return first
    fallbacks = [lambda: fs(3.0)] if aggression > 3.0 else []
    if not preserve_border and _have("open3d"):
        def two_stage():
            # fast-simplification to twice the target (the pinches measured came in the last
            # collapses), then Open3D's careful quadric decimation on the smaller mesh: 0.7 s
            # instead of 3.9 s for Open3D alone on a 458k-face body.
            if 2 * face_count >= mesh.n_faces:
                return _decimate_o3d(mesh, face_count)
            with _FS_LOCK:
                v, f = fast_simplification.simplify(pts, mesh.faces, target_count=2 * face_count, agg=3.0,
                                                    preserve_border=False)
            if not _ok(v, f):
                return v, f
            return _decimate_o3d(Mesh(np.asarray(v, np.float64), np.asarray(f, np.int64)), face_count)

        fallbacks.append(two_stage)
        fallbacks.append(lambda: _decimate_o3d(mesh, face_count))
    for make in fallbacks:
        v, f = make()
        if len(f) <= 1.1 * face_count and _ok(v, f):
            return v, f
    return first


def _decimate_o3d(mesh: Mesh, face_count: int):
    try:
        import open3d as o3d
    except ImportError as e:
        raise ImportError("decimate(backend='open3d') needs the 'open3d' package: pip install open3d") from e
    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, np.float64)),
                                  o3d.utility.Vector3iVector(np.asarray(mesh.faces, np.int32)))
    m = m.simplify_quadric_decimation(target_number_of_triangles=face_count)
    m.remove_unreferenced_vertices()
    return np.asarray(m.vertices), np.asarray(m.triangles)


def decimate(mesh: Mesh, face_count: int, *, backend: str = "auto", aggression: float = 7.0,
             preserve_border: bool = False, keep_manifold: bool = True) -> Mesh:
    """Quadric edge-collapse decimation of ``mesh`` to about ``face_count`` triangles.

    face_count: target number of faces, an int >= 4 (a closed surface needs at least 4). A mesh that
        already has at most ``face_count`` faces is returned unchanged (a copy).
    backend: "native" (ours, ``csrc/decimate``), "fast_simplification" (what ECON gets through
        trimesh), "open3d" (``TriangleMesh.simplify_quadric_decimation``), or "auto": native when
        this build has it, else the first of the other two that is installed.
    aggression: fast-simplification's ``agg`` only (0 slow and careful ... 10 fast; 7 is its default
        and trimesh's); the native and Open3D backends ignore it.
    preserve_border: never move or remove a vertex on an open border (native and
        fast-simplification; Open3D refuses it). Without it the native backend still keeps borders
        near their place (Garland and Heckbert's perpendicular border planes).
    keep_manifold: fast-simplification only. Its collapses can pinch a surface (edges shared by 4
        faces): measured on Poisson bodies from both our Poisson and Open3D's, e.g. 408k -> 50k faces
        at ``agg`` 7, or 25k -> 3k faces at every ``agg`` from 7 to 3. When the result is not
        edge-manifold and consistently wound but the input is, decimate again at ``agg`` 3, then in
        two stages (fast-simplification to twice ``face_count``, Open3D's quadric decimation from
        there), then with Open3D alone (when installed; it kept those cases manifold), and return
        the first manifold result within 10% of ``face_count``; if none is, the first result.

    Native backend: every collapse is checked with the link condition (Dey, Edelsbrunner, Guha and
    Nekhayev 1999), so an edge-manifold, vertex-manifold, consistently wound input keeps all three
    properties, its topology (a closed mesh stays closed, genus kept) and its orientation; a
    collapse that would turn a face normal by more than ~78 degrees or make a sliver is refused
    (when that leaves no candidate before the target, the sliver test is dropped, then normals may
    turn by up to 90 degrees; a flip never).
    Deterministic (same input, same output, any thread count). Non-manifold input does not fail:
    vertices on edges with more than two faces, or whose faces form several fans, are left as they
    are (no edge touching them collapses), so the target may then not be reached; faces with a
    repeated vertex index are dropped. When refused collapses (or small closed meshes: at least a
    tetrahedron is kept per closed component) leave no candidate, the result keeps more faces than
    asked.

    The result may miss the target by a face or two (each collapse removes two faces, one on a
    border). Vertex normals are not carried over. Raises ImportError naming the package when no
    backend is available, TypeError / ValueError naming the argument for bad input (non-finite
    vertices, indices out of range, wrong dtypes).
    """
    mesh = _require_mesh(mesh)
    if isinstance(face_count, bool) or not isinstance(face_count, (int, np.integer)):
        raise TypeError(f"face_count must be an int, got {type(face_count).__name__}")
    face_count = int(face_count)
    if face_count < 4:
        raise ValueError(f"face_count must be >= 4, got {face_count}")
    if backend not in DECIMATE_BACKENDS:
        raise ValueError(f"backend must be one of {DECIMATE_BACKENDS}, got {backend!r}")
    if isinstance(aggression, bool) or not isinstance(aggression, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(aggression) <= 10.0:
        raise ValueError(f"aggression must be a number in [0, 10], got {aggression!r}")
    _check_mesh_arrays(mesh)
    if backend == "auto":
        if _native_decimate() is not None:
            backend = "native"
        elif _have("fast_simplification"):
            backend = "fast_simplification"
        elif _have("open3d"):
            backend = "open3d"
        else:
            raise ImportError("decimate needs the econ_fast native module (make build), or the "
                              "'fast-simplification' package (pip install fast-simplification), or Open3D "
                              "(pip install open3d)")
    if mesh.n_faces <= face_count:
        return Mesh(mesh.vertices.copy(), mesh.faces.copy())
    if backend == "native":
        v, f = _decimate_native(mesh, face_count, bool(preserve_border))
        # already compact: the referenced vertices only, in input order
        return Mesh(np.asarray(v, dtype=mesh.vertices.dtype), f)
    if backend == "fast_simplification":
        v, f = _decimate_fs(mesh, face_count, float(aggression), bool(preserve_border), bool(keep_manifold))
    else:
        if preserve_border:
            raise ValueError("preserve_border is not supported by backend='open3d'")
        v, f = _decimate_o3d(mesh, face_count)
    out = Mesh(np.asarray(v, dtype=mesh.vertices.dtype), np.asarray(f, dtype=np.int64).astype(np.int32))
    return out.remove_unreferenced_vertices()
