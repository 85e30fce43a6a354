# SPDX-License-Identifier: Apache-2.0
"""ECON_EX as one call: front/back normal maps + a body mesh -> a watertight clothed mesh.

    from econ_fast import pipeline
    res = pipeline.reconstruct(normals, body)          # normals (2,H,W,3), body: econ_fast.mesh.Mesh
    res.mesh, res.sheets, res.depth, res.timings

Stages (ECON_SPEC section in brackets; every one can be switched off or parameterised through
:class:`PipelineConfig`, whose defaults are ECON's ``configs/econ.yaml``):

1. ``render body``: the body is ray-cast front and back with ECON's orthographic cameras
   (our :func:`econ_fast.render_depth_normals`), giving the depth prior (the body inflated by
   ``thickness`` per side, [2.7, 2.8]) and the body normal maps (input of ECON's normal network);
2. ``d-BiNI``: :func:`econ_fast.dbini.solve` with ECON's parameters [2.4];
3. ``depth to mesh``: :func:`econ_fast.dbini.depth_to_mesh` front/back sheets [2.6];
4. ``hands`` (only when the body's hand vertices are known, e.g. from SMPL-X): the sheets lose
   their vertices within ``hand_thres`` of the body's hands whose nearest body vertex is a hand
   vertex, and the body's hands join the Poisson input [4.3];
5. ``side``: the completion mesh is the body (hands removed when known), optionally subdivided
   once, minus every face having a vertex within ``side_thres`` (2 cm) of the d-BiNI sheets or the
   hands [4.1 item 4]. ECON_EX first registers the subdivided SMPL-X to the sheets with a
   per-vertex affine NICP [4.1 item 3]; we use the body as is (ECON's benchmark variant,
   ``apps/benchmark.py``), which is the same where the body lies under the clothing;
6. ``poisson``: screened Poisson on the vertices of the concatenated soup (hands + sheets + side)
   with angle-weighted vertex normals, depth 10 [4.4];
7. ``largest component`` (by vertex count, ECON's ``keep_largest``) and ``decimate`` to 50,000
   faces (quadric edge collapse) [4.4].

Frames: orthographic (default) is ECON's crop frame: the image spans [-1, 1] in y and
[-W/H, W/H] in x, x right, y up, z toward the front camera; the body comes in and the mesh goes
out in that frame. With ``camera=PerspectiveCamera(K)`` (identity pose) the body and the output are
in that camera's OpenCV frame (x right, y down, z forward), depth is along the optical axis, and
the back map holds the farthest surface along each ray; normal maps stay in ECON's convention
(x right, y up, z toward the camera).

External kernels live behind one adapter each (:func:`_poisson`, :func:`_keep_largest`,
:func:`_decimate`): the native ones when this build has them, Open3D / fast-simplification / our
numpy code otherwise. ``PipelineResult.backends`` says which ran.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ._checks import number
from .mesh import Mesh, MeshPair, unique_ints

__all__ = ["PipelineConfig", "PipelineResult", "reconstruct", "render_body", "subdivide", "hand_faces",
           "poisson_backend", "close_surface", "STAGES"]

STAGES = ("render body", "d-BiNI", "depth to mesh", "hands", "side", "poisson", "largest component",
          "decimate")


POISSON_BACKENDS = ("auto", "native", "open3d")

@dataclass(frozen=True)
class PipelineConfig:
    """Parameters of :func:`reconstruct`, with ECON's defaults (ECON_SPEC section in brackets).

    d-BiNI [2.4]: ``k`` (4, econ.yaml), ``lambda_depth`` (1e-4), ``lambda_boundary`` (1e-6),
    ``max_iter`` (150), ``tol`` (1e-4), ``cg_max_iter`` (5000), ``cg_tol`` (1e-3), ``solver``
    ("fast" = our multigrid PCG; "jacobi" = ECON's Jacobi-PCG trajectory), ``thickness`` (0.02
    crop units: the prior is the body moved toward the camera on the front and away on the back
    [2.8]), ``use_prior`` (False: plain bilateral integration, no body prior).

    Depth to mesh [2.6]: ``cut_intersection`` (True), ``max_stretch`` (5, i.e. |n_z| > 0.2),
    ``min_component`` (0.01, ``clean_floats``), ``pixel_center`` (False: ECON puts each vertex on
    its pixel's corner, half a pixel off the renderer's pixel centres, ECON_SPEC trap 5; True puts
    it on the centre, consistent with the body prior and the input maps).

    Hands [4.3]: ``hands`` (True; acts only when hand vertices are given), ``hand_thres`` (0.08).

    Side completion [4.1]: ``side`` (True), ``side_subdivide`` (True: 1 -> 4 midpoint subdivision
    as ECON does before registration), ``side_thres`` (0.02).

    Poisson [4.4]: ``poisson`` (True), ``poisson_backend`` ("auto": the native
    :func:`econ_fast.poisson.reconstruct`, else Open3D; or "native", "open3d"), ``poisson_depth``
    (10), ``poisson_scale`` (1.1),
    ``point_weight`` and ``samples_per_node`` (None: the backend's own. Open3D has 2.0 and 1.5
    built in, which ECON inherits. For the native :func:`econ_fast.poisson.reconstruct` the
    pipeline uses 1.5 and 2.5 (``NATIVE_POISSON_DEFAULTS``): its per-sample screening trusts
    planar samples up to 5x the point weight, and with the same 2.0 / 1.5 as Open3D its surfaces
    followed the d-BiNI sheets' fine wrinkles more closely than Open3D's do (normal consistency
    0.004 lower). 1.5 / 2.5 was chosen on 8 held-out synthetic people (make_set indices 20-27,
    not the 0-19 of the benchmark table) as the setting closest to Open3D's quality on all of
    Chamfer, P2S and normal consistency: mean 0.836 / 0.790 / 0.9542 cm vs Open3D's 0.840 / 0.790
    / 0.9545 (2.0 / 1.5: 0.831 / 0.791 / 0.9503), and 20% faster than 2.0 / 1.5.)

    ``poisson_density_groups`` (True; native Poisson only): each part of the soup (front sheet,
    back sheet, side, hands) is a density group of :func:`econ_fast.poisson.reconstruct`, so each
    part's own sampling density sets its splat resolution. The body's side points, 1-2.5 cm apart,
    share the Poisson's density cells with the 0.4 cm d-BiNI sheets; counted together they were
    splatted at the sheets' resolution, which left the normal field gaps between their rows and
    dimpled the sides (normal consistency 0.001 below Open3D's on 28 calibration people).

    Cleaning [4.4]: ``keep_largest`` (True), ``decimate`` (True), ``face_count`` (50,000),
    ``decimate_backend`` ("auto": our native quadric decimation, which keeps a closed manifold mesh
    closed and manifold, when the build has it, else fast-simplification, else Open3D; or
    "native", "fast_simplification", "open3d": :func:`econ_fast.meshops.decimate`),
    ``decimate_aggression`` (3; fast-simplification's ``agg``, used by that backend only. ECON gets
    7 through trimesh; on our 512 px Poisson bodies 7 pinched the surface (non-manifold edges) more
    often than 3, and each pinch makes :func:`econ_fast.meshops.decimate` redo the work).
    """

    k: float = 4.0
    lambda_depth: float = 1e-4
    lambda_boundary: float = 1e-6
    max_iter: int = 150
    tol: float = 1e-4
    cg_max_iter: int = 5000
    cg_tol: float = 1e-3
    solver: str = "fast"
    thickness: float = 0.02
    use_prior: bool = True
    cut_intersection: bool = True
    max_stretch: Optional[float] = 5.0
    min_component: Optional[float] = 0.01
    pixel_center: bool = False
    hands: bool = True
    hand_thres: float = 0.08
    side: bool = True
    side_subdivide: bool = True
    side_thres: float = 0.02
    poisson: bool = True
    poisson_backend: str = "auto"
    poisson_depth: int = 10
    poisson_scale: float = 1.1
    point_weight: Optional[float] = None
    samples_per_node: Optional[float] = None
    poisson_density_groups: bool = True
    keep_largest: bool = True
    decimate: bool = True
    face_count: int = 50000
    decimate_backend: str = "auto"
    decimate_aggression: float = 3.0

    def __post_init__(self):
        def num(name, lo=None, lo_open=False, integer=False):
            number(f"config.{name}", getattr(self, name), lo, lo_open, integer=integer)

        for name in ("k", "lambda_depth", "lambda_boundary", "tol", "thickness", "hand_thres", "side_thres"):
            num(name, 0)
        num("cg_tol", 0, lo_open=True)
        num("max_iter", 1, integer=True)
        num("cg_max_iter", 1, integer=True)
        num("poisson_depth", 1, integer=True)
        if getattr(self, "poisson_depth") > 16:
            raise ValueError(f"config.poisson_depth must be <= 16, got {self.poisson_depth}")
        num("poisson_scale", 1, lo_open=False)
        if self.point_weight is not None:
            num("point_weight", 0)
        if self.samples_per_node is not None:
            num("samples_per_node", 0, lo_open=True)
        num("face_count", 4, integer=True)
        num("decimate_aggression", 0)
        if self.decimate_aggression > 10:
            raise ValueError(f"config.decimate_aggression must be in [0, 10], got {self.decimate_aggression}")
        for name in ("use_prior", "cut_intersection", "pixel_center", "hands", "side", "side_subdivide", "poisson",
                     "poisson_density_groups",
                     "keep_largest", "decimate"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"config.{name} must be True or False, got {getattr(self, name)!r}")
        from .meshops import DECIMATE_BACKENDS

        if self.decimate_backend not in DECIMATE_BACKENDS:
            raise ValueError(f"config.decimate_backend must be one of {DECIMATE_BACKENDS}, "
                             f"got {self.decimate_backend!r}")
        if self.poisson_backend not in POISSON_BACKENDS:
            raise ValueError(f"config.poisson_backend must be one of {POISSON_BACKENDS}, "
                             f"got {self.poisson_backend!r}")
        if self.solver not in ("fast", "jacobi"):
            raise ValueError(f"config.solver must be 'fast' or 'jacobi', got {self.solver!r}")

    def replace(self, **changes) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class PipelineResult:
    """Result of :func:`reconstruct`.

    mesh:        final mesh (after Poisson, largest component, decimation; each if enabled). With
                 Poisson off it is the (open) soup of sheets + hands + side (the two cleaning stages
                 act on Poisson output only, as in ECON).
    sheets:      MeshPair (front, back) d-BiNI sheets (after hand removal)
    hands:       the body's hand faces used in the soup, or None
    side:        culled completion mesh, or None
    soup:        the Poisson input (vertices + angle-weighted normals)
    depth:       (2,H,W) float32 d-BiNI depth, NaN outside the mask. Orthographic: ``-z`` in crop
                 units (front and back); perspective: along the optical axis
    body_depth:  (2,H,W) float32 body prior (thickness applied), NaN off the body
    body_normals:(2,H,W,3) float32 rendered body normals (world frame, NaN off the body)
    mask:        (H,W) bool pixels integrated
    timings:     seconds per stage (``STAGES`` order) and "total"
    iterations:  d-BiNI IRLS / CG counts and convergence, mesh sizes per stage
    backends:    which implementation ran the external kernels
    config:      the PipelineConfig used
    """

    mesh: Mesh
    sheets: MeshPair
    hands: Optional[Mesh]
    side: Optional[Mesh]
    soup: Mesh
    depth: np.ndarray
    body_depth: np.ndarray
    body_normals: Optional[np.ndarray]
    mask: np.ndarray
    timings: dict
    iterations: dict
    backends: dict
    config: PipelineConfig = field(repr=False, default=None)


# --------------------------------------------------------------------------------------------
# Stage backends (the native kernels, or the peer libraries ECON uses)
# --------------------------------------------------------------------------------------------

def _native_poisson():
    try:
        from . import poisson as mod
    except ImportError:
        return None
    return mod if hasattr(mod, "reconstruct") else None


def poisson_backend() -> Optional[str]:
    """Which screened-Poisson implementation :func:`reconstruct` will use: "econ_fast.poisson"
    (native), "open3d", or None (neither available: switch the stage off)."""
    if _native_poisson() is not None:
        return "econ_fast.poisson"
    try:
        import open3d  # noqa: F401
    except ImportError:
        return None
    return "open3d"


# (point_weight, samples_per_node) of the native Poisson in the pipeline (see PipelineConfig).
NATIVE_POISSON_DEFAULTS = (1.5, 2.5)
OPEN3D_POISSON_BUILTIN = (2.0, 1.5)


def _poisson(points, normals, *, depth, point_weight=None, samples_per_node=None, scale, backend="auto",
             groups=None):
    """Screened Poisson surface of oriented points -> (Mesh, info dict). point_weight /
    samples_per_node None: the backend's defaults; backend: PipelineConfig.poisson_backend;
    groups: (N,) density groups for the native backend (Open3D has no such input)."""
    mod = _native_poisson() if backend in ("auto", "native") else None
    if backend == "native" and mod is None:
        raise RuntimeError("poisson_backend='native': econ_fast.poisson is not available in this build")
    if mod is not None:
        pw = NATIVE_POISSON_DEFAULTS[0] if point_weight is None else float(point_weight)
        spn = NATIVE_POISSON_DEFAULTS[1] if samples_per_node is None else float(samples_per_node)
        res = mod.reconstruct(points, normals, depth=int(depth), point_weight=pw, samples_per_node=spn,
                              scale=float(scale), density_groups=groups)
        return res.mesh, {"backend": "econ_fast.poisson", "point_weight": pw, "samples_per_node": spn,
                          "timings": dict(getattr(res, "timings", {}) or {})}
    try:
        import open3d as o3d
    except ImportError:
        raise RuntimeError("screened Poisson needs econ_fast.poisson (native) or open3d "
                           "(pip install open3d-cpu); or switch the stage off (poisson=False)") from None
    pw = OPEN3D_POISSON_BUILTIN[0] if point_weight is None else float(point_weight)
    spn = OPEN3D_POISSON_BUILTIN[1] if samples_per_node is None else float(samples_per_node)
    if (pw, spn) != OPEN3D_POISSON_BUILTIN:
        raise ValueError("the Open3D Poisson backend has point_weight=2 and samples_per_node=1.5 built in; "
                         f"got point_weight={point_weight}, samples_per_node={samples_per_node}")
    from . import get_num_threads

    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(np.asarray(points, np.float64))
    pcd.normals = o3d.utility.Vector3dVector(np.asarray(normals, np.float64))
    m, _dens = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        pcd, depth=int(depth), width=0, scale=float(scale), linear_fit=False, n_threads=int(get_num_threads()))
    return (Mesh(np.asarray(m.vertices, np.float64), np.asarray(m.triangles, np.int64)),
            {"backend": "open3d", "point_weight": pw, "samples_per_node": spn, "timings": {}})


def _keep_largest(mesh: Mesh):
    from .meshops import keep_largest
    return keep_largest(mesh), "econ_fast.meshops"


def _decimate(mesh: Mesh, face_count: int, aggression: float, backend: str = "auto"):
    """Quadric edge-collapse decimation to about ``face_count`` faces (:func:`econ_fast.meshops.decimate`:
    "auto" is the native decimator when this build has it, else fast-simplification, else Open3D)."""
    from .meshops import decimate
    return decimate(mesh, int(face_count), backend=backend, aggression=float(aggression)), "econ_fast.meshops"


# --------------------------------------------------------------------------------------------
# Mesh helpers
# --------------------------------------------------------------------------------------------

def subdivide(mesh: Mesh, vertex_mask: Optional[np.ndarray] = None):
    """One 1 -> 4 midpoint subdivision (PyTorch3D ``SubdivideMeshes``): a new vertex at the middle
    of every edge, each face split into its three corner triangles and the middle one (winding
    kept). With ``vertex_mask`` (V,) bool, also returns the mask of the new mesh (a midpoint is set
    when both ends are)."""
    edges, fe, _ = mesh.edges()
    V = mesh.n_vertices
    mids = 0.5 * (mesh.vertices[edges[:, 0]].astype(np.float64) + mesh.vertices[edges[:, 1]])
    verts = np.concatenate([mesh.vertices.astype(np.float64), mids])
    f = mesh.faces.astype(np.int64)
    m01, m12, m20 = V + fe[:, 0], V + fe[:, 1], V + fe[:, 2]
    faces = np.concatenate([np.stack([f[:, 0], m01, m20], 1), np.stack([f[:, 1], m12, m01], 1),
                            np.stack([f[:, 2], m20, m12], 1), np.stack([m01, m12, m20], 1)])
    out = Mesh(verts, faces)
    if vertex_mask is None:
        return out
    vm = np.asarray(vertex_mask, bool)
    return out, np.concatenate([vm, vm[edges[:, 0]] & vm[edges[:, 1]]])


def hand_faces(body: Mesh, hand_vertices: np.ndarray) -> np.ndarray:
    """(F,) bool: body faces touching a hand vertex (ECON: faces of the hand segments)."""
    return np.asarray(hand_vertices, bool)[body.faces].any(1)


def _hand_removal(mesh: Mesh, hand_q, body_tree, hand_vertices: np.ndarray, thres: float) -> np.ndarray:
    """ECON's ``part_removal(..., region="hand")``: vertices within ``thres`` of the hand mesh whose
    nearest body vertex is a hand vertex are removed; returns the (F,) mask of faces that keep all
    their vertices."""
    near = np.asarray(hand_q.within(mesh.vertices, thres), bool)
    if near.any():
        _, nn = body_tree.query(np.asarray(mesh.vertices[near], np.float64))
        sel = np.flatnonzero(near)
        near[sel[~hand_vertices[nn]]] = False
    return ~near[mesh.faces].any(1)


def _clean_floats(mesh: Mesh, face_keep: np.ndarray, frac: Optional[float]) -> np.ndarray:
    """ECON's ``clean_floats`` on the kept faces: drop edge-connected components using at most
    ``frac`` of the kept vertices. Returns the updated face mask."""
    if not frac or not face_keep.any():
        return face_keep
    sub = Mesh(mesh.vertices, mesh.faces[face_keep])
    k, lab = sub.connected_components("edge")
    counts = sub.component_vertex_counts(lab, k)
    nv = len(unique_ints(sub.faces))
    ok = (counts > frac * nv)[lab]
    out = face_keep.copy()
    out[np.flatnonzero(face_keep)[~ok]] = False
    return out


# --------------------------------------------------------------------------------------------
# Body rendering
# --------------------------------------------------------------------------------------------

def _check_camera(camera):
    from .meshquery import PerspectiveCamera

    if camera is None:
        return None
    if isinstance(camera, PerspectiveCamera):
        K, R, t = camera._mats()
        if not (np.allclose(R, np.eye(3)) and np.allclose(t, 0)):
            raise ValueError("camera: the pipeline takes a PerspectiveCamera with identity pose (R = I, t = 0); "
                             "express the body in the camera frame")
        return K
    raise TypeError(f"camera must be None (orthographic, ECON) or a PerspectiveCamera, got {type(camera).__name__}")


def render_body(body: Mesh, H: int, W: int, *, K=None, thickness: float = 0.02, distance: float = 100.0):
    """Body depth prior and normal maps in d-BiNI's convention.

    Returns ``(prior (2,H,W) float32, normals (2,H,W,3) float32, covered (2,H,W) bool)``. Orthographic:
    prior = ``-z -/+ thickness`` (front / back, ECON's ``depth_F = zbuf_F - 100 - t``,
    ``depth_B = 100 - zbuf_B + t``); perspective: z along the optical axis ``-/+ thickness``,
    the back map from rays cast back toward the camera from beyond the body.
    """
    from .meshquery import MeshQuery, OrthographicCamera, PerspectiveCamera

    q = MeshQuery(body.vertices, body.faces)
    if K is None:
        a = W / H
        cams = [OrthographicCamera(v, extent=(-a, a, -1.0, 1.0), distance=distance) for v in ("front", "back")]
        r = q.render_depth_normals(cams, (H, W))
        d = np.asarray(r.depth, np.float64)
        prior = np.stack([d[0] - distance - thickness, distance - d[1] + thickness])
        nrm = np.asarray(r.normals, np.float32)
        cov = np.asarray(r.mask, bool)
    else:
        rf = q.render_depth_normals(PerspectiveCamera(K), (H, W))
        zf = np.asarray(rf.depth[0], np.float64)
        cov_f = np.asarray(rf.mask[0], bool)
        # back: the last surface along each ray = first hit of the reversed ray from beyond the body
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        rr, cc = np.mgrid[0:H, 0:W].astype(np.float64)
        d = np.stack([(cc - cx) / fx, (rr - cy) / fy, np.ones((H, W))], -1).reshape(-1, 3)
        zfar = float(body.vertices[:, 2].max()) * 1.5 + 1.0
        hits = q.ray_cast((d * zfar).astype(np.float32), (-d).astype(np.float32))
        tb = np.asarray(hits.t, np.float64).reshape(H, W)
        zb = zfar - tb                                  # direction has z = -1 per unit of t
        cov_b = np.isfinite(tb)
        nb = np.asarray(hits.normals, np.float32).reshape(H, W, 3)
        flip = np.array([1, -1, -1], np.float32)          # OpenCV frame -> ECON's normal convention
        nrm = np.stack([np.asarray(rf.normals[0], np.float32) * flip, nb * flip])
        cov = np.stack([cov_f, cov_b & cov_f])
        prior = np.stack([np.where(cov[0], zf - thickness, np.nan), np.where(cov[1], zb + thickness, np.nan)])
    prior = np.where(cov, prior, np.nan).astype(np.float32)
    nrm = np.where(cov[..., None], nrm, np.nan).astype(np.float32)
    return prior, nrm, cov


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------

def close_surface(parts, config: PipelineConfig = PipelineConfig(), *, timings=None, iterations=None,
                  backends=None, stage=None):
    """Stages 6-7 on open meshes (sheets, hands, side...): concatenate them into the soup (its
    vertices with angle-weighted normals, ECON's ``*_full_soups.ply``), screened Poisson, largest
    component, decimation, as ``config`` says. Returns ``(mesh, soup)``; fills the optional
    ``timings`` / ``iterations`` / ``backends`` dicts."""
    cfg = config
    timings = {} if timings is None else timings
    iters = {} if iterations is None else iterations
    backends = {} if backends is None else backends
    stage = stage or (lambda i: time.perf_counter())
    parts = [parts] if isinstance(parts, Mesh) else [p for p in parts if p is not None and p.n_faces]
    if not parts:
        raise ValueError("nothing to close: every input mesh is empty")
    t0 = stage(5)
    soup = Mesh.concatenate([Mesh(p.vertices.astype(np.float64), p.faces) for p in parts])
    soup = Mesh(soup.vertices, soup.faces, soup.vertex_normals("angle"))
    iters["soup_points"] = soup.n_vertices
    if cfg.poisson:
        ok = np.linalg.norm(soup.normals, axis=1) > 0
        groups = None
        if cfg.poisson_density_groups and len(parts) > 1:
            groups = np.repeat(np.arange(len(parts), dtype=np.int32), [p.n_vertices for p in parts])[ok]
        mesh, info = _poisson(soup.vertices[ok], soup.normals[ok], depth=int(cfg.poisson_depth),
                              point_weight=cfg.point_weight, samples_per_node=cfg.samples_per_node,
                              scale=cfg.poisson_scale, backend=cfg.poisson_backend, groups=groups)
        backends["poisson"] = info["backend"]
        iters["poisson_faces"] = mesh.n_faces
        iters["poisson_point_weight"] = info["point_weight"]
        iters["poisson_samples_per_node"] = info["samples_per_node"]
        if mesh.n_faces == 0:
            raise RuntimeError("Poisson reconstruction returned an empty mesh")
    else:
        mesh = Mesh(soup.vertices, soup.faces)
    timings["poisson"] = time.perf_counter() - t0
    t0 = stage(6)
    if cfg.keep_largest and cfg.poisson:
        mesh, backends["largest component"] = _keep_largest(mesh)
        iters["largest_component_faces"] = mesh.n_faces
    timings["largest component"] = time.perf_counter() - t0
    t0 = stage(7)
    if cfg.decimate and cfg.poisson and mesh.n_faces > cfg.face_count:
        mesh, backends["decimate"] = _decimate(mesh, int(cfg.face_count), cfg.decimate_aggression,
                                               cfg.decimate_backend)
    iters["final_faces"] = mesh.n_faces
    iters["final_vertices"] = mesh.n_vertices
    timings["decimate"] = time.perf_counter() - t0
    return mesh, soup


def _validate_normals(normals, mask):
    from .mesh import to_numpy

    n = to_numpy(normals, "normals")
    if n.ndim != 4 or n.shape[0] != 2 or n.shape[3] != 3:
        raise ValueError(f"normals must have shape (2, H, W, 3) (front, back), got {n.shape}")
    if n.dtype.kind != "f":
        raise TypeError(f"normals must be a float array in [-1, 1], got dtype {n.dtype}")
    H, W = n.shape[1:3]
    if H < 8 or W < 8:
        raise ValueError(f"normals must be at least 8x8 pixels, got {H}x{W}")
    n = n.astype(np.float32)
    with np.errstate(invalid="ignore"):
        ln = np.linalg.norm(np.nan_to_num(n), axis=-1)
    # background: the zero vector (ECON's gray), or black / white PNG pixels (|n| = sqrt(3))
    valid = np.isfinite(n).all(-1).all(0) & ((ln > 0.5) & (ln < 1.5)).all(0)
    if mask is None:
        m = valid
    else:
        m = to_numpy(mask, "mask")
        if m.shape != (H, W):
            raise ValueError(f"mask must have shape (H, W) = {(H, W)} matching the normal maps, got {m.shape}")
        m = m.astype(bool)
        bad = m & ~valid
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(f"normals: {int(bad.sum())} mask pixels have no valid normal on both sides "
                             f"(|n| outside (0.5, 1.5) or NaN; first at row {r}, col {c})")
    if m.sum() < 16:
        raise ValueError(f"the mask selects {int(m.sum())} pixels; need at least 16")
    n = np.where(m[None, ..., None], n / np.maximum(ln, 1e-12)[..., None], 0.0).astype(np.float32)
    return n, m


def reconstruct(normals, body: Optional[Mesh] = None, mask=None, *, camera=None, body_depth=None,
                hand_vertices=None, config: PipelineConfig = PipelineConfig(),
                progress: Optional[Callable[[str, int, int], None]] = None) -> PipelineResult:
    """Run ECON_EX's stages (module docstring) on one person.

    Parameters
    ----------
    normals : (2,H,W,3) float front/back normal maps, ECON's convention (world frame, x right, y up,
        z toward the front camera; back map mirrored left-right in the image).
    body : :class:`econ_fast.mesh.Mesh` body in ECON's crop frame (or the perspective camera's
        frame). Needed for the prior (unless ``body_depth`` is given) and for side completion.
    mask : (H,W) bool person mask; default: pixels with a valid (0.5 < |n| < 1.5) normal on both
        sides (so a gray, black or white background is excluded).
    camera : None (ECON's orthographic cameras) or a :class:`econ_fast.PerspectiveCamera` with
        identity pose.
    body_depth : (2,H,W) prior in d-BiNI's convention (as :func:`render_body` returns it,
        thickness included, NaN off the body) instead of rendering ``body`` (ECON's BNI file).
    hand_vertices : (V,) bool, body vertices that belong to the hands (SMPL-X); enables the hand
        replacement stage.
    config : :class:`PipelineConfig`.
    progress : called ``progress(stage, index, total)`` as each stage starts (and once with
        ``"done"`` at the end).
    """
    from . import dbini
    from .meshquery import MeshQuery

    if not isinstance(config, PipelineConfig):
        raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
    cfg = config
    if body is not None and not isinstance(body, Mesh):
        raise TypeError(f"body must be an econ_fast.mesh.Mesh, got {type(body).__name__}")
    if body is not None and (body.n_faces == 0 or not np.isfinite(body.vertices).all()):
        raise ValueError("body must have faces and finite vertices")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    K = _check_camera(camera)
    n, m = _validate_normals(normals, mask)
    H, W = m.shape
    timings, iters, backends = {}, {}, {}
    t_all = time.perf_counter()

    def stage(i):
        if progress is not None:
            progress(STAGES[i], i, len(STAGES))
        return time.perf_counter()

    # 1. body prior --------------------------------------------------------------------------
    t0 = stage(0)
    body_normals = None
    if body_depth is not None:
        prior = np.asarray(body_depth, np.float32)
        if prior.shape != (2, H, W):
            raise ValueError(f"body_depth must have shape (2, H, W) = {(2, H, W)}, got {prior.shape}")
        cover = np.isfinite(prior)
    elif body is not None:
        prior, body_normals, cover = render_body(body, H, W, K=K, thickness=float(cfg.thickness))
    else:
        prior, cover = None, None
    if prior is not None:
        overlap = (cover[0] & m).sum()
        frac = overlap / max(int(m.sum()), 1)
        iters["body_overlap"] = float(frac)
        if frac < 0.05:
            raise ValueError(f"the body does not overlap the mask (it covers {100 * frac:.1f}% of the {int(m.sum())} "
                             "mask pixels); check that the body is in the same frame as the normal maps "
                             "(ECON's crop frame: the image spans [-1, 1], y up, z toward the camera)")
    if not cfg.use_prior:
        prior_used = None
    else:
        prior_used = prior
    timings["render body"] = time.perf_counter() - t0

    # 2. d-BiNI ------------------------------------------------------------------------------
    t0 = stage(1)
    scale = H / 2.0 if K is None else 1.0
    res = dbini.solve(n, None if prior_used is None else prior_used.astype(np.float64), m, k=cfg.k,
                      lambda_depth=cfg.lambda_depth, lambda_boundary=cfg.lambda_boundary,
                      max_iter=int(cfg.max_iter), tol=cfg.tol, cg_max_iter=int(cfg.cg_max_iter), cg_tol=cfg.cg_tol,
                      solver=cfg.solver, K=K, depth_scale=scale)
    depth = np.asarray(res.depth, np.float32)
    iters.update(dbini_iterations=res.iterations, dbini_cg_iterations=res.cg_iterations,
                 dbini_converged=res.converged, dbini_unknowns=res.unknowns)
    timings["d-BiNI"] = time.perf_counter() - t0

    # 3. sheets ------------------------------------------------------------------------------
    t0 = stage(2)
    front, back = dbini.depth_to_mesh(depth, m, K=K, depth_scale=scale, cut_intersection=cfg.cut_intersection,
                                      max_stretch=cfg.max_stretch, min_component=cfg.min_component,
                                      frame="econ", pixel_center=bool(cfg.pixel_center))
    if front.n_faces + back.n_faces == 0:
        raise ValueError("d-BiNI produced no surface (every face was removed as stretched or floating); "
                         "check the normal maps and the mask")
    timings["depth to mesh"] = time.perf_counter() - t0

    # 4. hands -------------------------------------------------------------------------------
    t0 = stage(3)
    hands = None
    body_v_mask = None
    if hand_vertices is not None:
        if body is None:
            raise ValueError("hand_vertices needs the body mesh")
        hv = np.asarray(hand_vertices)
        if hv.shape != (body.n_vertices,) or hv.dtype != bool:
            raise ValueError(f"hand_vertices must be a bool array of shape ({body.n_vertices},), got "
                             f"{hv.dtype} {hv.shape}")
        body_v_mask = hv
    if cfg.hands and body_v_mask is not None and body_v_mask.any():
        from scipy.spatial import cKDTree

        hands = body.submesh(hand_faces(body, body_v_mask))
        hand_q = MeshQuery(hands.vertices, hands.faces)
        hand_tree = cKDTree(np.asarray(body.vertices, np.float64))
        both = Mesh.concatenate([front, back])
        keep = _hand_removal(both, hand_q, hand_tree, body_v_mask, float(cfg.hand_thres))
        keep = _clean_floats(both, keep, cfg.min_component)
        nfF = front.n_faces
        front = Mesh(both.vertices, both.faces[:nfF][keep[:nfF]]).remove_unreferenced_vertices()
        back = Mesh(both.vertices, both.faces[nfF:][keep[nfF:]]).remove_unreferenced_vertices()
        iters["hand_faces"] = hands.n_faces
    timings["hands"] = time.perf_counter() - t0
    sheets = MeshPair(front, back)

    # 5. side completion ---------------------------------------------------------------------
    t0 = stage(4)
    side = None
    if cfg.side and body is not None:
        sm, svm = body, body_v_mask
        if svm is not None and cfg.hands and hands is not None:
            # ECON_EX: faces whose vertices are all hand vertices leave the side mesh
            keepf = ~svm[sm.faces].all(1)
            sub_faces = sm.faces[keepf]
            sm = Mesh(sm.vertices, sub_faces)
        if cfg.side_subdivide:
            sm = subdivide(sm)
        sm = sm.remove_unreferenced_vertices()
        parts = [p for p in (front, back, hands) if p is not None and p.n_faces]
        target = Mesh.concatenate(parts)
        tq = MeshQuery(target.vertices, target.faces)
        keep = np.ones(sm.n_faces, bool)
        if hands is not None:
            # ECON applies the hand part_removal (8 cm, hand region) to the side mesh too, then
            # clean_floats
            keep = _hand_removal(sm, hand_q, hand_tree, body_v_mask, float(cfg.hand_thres))
            keep = _clean_floats(sm, keep, cfg.min_component)
        near = np.asarray(tq.within(sm.vertices, float(cfg.side_thres)), bool)
        keep &= ~near[sm.faces].any(1)
        side = sm.submesh(keep)
        iters["side_faces"] = side.n_faces
    timings["side"] = time.perf_counter() - t0

    # 6.-7. Poisson and cleaning ------------------------------------------------------------
    soup_parts = [p for p in (hands, front, back, side) if p is not None and p.n_faces]
    mesh, soup = close_surface(soup_parts, cfg, timings=timings, iterations=iters, backends=backends,
                               stage=lambda i: stage(i))
    timings["total"] = time.perf_counter() - t_all
    if progress is not None:
        progress("done", len(STAGES), len(STAGES))
    return PipelineResult(mesh=mesh, sheets=sheets, hands=hands, side=side, soup=soup, depth=depth,
                          body_depth=prior if prior is not None else np.full((2, H, W), np.nan, np.float32),
                          body_normals=body_normals, mask=res.mask, timings=timings, iterations=iters,
                          backends=backends, config=cfg)
