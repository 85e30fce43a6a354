# SPDX-License-Identifier: Apache-2.0
"""Screened Poisson surface reconstruction (Kazhdan, Bolitho, Hoppe 2006; Kazhdan and Hoppe 2013),
native, CPU first-class.

    from econ_fast import poisson
    res = poisson.reconstruct(points, normals, depth=10)   # (N,3) oriented points
    res.mesh                                                # econ_fast.mesh.Mesh, input frame

Defaults reproduce what ECON asks of Open3D's port of PoissonRecon (ECON_SPEC section 4.4): depth
10, degree-1 elements, Neumann boundary, point weight 2, 1.5 samples per node, scale 1.1, CG
tolerance 1e-3, full depth 5, 8 iterations per level.

How it works (details in ``poisson/octree.h`` and ``poisson/poisson_impl.h``):

* The points are fitted in a cube (largest bounding-box side times ``scale``), mapped to [0, 1]^3.
* Level l is the 2^l grid of cells with trilinear hat functions at its nodes. Levels up to
  ``full_depth`` are dense; finer levels only hold the 5x5x5 cell neighbourhoods of the samples
  splatted at that level or finer (a band of 2 cells: with 1, each level's correction could only
  use the corners of the sample cells, which left a 0.05-0.1 cell wobble of the surface). A sample's depth follows PoissonRecon's density adaptation: at
  the finest level whose cell holds at least 8 * ``samples_per_node`` samples (count c), the depth
  is that level + log4(c / samples_per_node) (a surface has 4x fewer samples per cell one level
  finer); the sample is splatted (its normal spread trilinearly into its cell's corners) at the
  ceiling of that depth, capped at ``depth``, and each level's field is then smoothed by
  (1/4, 1/2, 1/4) along each axis (a kernel about as wide as PoissonRecon's quadratic B-spline
  splat; it averages out the random-sampling wobble), except for the samples of thin parts (an
  opposite-facing sample within the area ball below), which are added unsmoothed. Sparse regions
  get a smoother field and a shallower hierarchy; on the inputs measured the output resolution
  matches Open3D's at the same settings.
* Energy: integral |grad chi - V|^2 + alpha sum_i w_i chi(p_i)^2 with
  alpha = point_weight * (surface area) / (sum of weights), the screened paper's normalisation,
  times 2^l on level l (as PoissonRecon scales its point weights by depth: the Dirichlet energy of
  chi's transition grows like 2^l, so point_weight keeps one meaning at every level), and each
  sample's w_i in the screening adapted to its neighbourhood: up to 5x where the same-facing
  samples around it lie on a plane to a small fraction of a cell (clean scans, ECON's sheets),
  fading as they scatter along the normal (position noise), so noise is not fitted;
  the area of a sample is its share (by weight) of the disc of radius h_k/2 around it (h_k: the
  cell width of the level where its depth was estimated), shared with the samples in that ball
  whose normals face the same way: an isotropic density estimate (a per-cell share of ~h^2/1.5
  made the normal field, and the surface, wobble at the cell scale).
* Solve: cascadic, coarse to fine; each level solves for a correction on its free nodes with
  Jacobi-preconditioned CG (``iterations`` per sparse level, up to 200 on dense levels, stopping
  at ``cg_tol``). Results do not depend on the thread count.
* Iso-value: the weighted mean of chi at the samples. Extraction: marching cubes (tables generated
  in the code, ambiguous faces always separate the inside corners) on a uniform virtual lattice
  whose level is the finest level at least a quarter of the samples were splatted at; only cells
  whose function can change sign are visited, and every lattice value is computed by one fixed rule
  so neighbouring cells agree. A vertex sits where a quadratic through its edge's two values,
  with end slopes in the ratio of chi's central differences there, crosses the iso-value (after
  PoissonRecon's default non-linear fit; linear at the cube's side). The mesh is watertight, edge-manifold and consistently oriented
  (outward normals); where the surface would leave the bounding cube it is closed on the cube's
  side (lattice points on the side count as outside).

``density`` (per output vertex) is the confidence-weighted sample density: sum_i w_i phi_i(x), with
phi_i the trilinear hat of sample i's splat cell, i.e. about how many samples lie within one splat
cell of the vertex. It is of the order of ``samples_per_node`` near the data and falls to 0 one
splat cell away from any sample. ``trim=t`` drops the vertices whose density is below ``t`` (and the faces
using them), like PoissonRecon's SurfaceTrimmer on this density scale; e.g. ``trim=0.5`` removes the
parts Poisson invented far from any sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from . import _native
from ._checks import number
from .mesh import Mesh, to_numpy

__all__ = ["reconstruct", "PoissonResult", "MAX_DEPTH"]

MAX_DEPTH = 16


@dataclass(eq=False)
class PoissonResult:
    """Result of :func:`reconstruct`.

    mesh:        econ_fast.mesh.Mesh, float64 vertices in the input frame, int32 faces
    density:     (V,) per-vertex sample density (see the module docstring), for trimming
    iso_value:   the level of chi that was extracted
    timings:     seconds per phase: tree, splat, system, solve, extract (and total)
    nodes:       active nodes per level (list, level 0 first)
    iterations:  CG iterations run per level
    finest_level: finest level with active cells; alpha: the screening weight used
    frame:       the unit-cube frame (center, width) and ``memory_estimate``, the bytes the pre-flight
                 check expected at most (a MemoryError is raised before allocating when the
                 available memory is below it); with ``_debug`` the per-level node values
    """

    mesh: Mesh
    density: np.ndarray
    iso_value: float
    timings: dict
    nodes: list
    iterations: list
    finest_level: int = 0
    alpha: float = 0.0
    frame: dict = field(default_factory=dict, repr=False)

    @property
    def vertices(self) -> np.ndarray:
        return self.mesh.vertices

    @property
    def faces(self) -> np.ndarray:
        return self.mesh.faces


def _number(name, v, lo=None, lo_open=False, hi=None, integer=False):
    return number(name, v, lo, lo_open, hi, integer)


def _points(x, name, n=None):
    a = to_numpy(x, name)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {tuple(a.shape)}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, 3) matching points, got {tuple(a.shape)}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _validate(points, normals, confidence):
    p = _points(points, "points")
    n = p.shape[0]
    if n == 0:
        raise ValueError("points: no points (got shape (0, 3))")
    if n == 1:
        raise ValueError("points: need at least 2 points (one point defines no surface)")
    if not np.all(np.isfinite(p)):
        bad = int(np.argmin(np.all(np.isfinite(p), axis=1)))
        raise ValueError(f"points must be finite, row {bad} is {p[bad].tolist()}")
    nr = _points(normals, "normals", n)
    if not np.all(np.isfinite(nr)):
        bad = int(np.argmin(np.all(np.isfinite(nr), axis=1)))
        raise ValueError(f"normals must be finite, row {bad} is {nr[bad].tolist()}")
    lens = np.einsum("ij,ij->i", nr, nr)
    if np.any(lens == 0):
        raise ValueError(f"normals must be non-zero, row {int(np.argmin(lens))} has zero length")
    # Points on a line or a plane enclose no volume: refuse rather than return an arbitrary blob.
    c = p - p.mean(axis=0)
    ext = float(np.max(p.max(axis=0) - p.min(axis=0)))
    if ext == 0:
        raise ValueError("points: all points coincide")
    ev = np.linalg.eigvalsh(c.T @ c / n)
    if ev[0] <= (1e-6 * ext) ** 2:
        kind = "collinear" if ev[1] <= (1e-6 * ext) ** 2 else "coplanar"
        raise ValueError(f"points are {kind}: they span no volume, so there is no closed surface to reconstruct")
    conf = None
    if confidence is not None:
        conf = np.ascontiguousarray(to_numpy(confidence, "confidence"), dtype=np.float64)
        if conf.shape != (n,):
            raise ValueError(f"confidence must have shape ({n},) matching points, got {tuple(conf.shape)}")
        if not np.all(np.isfinite(conf)) or np.any(conf < 0):
            raise ValueError("confidence must be finite and >= 0")
        if not np.any(conf > 0):
            raise ValueError("confidence: all weights are zero")
    return p, nr, conf


def _groups(density_groups, n):
    """(N,) labels -> dense int32 ids 0..G-1, or None when there is one group."""
    if density_groups is None:
        return None
    g = to_numpy(density_groups, "density_groups")
    if g.shape != (n,):
        raise ValueError(f"density_groups must have shape ({n},) matching points, got {tuple(g.shape)}")
    if g.dtype.kind not in "iub":
        raise TypeError(f"density_groups must hold integer labels, got dtype {g.dtype}")
    _, ids = np.unique(g, return_inverse=True)
    ids = np.ascontiguousarray(ids.reshape(-1), dtype=np.int32)
    return ids if ids.max() > 0 else None


def reconstruct(points, normals, *, depth: int = 10, point_weight: float = 2.0, samples_per_node: float = 1.5,
                scale: float = 1.1, confidence=None, density_groups=None, full_depth: int = 5, iterations: int = 8,
                cg_tol: float = 1e-3, trim: Optional[float] = None,
                progress: Optional[Callable[[int, int], Optional[bool]]] = None, device: str = "cpu",
                _debug: bool = False, _max_memory: Optional[float] = None,
                _dense_iterations: int = 200, _band: int = 2) -> PoissonResult:
    """Watertight surface through oriented points (screened Poisson reconstruction).

    points, normals: (N, 3) arrays (numpy, torch or cupy; copied to float64 on the host). Normals
                     point outward; their length is ignored.
    depth:           finest level, 1..16 (a 2^depth lattice over the padded bounding cube)
    point_weight:    screening weight (>= 0; 0 is plain Poisson)
    samples_per_node: > 0, see the module docstring
    scale:           bounding cube = largest bounding-box side * scale (>= 1)
    confidence:      optional (N,) weights >= 0, multiplying each sample's normal and screening weight
    density_groups:  optional (N,) integer labels of where the points come from (scans, depth-map
                     sheets, a body template). A sample's splat resolution follows the sampling
                     density of its own group in its neighbourhood: a sparse source mixed with a dense
                     one keeps its own resolution. None: one group (PoissonRecon's rule)
    full_depth:      levels <= min(full_depth, depth) are dense
    iterations:      CG iterations per sparse level; cg_tol: CG relative tolerance per level
    trim:            None, or drop vertices whose density is below this (then their faces and any
                     unreferenced vertices)
    progress:        called as progress(level, nodes) after each level; return False to cancel
                     (raises KeyboardInterrupt)
    device:          "cpu" (default) or "cuda": the multigrid solve on the current CUDA device (the
                     hierarchy and the extraction run on the host). The CUDA path compiles but has
                     not been run on a GPU yet.

    Raises ValueError naming the argument for bad input (no points, one point, collinear or coplanar
    points, zero or non-finite normals, NaN coordinates, out-of-range parameters), MemoryError with
    the estimate when the hierarchy would not fit in memory (checked before allocating).
    """
    p, nr, conf = _validate(points, normals, confidence)
    groups = _groups(density_groups, p.shape[0])
    depth = _number("depth", depth, 1, hi=MAX_DEPTH, integer=True)
    point_weight = _number("point_weight", point_weight, 0)
    samples_per_node = _number("samples_per_node", samples_per_node, 0, lo_open=True)
    scale = _number("scale", scale, 1.0, hi=100.0)
    full_depth = _number("full_depth", full_depth, 0, integer=True)
    iterations = _number("iterations", iterations, 1, integer=True)
    cg_tol = _number("cg_tol", cg_tol, 0, lo_open=True)
    if trim is not None:
        trim = _number("trim", trim)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable or None, got {type(progress).__name__}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    max_memory = -1.0 if _max_memory is None else float(_max_memory)
    r = _native.poisson_reconstruct(
        p, nr, conf, groups, depth=depth, point_weight=point_weight, samples_per_node=samples_per_node, scale=scale,
        full_depth=full_depth, iterations=iterations, cg_tol=cg_tol, dense_iterations=int(_dense_iterations),
        band=int(_band),
        max_memory=max_memory, debug=bool(_debug), progress=progress,
        cuda=device == "cuda")
    v, f, dens = r["vertices"], r["faces"], r["density"]
    if trim is not None and len(v):
        keep_v = dens >= trim
        f = f[np.all(keep_v[f], axis=1)]
        used = np.zeros(len(v), bool)
        used[f.ravel()] = True
        remap = np.cumsum(used) - 1
        v, dens = v[used], dens[used]
        f = remap[f].astype(np.int32)
    timings = dict(r["timings"])
    timings["total"] = float(sum(timings.values()))
    frame = {"center": np.array(r["center"]), "width": r["width"], "memory_estimate": int(r["memory_estimate"])}
    if _debug:
        frame.update(levels=r["levels"], sample_area=r["sample_area"], sample_level=r["sample_level"],
                     sample_thin=r["sample_thin"], sample_screen=r["sample_screen"])
    return PoissonResult(mesh=Mesh(v, f), density=dens, iso_value=float(r["iso_value"]), timings=timings,
                         nodes=list(r["nodes"]), iterations=list(r["iterations"]),
                         finest_level=int(r["finest_level"]), alpha=float(r["alpha"]), frame=frame)
