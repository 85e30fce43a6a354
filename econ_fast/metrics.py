# SPDX-License-Identifier: Apache-2.0
"""Reconstruction metrics in the manner of ECON's benchmark (Chamfer, P2S, normal consistency),
with exact point-to-triangle distances from our BVH (:class:`econ_fast.MeshQuery`).

    from econ_fast import metrics
    m = metrics.evaluate(pred_mesh, gt_mesh)              # meshes in metres -> results in cm
    m.chamfer, m.p2s, m.normal_consistency, m.normal_error

Definitions (``pred`` = reconstruction, ``gt`` = ground truth; all distances are multiplied by
``scale``):

* points are sampled on each surface with probability proportional to triangle area (uniform on
  the surface), ``n_samples`` per mesh, from ``numpy.random.default_rng(seed)`` (fixed seed: the
  same meshes always give the same numbers);
* ``pred_to_gt`` = mean distance from the pred samples to the gt *surface* (exact closest point on
  any triangle), ``gt_to_pred`` the other way;
* **P2S** = ``pred_to_gt`` (point-to-surface from the reconstruction to the ground truth, the PIFu /
  ICON convention). Both directed means are reported, so the other convention is one field away;
* **Chamfer** = (``pred_to_gt`` + ``gt_to_pred``) / 2 (ECON ``Evaluator.calculate_chamfer_p2s``:
  mean of the two directed point-to-surface means, unsquared distances);
* **normal consistency** (point variant, Occupancy-Networks style): for each sample, |n . n'|
  between its face normal and the normal of the closest face of the other mesh, averaged over both
  directions; 1 is perfect. Orientation-free, so flipped faces do not count against it;
* **normal error** (image variant, what ECON reports as "Normal"): both meshes are rendered with
  our ray caster from four orthographic views around the vertical axis (front, right, back,
  left; one shared frame fitted to the union of both bounding boxes), smooth vertex normals in
  the view frame, encoded as (n + 1) / 2 with background 0.5 (the zero vector);
  the error is the mean over the views of the mean squared difference of the two images over the
  pixels covered by either mesh (summed over the 3 channels). ECON renders with PyTorch3D and
  averages over the whole image (``Evaluator.calc_normal_error``); our variant restricts the mean
  to covered pixels so it does not depend on how much empty border the image has, hence values
  are comparable between our runs, not bit-comparable with ECON's table.

Units: ``scale`` multiplies every distance. The default 100 assumes meshes in metres and reports
centimetres (ECON's ``* 100``). ECON's crop frame is about metres for a 1.8 m person (ECON_SPEC
1.1: 1 unit ~ 1 m); for a known height h metres, use ``scale = 100 * h / height_in_units``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from .mesh import Mesh

__all__ = ["MeshMetrics", "sample_surface", "directed_distance", "normal_consistency", "normal_image_error",
           "evaluate"]


@dataclass
class MeshMetrics:
    """Result of :func:`evaluate` (distances already multiplied by ``scale``)."""

    chamfer: float
    p2s: float
    normal_consistency: float
    normal_error: Optional[float]
    pred_to_gt: float
    gt_to_pred: float
    n_samples: int
    seed: int
    scale: float
    unit: str

    def as_dict(self) -> dict:
        return asdict(self)


def _check_mesh(m, name) -> Mesh:
    if not isinstance(m, Mesh):
        if isinstance(m, (tuple, list)) and len(m) in (2, 3):
            m = Mesh(*m)
        else:
            raise TypeError(f"{name} must be a Mesh or a (vertices, faces) pair, got {type(m).__name__}")
    if m.n_faces == 0:
        raise ValueError(f"{name} has no faces")
    if not np.isfinite(m.vertices).all():
        raise ValueError(f"{name} has non-finite vertex coordinates")
    if m.area() <= 0:
        raise ValueError(f"{name} has zero surface area (all faces degenerate)")
    return m


def _count(n, name="n_samples") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return int(n)


def sample_surface(mesh: Mesh, n: int, seed: int = 0):
    """``n`` points uniformly distributed on the surface (faces drawn by area, then uniform
    barycentrics by the square-root rule, Osada et al. 2002). Returns ``(points (n,3) float64,
    face (n,) int64, face_normals (n,3) float64 unit)``; deterministic for a given ``seed``."""
    mesh = _check_mesh(mesh, "mesh")
    n = _count(n)
    rng = np.random.default_rng(seed)
    areas = mesh.face_areas()
    cdf = np.cumsum(areas)
    face = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    face = np.minimum(face, len(areas) - 1)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    a, b, c = mesh._corners()
    w0, w1, w2 = 1.0 - r1, r1 * (1.0 - r2), r1 * r2
    pts = w0[:, None] * a[face] + w1[:, None] * b[face] + w2[:, None] * c[face]
    return pts, face, mesh.face_normals()[face]


def directed_distance(points, mesh: Mesh, query=None) -> np.ndarray:
    """(P,) float64 exact Euclidean distance from each point to the surface of ``mesh``."""
    from .meshquery import MeshQuery

    q = query if query is not None else MeshQuery(mesh.vertices, mesh.faces)
    return np.asarray(q.distance(np.asarray(points, np.float32)), np.float64)


def _closest_face_normals(points, mesh: Mesh, q):
    cp = q.closest_points(np.asarray(points, np.float32))
    f = np.asarray(cp.face, np.int64)
    return np.asarray(cp.distance, np.float64), mesh.face_normals()[f]


def normal_consistency(pred: Mesh, gt: Mesh, *, n_samples: int = 10000, seed: int = 0) -> float:
    """Point variant of normal consistency (module docstring), in [0, 1]."""
    from .meshquery import MeshQuery

    pred, gt = _check_mesh(pred, "pred"), _check_mesh(gt, "gt")
    vals = []
    for src, dst, s in ((pred, gt, seed), (gt, pred, seed + 1)):
        p, _, n = sample_surface(src, n_samples, s)
        _, n2 = _closest_face_normals(p, dst, MeshQuery(dst.vertices, dst.faces))
        vals.append(np.abs((n * n2).sum(1)).mean())
    return float(np.mean(vals))


_YAW = {"front": 0.0, "right": 90.0, "back": 180.0, "left": 270.0}


def _view_normals(mesh: Mesh, yaw_deg: float, extent, size: int):
    from .meshquery import OrthographicCamera, render_depth_normals

    t = np.deg2rad(yaw_deg)
    # Rotate the mesh about +y by -yaw so the view direction becomes the front camera's (-z).
    R = np.array([[np.cos(t), 0.0, -np.sin(t)], [0.0, 1.0, 0.0], [np.sin(t), 0.0, np.cos(t)]])
    v = mesh.vertices.astype(np.float64) @ R.T
    r = render_depth_normals(v.astype(np.float32), mesh.faces, OrthographicCamera("front", extent=extent,
                             distance=1e3), size)
    n = np.asarray(r.normals[0], np.float64)
    m = np.asarray(r.mask[0], bool)
    img = np.where(m[..., None], (np.nan_to_num(n) + 1.0) * 0.5, 0.5)
    return img, m


def normal_image_error(pred: Mesh, gt: Mesh, *, size: int = 512,
                       views: Sequence[str] = ("front", "right", "back", "left")) -> float:
    """Image variant of the normal error (module docstring): 0 is perfect."""
    pred, gt = _check_mesh(pred, "pred"), _check_mesh(gt, "gt")
    size = _count(size, "size")
    for v in views:
        if v not in _YAW:
            raise ValueError(f"unknown view {v!r}; choose from {sorted(_YAW)}")
    allv = np.concatenate([pred.vertices, gt.vertices]).astype(np.float64)
    lo, hi = allv.min(0), allv.max(0)
    centre = 0.5 * (lo + hi)
    # one square extent that contains the mesh in every yaw (radius in the xz plane, height in y)
    rxz = float(np.max(np.hypot(allv[:, 0] - centre[0], allv[:, 2] - centre[2])))
    half = 1.05 * max(rxz, 0.5 * float(hi[1] - lo[1]), 1e-9)
    errs = []
    for v in views:
        ext = (-half, half, -half, half)
        ip, mp = _view_normals(Mesh(pred.vertices - centre, pred.faces), _YAW[v], ext, size)
        ig, mg = _view_normals(Mesh(gt.vertices - centre, gt.faces), _YAW[v], ext, size)
        cov = mp | mg
        if not cov.any():
            continue
        errs.append(float(((ip - ig) ** 2).sum(-1)[cov].mean()))
    return float(np.mean(errs)) if errs else float("nan")


def evaluate(pred: Mesh, gt: Mesh, *, n_samples: int = 10000, seed: int = 0, scale: float = 100.0,
             unit: str = "cm", normal_images: bool = True, image_size: int = 512) -> MeshMetrics:
    """Chamfer, P2S, normal consistency and (``normal_images``) the image normal error of ``pred``
    against ``gt`` (module docstring). ``scale`` multiplies distances (default 100: metres -> cm)."""
    from .meshquery import MeshQuery

    pred, gt = _check_mesh(pred, "pred"), _check_mesh(gt, "gt")
    n_samples = _count(n_samples)
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    qp = MeshQuery(pred.vertices, pred.faces)
    qg = MeshQuery(gt.vertices, gt.faces)
    ps, _, pn = sample_surface(pred, n_samples, seed)
    gs, _, gn = sample_surface(gt, n_samples, seed + 1)
    d_pg, n_pg = _closest_face_normals(ps, gt, qg)
    d_gp, n_gp = _closest_face_normals(gs, pred, qp)
    nc = 0.5 * (np.abs((pn * n_pg).sum(1)).mean() + np.abs((gn * n_gp).sum(1)).mean())
    pg, gp = float(d_pg.mean()) * scale, float(d_gp.mean()) * scale
    ne = normal_image_error(pred, gt, size=image_size) if normal_images else None
    return MeshMetrics(chamfer=0.5 * (pg + gp), p2s=pg, normal_consistency=float(nc), normal_error=ne,
                       pred_to_gt=pg, gt_to_pred=gp, n_samples=n_samples, seed=int(seed), scale=float(scale),
                       unit=str(unit))
