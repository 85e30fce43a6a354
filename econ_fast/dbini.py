# SPDX-License-Identifier: Apache-2.0
"""d-BiNI: depth-aware bilateral normal integration (ECON, Xiu et al. CVPR 2023, built on BiNI,
Cao et al. ECCV 2022), native and fast.

    from econ_fast import dbini
    res = dbini.solve(normals, body_depth)      # normals (2,H,W,3), body_depth (2,H,W)
    res.depth                                    # (2,H,W) front/back depth, NaN outside the mask

Conventions (ECON's, see ECON_SPEC.md section 1):

* ``normals`` are world-frame unit normals, x right, y up, z toward the front camera. A
  two-sided input is ``(2, H, W, 3)`` = (front, back); the back map is mirrored left-right *in the
  image* so that it is pixel-aligned with the front, its vectors are not changed (back normals have
  n_z < 0). ``(H, W, 3)`` is one side.
* Depth is orthographic, in pixel units (one unit = one pixel width), increasing away from the front
  camera, for the prior and the result alike. ``depth_scale`` converts from world units: the prior is
  multiplied by it and the result divided by it. In ECON's crop frame (512 px span 2 units) use
  ``depth_scale=256`` with ``body_depth = -z_world -/+ thickness``.
* With ``K`` (3x3 OpenCV intrinsics: u = column, v = row, pixel centres at integers) the camera is a
  pinhole; both maps are in that camera's image (the back map holds the last surface along each
  ray), the unknown is log-depth as in BiNI, and depth is returned along the optical axis.
* Without a prior the depth is defined up to a constant (up to scale under ``K``); the result has
  zero mean front depth (unit geometric-mean depth under ``K``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from . import _native
from ._arrays import Namespace, as_host_array, namespace_of
from ._checks import number

__all__ = ["solve", "solve_batch", "depth_to_mesh", "DbiniResult", "SOLVERS"]

SOLVERS = ("fast", "jacobi")


@dataclass
class DbiniResult:
    """Result of :func:`solve`.

    depth:          (2,H,W) or (H,W) depth (caller's array type, device and dtype), NaN outside the mask
    iterations:     IRLS iterations run
    cg_iterations:  CG steps over all IRLS iterations
    cg_per_iter:    CG steps of each IRLS iteration
    energy:         energy history: E_0 (z = 0, w = 1/2), then one value after each IRLS iteration
    converged:      the relative energy change fell below ``tol``
    timings:        seconds per phase ("prepare", "setup", "coefficients", "linear_solve",
                    "weights", "energy", "output", "total")
    unknowns:       number of unknowns (masked pixels times sides)
    solver:         "fast" or "jacobi"
    mask:           (H,W) bool mask actually used (numpy)
    """

    depth: object
    iterations: int
    cg_iterations: int
    cg_per_iter: list
    energy: np.ndarray
    converged: bool
    timings: dict
    unknowns: int
    solver: str
    mask: np.ndarray = field(repr=False, default=None)

    @property
    def front(self):
        return self.depth[0] if self.depth.ndim == 3 else self.depth

    @property
    def back(self):
        if self.depth.ndim != 3:
            raise AttributeError("single-sided result has no back depth")
        return self.depth[1]


def _params(*, k, lambda_depth, lambda_boundary, max_iter, tol, cg_max_iter, cg_tol, solver, K,
            depth_scale, pin_boundary_weights, mg_smooth=1):
    def num(name, v, lo=None, lo_open=False, integer=False):
        return number(name, v, lo, lo_open, integer=integer, int_max=2**31 - 1)

    p = _native.DbiniParams()
    p.k = num("k", k, 0)
    p.lambda_depth = num("lambda_depth", lambda_depth, 0)
    p.lambda_boundary = num("lambda_boundary", lambda_boundary, 0)
    p.max_iter = num("max_iter", max_iter, 1, integer=True)
    p.tol = num("tol", tol, 0)
    p.cg_max_iter = num("cg_max_iter", cg_max_iter, 1, integer=True)
    p.cg_tol = num("cg_tol", cg_tol, 0, lo_open=True)
    p.depth_scale = num("depth_scale", depth_scale, 0, lo_open=True)
    p.mg_smooth = num("mg_smooth", mg_smooth, 1, integer=True)
    if not isinstance(pin_boundary_weights, (bool, np.bool_)):
        raise TypeError(f"pin_boundary_weights must be True or False, got {type(pin_boundary_weights).__name__}")
    p.pin_boundary_weights = bool(pin_boundary_weights)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    p.solver = _native.DbiniSolver.jacobi if solver == "jacobi" else _native.DbiniSolver.multigrid
    if K is not None:
        try:
            Kh = np.asarray(K.get() if hasattr(K, "get") else (K.cpu() if hasattr(K, "cpu") else K), dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"K must be a 3x3 matrix of numbers, got {K!r:.60}") from e
        if Kh.shape != (3, 3):
            raise ValueError(f"K must have shape (3, 3), got {Kh.shape}")
        if not np.all(np.isfinite(Kh)):
            raise ValueError("K must be finite")
        if Kh[0, 0] <= 0 or Kh[1, 1] <= 0:
            raise ValueError(f"K: focal lengths K[0,0] and K[1,1] must be > 0, got {Kh[0, 0]} and {Kh[1, 1]}")
        if Kh[0, 1] != 0 or not np.allclose(Kh[2], [0, 0, 1]) or Kh[1, 0] != 0:
            raise ValueError(f"K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {Kh.tolist()}")
        p.perspective = True
        p.fx, p.fy, p.cx, p.cy = float(Kh[0, 0]), float(Kh[1, 1]), float(Kh[0, 2]), float(Kh[1, 2])
    return p


class _Frame:
    """One validated problem, ready for the native call."""

    def __init__(self, normals, body_depth, mask, perspective: bool, label: str = ""):
        t0 = time.perf_counter()
        pre = f"{label}: " if label else ""
        if isinstance(normals, (tuple, list)) and len(normals) == 2 and not np.isscalar(normals[0]):
            front, back = (as_host_array(n, "normals") for n in normals)
            if tuple(front.shape) != tuple(back.shape):
                raise ValueError(
                    f"{pre}normals: front and back maps must have the same shape, got "
                    f"{tuple(front.shape)} and {tuple(back.shape)}"
                )
            ns0 = namespace_of(front, back, names=["normals[0]", "normals[1]"])
            if ns0.kind in ("torch", "torch-cuda"):
                import torch

                normals = torch.stack([front, back])
            elif ns0.kind == "cupy":
                import cupy

                normals = cupy.stack([front, back])
            else:
                normals = np.stack([ns0.to_host(front), ns0.to_host(back)])
        normals = as_host_array(normals, "normals")
        if body_depth is not None:
            body_depth = as_host_array(body_depth, "body_depth")
        if mask is not None:
            mask = as_host_array(mask, "mask")
        ns = namespace_of(normals, body_depth, mask, names=["normals", "body_depth", "mask"])
        self.ns = ns
        shape = tuple(normals.shape)
        if len(shape) == 4 and shape[0] == 2 and shape[3] == 3:
            self.single = False
        elif len(shape) == 3 and shape[2] == 3:
            self.single = True
        else:
            raise ValueError(f"{pre}normals must have shape (2, H, W, 3) or (H, W, 3), got {shape}")
        H, W = shape[-3], shape[-2]
        if H < 1 or W < 1:
            raise ValueError(f"{pre}normals must have a non-empty image, got shape {shape}")
        dt = str(normals.dtype).replace("torch.", "")
        if dt not in ("float32", "float64"):
            raise TypeError(f"{pre}normals must have dtype float32 or float64, got {dt}")
        self.dtype = dt
        S = 1 if self.single else 2
        self.S, self.H, self.W = S, H, W
        n = ns.prepare(normals, dt)
        if self.single:
            n = n.reshape(1, H, W, 3)
        # Mask: given, or the pixels whose normals are valid on every side.
        if mask is None:
            if ns.kind == "torch-cuda":
                import torch

                ok = torch.isfinite(n).all(-1) & ((n * n).sum(-1) > 0)
                m = ok.all(0)
                mask_host = m.cpu().numpy()
            else:
                xp = ns.xp()
                ok = xp.isfinite(n).all(-1) & ((n * n).sum(-1) > 0)
                m = ok.all(0)
                mask_host = ns.to_host(m) if ns.kind == "cupy" else np.asarray(m)
            m = ns.prepare(m, "uint8")
        else:
            ms = tuple(mask.shape)
            if ms != (H, W):
                raise ValueError(f"{pre}mask must have shape (H, W) = {(H, W)} matching normals {shape}, got {ms}")
            mdt = str(mask.dtype).replace("torch.", "")
            if not (mdt == "bool" or mdt.startswith("uint") or mdt.startswith("int")):
                raise TypeError(f"{pre}mask must be boolean or integer, got dtype {mdt}")
            if ns.on_gpu:
                mask_host = ns.to_host(mask) != 0
                m = ns.prepare(mask != 0, "uint8")
            else:
                mask_host = np.ascontiguousarray(np.asarray(ns.to_host(mask)) != 0)
                m = mask_host.view(np.uint8)  # bool -> uint8 without a copy
        mask_host = np.asarray(mask_host, dtype=bool)
        count = int(mask_host.sum())
        if count == 0:
            raise ValueError(f"{pre}mask selects no pixel (empty mask, or no valid normal)")
        self.mask_host = mask_host
        self.normals = n
        # Prior.
        self.prior = None
        if body_depth is not None:
            bs = tuple(body_depth.shape)
            want = (H, W) if self.single else (2, H, W)
            if bs != want:
                raise ValueError(f"{pre}body_depth must have shape {want} matching normals {shape}, got {bs}")
            bdt = str(body_depth.dtype).replace("torch.", "")
            if not bdt.startswith("float"):
                raise TypeError(f"{pre}body_depth must be a float array (NaN where no body), got dtype {bdt}")
            b = ns.prepare(body_depth, dt)
            if self.single:
                b = b.reshape(1, H, W)
            bh = ns.to_host(b)
            covered = np.isfinite(bh) & mask_host[None]
            if not covered.any():
                raise ValueError(
                    f"{pre}body_depth covers no pixel of the mask (it is NaN/inf everywhere the mask is set); "
                    "pass body_depth=None for plain BiNI"
                )
            if perspective and (bh[covered] <= 0).any():
                raise ValueError(f"{pre}body_depth must be > 0 (depth along the optical axis) with a perspective K")
            self.prior = b
        self.mask = m
        self.out = ns.empty((S, H, W), dt)
        self.prepare_seconds = time.perf_counter() - t0

    def explain_bad_normals(self, native_error: Exception):
        """Turns the native layer's count of bad normals into a message that points at a pixel."""
        n = self.ns.to_host(self.normals)
        sel = n[:, self.mask_host]
        pre = ""
        for what, bad in (("are not finite", ~np.isfinite(sel).all(-1)),
                          ("have zero length", (sel * sel).sum(-1) == 0)):
            if bad.any():
                s, i = np.argwhere(bad)[0]
                r, c = np.argwhere(self.mask_host)[i]
                raise ValueError(
                    f"{pre}normals: {int(bad.sum())} pixels inside the mask {what} "
                    f"(first: side {s}, row {r}, col {c}); pass a mask that excludes them"
                ) from None
        raise native_error

    def result(self, rep: dict, solver: str) -> DbiniResult:
        depth = self.out[0] if self.single else self.out
        timings = dict(rep["timings"])
        timings["prepare"] = self.prepare_seconds
        return DbiniResult(
            depth=self.ns.wrap(depth),
            iterations=int(rep["iterations"]),
            cg_iterations=int(rep["cg_iterations"]),
            cg_per_iter=list(rep["cg_per_iter"]),
            energy=np.asarray(rep["energy"], dtype=np.float64),
            converged=bool(rep["converged"]),
            timings=timings,
            unknowns=int(rep["unknowns"]),
            solver=solver,
            mask=self.mask_host,
        )


def solve(
    normals,
    body_depth=None,
    mask=None,
    *,
    k: float = 4.0,
    lambda_depth: float = 1e-4,
    lambda_boundary: float = 1e-6,
    max_iter: int = 150,
    tol: float = 1e-4,
    cg_max_iter: int = 5000,
    cg_tol: float = 1e-3,
    solver: str = "fast",
    K=None,
    depth_scale: float = 1.0,
    pin_boundary_weights: bool = True,
    progress: Optional[Callable[[int, float, int], Optional[bool]]] = None,
) -> DbiniResult:
    """Integrate front/back (or one) normal maps into depth maps held near a body depth prior.

    Parameters
    ----------
    normals : (2,H,W,3) or (H,W,3) float32/float64 array (numpy, torch or cupy), or a (front, back)
        pair. World-frame normals (x right, y up, z toward the front camera); back map mirrored
        left-right in the image.
    body_depth : (2,H,W) / (H,W) array or None. Body depth prior (pixel units times ``depth_scale``
        ... i.e. in the units ``depth_scale`` converts from), NaN (or inf) where the body does not
        cover a pixel. None: plain (bilateral) normal integration, no prior.
    mask : (H,W) bool array or None. Unknown pixels; default: pixels whose normals are finite and
        non-zero on every side.
    k, lambda_depth, lambda_boundary, max_iter, tol, cg_max_iter, cg_tol :
        ECON's d-BiNI parameters (defaults are ECON's ``econ.yaml``): sigmoid sharpness, prior
        weight, silhouette-consistency weight, IRLS iterations, relative energy change that stops
        IRLS, CG steps per IRLS iteration, CG relative residual.
    solver : "fast" (multigrid-preconditioned CG on a matrix-free stencil; default) or "jacobi"
        (Jacobi-preconditioned CG with CuPy's stopping rule: ECON's exact trajectory).
    K : 3x3 pinhole intrinsics (OpenCV convention) for a perspective camera, or None (orthographic).
    depth_scale : prior multiplied by it, result divided by it (256 for ECON's 512 px crop frame).
    pin_boundary_weights : ECON's rule: bilateral weights fixed at 0.5 where a pixel lacks a
        neighbour on that axis (False: original BiNI).
    progress : called as ``progress(iteration, energy, cg_steps)`` after every IRLS iteration;
        return False to stop early. Exceptions it raises propagate.

    Returns
    -------
    DbiniResult with ``depth`` in the caller's array type, device and dtype.
    """
    t0 = time.perf_counter()
    params = _params(k=k, lambda_depth=lambda_depth, lambda_boundary=lambda_boundary, max_iter=max_iter,
                     tol=tol, cg_max_iter=cg_max_iter, cg_tol=cg_tol, solver=solver, K=K,
                     depth_scale=depth_scale, pin_boundary_weights=pin_boundary_weights)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    f = _Frame(normals, body_depth, mask, params.perspective)
    try:
        rep = _native.dbini_solve(f.normals, f.prior, f.mask, f.out, params, progress)
    except ValueError as e:
        if str(e).startswith("normals:"):
            f.explain_bad_normals(e)
        raise
    res = f.result(rep, solver)
    res.timings["total"] = time.perf_counter() - t0
    return res


def solve_batch(
    normals,
    body_depth=None,
    mask=None,
    *,
    progress: Optional[Callable[[int, int], None]] = None,
    **kwargs,
) -> list:
    """Solve many independent frames (or patches) in one call.

    ``normals`` is a (B,2,H,W,3) / (B,H,W,3) array or a sequence of per-frame inputs (sizes may
    differ); ``body_depth`` and ``mask`` likewise (or None). Keyword arguments are those of
    :func:`solve`. On the CPU frames run in parallel, one thread each; results equal per-frame
    :func:`solve` calls. ``progress(done, total)`` is called as frames finish.
    """
    t0 = time.perf_counter()
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(done, total), got {type(progress).__name__}")
    params = _params(**{**dict(k=4.0, lambda_depth=1e-4, lambda_boundary=1e-6, max_iter=150, tol=1e-4,
                                cg_max_iter=5000, cg_tol=1e-3, solver="fast", K=None, depth_scale=1.0,
                                pin_boundary_weights=True), **kwargs})
    solver = kwargs.get("solver", "fast")
    B = len(normals)

    def item(x, i, name):
        if x is None:
            return None
        if isinstance(x, (list, tuple)):
            if len(x) != B:
                raise ValueError(f"{name} must have one entry per frame ({B}), got {len(x)}")
            return x[i]
        if len(x) != B:
            raise ValueError(f"{name} must have a leading batch dimension of {B}, got {len(x)}")
        return x[i]

    frames = [_Frame(normals[i], item(body_depth, i, "body_depth"), item(mask, i, "mask"),
                     params.perspective, label=f"frame {i}") for i in range(B)]
    done_count = [0]

    def done(i):
        done_count[0] += 1
        if progress is not None:
            progress(done_count[0], B)

    try:
        reps = _native.dbini_solve_batch([f.normals for f in frames], [f.prior for f in frames],
                                         [f.mask for f in frames], [f.out for f in frames], params, done)
    except ValueError as e:
        if str(e).startswith("normals:"):
            for i, f in enumerate(frames):
                try:
                    f.explain_bad_normals(e)
                except ValueError as fe:
                    if fe is not e:
                        raise ValueError(f"frame {i}: {fe}") from None
        raise
    out = [f.result(r, solver) for f, r in zip(frames, reps)]
    total = time.perf_counter() - t0
    for r in out:
        r.timings["batch_total"] = total
    return out


# --------------------------------------------------------------------------------------------
# Post-processing: depth maps -> open triangle sheets (ECON_SPEC 2.6)
# --------------------------------------------------------------------------------------------

FRAMES = ("econ", "pixel", "camera")


def depth_to_mesh(
    depth,
    mask=None,
    *,
    normals=None,
    K=None,
    depth_scale: float = 1.0,
    cut_intersection: bool = True,
    max_stretch: Optional[float] = 5.0,
    min_component: Optional[float] = 0.01,
    frame: str = "econ",
    pixel_center: bool = False,
):
    """Triangulate depth maps into open meshes, as ECON does after d-BiNI (ECON_SPEC 2.6).

    Steps (per side unless stated):

    1. mask = ``mask`` (default: everywhere) and finite depth on every side;
    2. two-sided with ``cut_intersection``: pixels where front depth >= back depth are removed from
       the mask of both sides (the front is not in front of the back there);
    3. one vertex per mask pixel, in row-major order; a quad at every 2x2 block of mask pixels,
       split along its TL-BR diagonal. Front winding ``(TL,BL,BR), (TL,BR,TR)`` (counter-clockwise
       seen from the front camera, normals toward it); back reversed ``(TL,TR,BR), (TL,BR,BL)``
       (normals away from the front camera, i.e. outward for a closed body). The face list holds
       first all triangles of one kind in row-major quad order, then all of the other;
    4. stretched faces are dropped: those whose area exceeds ``max_stretch`` times the area of their
       projection on the image plane, i.e. whose unit normal in pixel/depth space (depth in
       pixels) has ``|n_z| <= 1 / max_stretch``. The default 5 is ECON's ``|n_z| > 0.2``; it
       removes the "curtains" across depth jumps. Under ``K`` the normal is taken in the camera
       frame and compared with the viewing ray through the face centroid;
    5. faces are split into edge-connected components; components using at most ``min_component``
       times the side's vertex count (after step 4) are dropped (ECON's ``clean_floats``, 1 %);
    6. unreferenced vertices are dropped and the rest transformed to ``frame``.

    Parameters
    ----------
    depth : (2,H,W) front/back or (H,W) single depth map (numpy, torch or cupy; copied to the host),
        or a :class:`DbiniResult` (then ``mask`` defaults to its mask). Depth as :func:`solve`
        returns it: it times ``depth_scale`` is in pixels (orthographic) and grows away from the
        front camera; NaN outside the surface.
    mask : (H,W) bool, optional. Pixels to mesh (further restricted to finite depth).
    normals : (2,H,W,3) / (H,W,3) world-frame normal maps (as given to :func:`solve`), optional.
        When given, each vertex carries the normal of its pixel (in ``frame``) as ``Mesh.normals``.
    K : 3x3 OpenCV intrinsics (as for :func:`solve`), optional. Then the vertices are
        ``depth * K^-1 [col, row, 1]`` in the OpenCV camera frame (x right, y down, z forward, the
        units of ``depth``; pixel centres at integer (col, row), so ``pixel_center`` does not
        apply). ``frame`` may be "camera" (or "econ", which means the same under ``K``) or "pixel".
    depth_scale : ``depth * depth_scale`` is depth in pixels (256 for ECON's 512 px crop, matching
        :func:`solve`'s argument).
    cut_intersection : step 2 (ECON default True); ignored for a single side.
    max_stretch : step 4 threshold (> 1), or None to keep all faces.
    min_component : step 5 fraction in [0, 1), or None / 0 to keep all components.
    frame : output coordinates of the orthographic case:

        * ``"econ"``: ECON's crop frame (x right, y up, z toward the front camera; 1 unit = H/2 px):
          ``X = (col + o - W/2) / (H/2)``, ``Y = (H/2 - 1 - row + o) / (H/2)``,
          ``Z = -depth_px / (H/2)`` with ``o = 0`` (``pixel_center=False``, ECON's choice: the
          vertex sits on the pixel's lower-left corner; for 512 x 512 this is exactly
          ``X = col/256 - 1, Y = (255 - row)/256, Z = -z/256``) or ``o = 0.5`` (pixel centre, where
          ECON's renderer samples; ECON_SPEC trap 5);
        * ``"pixel"``: ``(col, row, depth_px)`` (integer pixel indices, x right, y down, z away
          from the camera; ``pixel_center`` does not apply).

    pixel_center : see ``frame``.

    Returns
    -------
    :class:`econ_fast.mesh.MeshPair` ``(front, back)`` for two-sided depth, a
    :class:`econ_fast.mesh.Mesh` for a single side. Vertices are float32 for float32 depth,
    float64 otherwise; faces int32. All frames are right-handed, so the winding (and the sign of
    the face normals) is the same in each.
    """
    from .mesh import Mesh, MeshPair, to_numpy

    if isinstance(depth, DbiniResult):
        if mask is None:
            mask = depth.mask
        depth = depth.depth
    d = to_numpy(depth, "depth")
    if d.dtype.kind not in "fiu":
        raise TypeError(f"depth must be a real array, got dtype {d.dtype}")
    if d.ndim == 3 and d.shape[0] == 2:
        single = False
    elif d.ndim == 2:
        single = True
    else:
        raise ValueError(f"depth must have shape (2, H, W) or (H, W), got {d.shape}")
    out_dtype = np.float32 if d.dtype == np.float32 else np.float64
    H, W = d.shape[-2:]
    D = d.reshape(1, H, W) if single else d
    D = D.astype(np.float64, copy=False)

    if isinstance(depth_scale, bool) or not isinstance(depth_scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(depth_scale) or depth_scale <= 0:
        raise ValueError(f"depth_scale must be a finite number > 0, got {depth_scale!r}")
    if max_stretch is not None:
        if isinstance(max_stretch, bool) or not isinstance(max_stretch, (int, float, np.integer, np.floating)) \
                or np.isnan(max_stretch) or max_stretch <= 1:
            raise ValueError(f"max_stretch must be a number > 1 (or None to keep every face), got {max_stretch!r}")
        if np.isinf(max_stretch):
            max_stretch = None
    if min_component is not None:
        if isinstance(min_component, bool) or not isinstance(min_component, (int, float, np.integer, np.floating)) \
                or not (0 <= min_component < 1):
            raise ValueError(f"min_component must be a fraction in [0, 1) (or None), got {min_component!r}")
        if min_component == 0:
            min_component = None
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    Kh = None
    if K is not None:
        Kh = to_numpy(K, "K").astype(np.float64)
        if Kh.shape != (3, 3) or not np.all(np.isfinite(Kh)):
            raise ValueError(f"K must be a finite 3x3 matrix, got shape {Kh.shape}")
        if Kh[0, 0] <= 0 or Kh[1, 1] <= 0 or Kh[0, 1] != 0 or Kh[1, 0] != 0 or not np.allclose(Kh[2], [0, 0, 1]):
            raise ValueError(f"K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, got {Kh.tolist()}")
    elif frame == "camera":
        raise ValueError("frame='camera' needs intrinsics K (orthographic depth has frames 'econ' and 'pixel')")

    m = np.isfinite(D).all(axis=0)
    if mask is not None:
        mk = to_numpy(mask, "mask")
        if mk.shape != (H, W):
            raise ValueError(f"mask must have shape (H, W) = {(H, W)} matching depth {d.shape}, got {mk.shape}")
        if mk.dtype != bool and mk.dtype.kind not in "iu":
            raise TypeError(f"mask must be boolean or integer, got dtype {mk.dtype}")
        m &= mk != 0
    if not single and cut_intersection:
        with np.errstate(invalid="ignore"):
            m &= ~(D[0] >= D[1])

    nrm = None
    if normals is not None:
        nrm = to_numpy(normals, "normals")
        want = (H, W, 3) if single else (2, H, W, 3)
        if nrm.shape != want:
            raise ValueError(f"normals must have shape {want} matching depth {d.shape}, got {nrm.shape}")
        nrm = nrm.reshape((-1, H, W, 3))

    # Vertices: mask pixels in row-major order.
    rows, cols = np.nonzero(m)
    npix = len(rows)
    idx = np.full((H, W), -1, dtype=np.int64)
    idx[rows, cols] = np.arange(npix)
    quad = m[:-1, :-1] & m[1:, :-1] & m[:-1, 1:] & m[1:, 1:]
    qi, qj = np.nonzero(quad)
    vTL, vBL, vBR, vTR = idx[qi, qj], idx[qi + 1, qj], idx[qi + 1, qj + 1], idx[qi, qj + 1]

    # Output coordinates (all pixels of the mask; unreferenced ones are dropped per side).
    zpx = D[:, rows, cols] * float(depth_scale)                 # (S, npix) depth in pixels
    if Kh is not None:
        dz = D[:, rows, cols]
        ray = np.stack([(cols - Kh[0, 2]) / Kh[0, 0], (rows - Kh[1, 2]) / Kh[1, 1], np.ones(npix)], axis=1)
    sides = []
    for s in range(D.shape[0]):
        # Camera-frame points (the space of the stretch test under K).
        P = None
        if Kh is not None:
            P = ray * dz[s][:, None]
        keepA, keepB = _keep_unstretched(zpx[s], P, vTL, vBL, vBR, vTR, max_stretch)
        A = np.stack([vTL[keepA], vBL[keepA], vBR[keepA]], axis=1)   # (TL, BL, BR): left + bottom edges
        B = np.stack([vTL[keepB], vBR[keepB], vTR[keepB]], axis=1)   # (TL, BR, TR): top + right edges
        if min_component is not None and (len(A) + len(B)):
            okA, okB = _component_filter(quad, qi, qj, keepA, keepB, A, B, npix, min_component)
            A, B = A[okA], B[okB]
        back = s == 1
        faces = np.concatenate([B[:, [0, 2, 1]], A[:, [0, 2, 1]]]) if back else np.concatenate([A, B])
        # Vertices of this side.
        if Kh is not None and frame in ("econ", "camera"):
            V = P
        elif frame == "pixel":
            V = np.stack([cols.astype(np.float64), rows.astype(np.float64), zpx[s]], axis=1)
        else:
            h = H / 2.0
            o = 0.5 if pixel_center else 0.0
            V = np.stack([(cols + o - W / 2.0) / h, (h - 1.0 - rows + o) / h, -zpx[s] / h], axis=1)
        N = None
        if nrm is not None:
            N = nrm[s][rows, cols].astype(out_dtype)
            if frame == "pixel" or Kh is not None:
                N = N * np.array([1, -1, -1], dtype=out_dtype)
        used = np.zeros(npix, dtype=bool)
        used[faces.ravel()] = True
        remap = np.cumsum(used) - 1
        mesh = Mesh(V[used].astype(out_dtype), remap[faces].astype(np.int32),
                    None if N is None else N[used])
        sides.append(mesh)
    return sides[0] if single else MeshPair(sides[0], sides[1])


def _keep_unstretched(z, P, vTL, vBL, vBR, vTR, max_stretch):
    """Keep flags of the (TL,BL,BR) and (TL,BR,TR) triangle of every quad (ECON's
    ``remove_stretched_faces``)."""
    n = len(vTL)
    if max_stretch is None:
        return np.ones(n, bool), np.ones(n, bool)
    if P is None:
        # Orthographic, pixel/depth space: the unnormalised normal of (TL,BL,BR) is
        # (zBR - zBL, zBL - zTL, -1) (up to sign and axis order), that of (TL,BR,TR) is
        # (zTR - zTL, zBR - zTR, -1); |n_z| / |n| > 1/max_stretch <=> |n|^2 < max_stretch^2.
        zTL, zBL, zBR, zTR = z[vTL], z[vBL], z[vBR], z[vTR]
        s2 = float(max_stretch) ** 2
        keepA = (zBR - zBL) ** 2 + (zBL - zTL) ** 2 + 1.0 < s2
        keepB = (zTR - zTL) ** 2 + (zBR - zTR) ** 2 + 1.0 < s2
        return keepA, keepB
    t = 1.0 / float(max_stretch)

    def keep(a, b, c):
        pa, pb, pc = P[a], P[b], P[c]
        nrm = np.cross(pb - pa, pc - pa)
        cen = (pa + pb + pc) / 3.0
        num = np.abs((nrm * cen).sum(1))
        den = np.linalg.norm(nrm, axis=1) * np.linalg.norm(cen, axis=1)
        return num > t * den

    return keep(vTL, vBL, vBR), keep(vTL, vBR, vTR)


def _component_filter(quad, qi, qj, keepA, keepB, A, B, npix, frac):
    """Edge-connected components of the kept grid triangles; keep those using more than
    ``frac`` times the side's vertex count. Uses the grid: triangle A of quad (i, j) (left, bottom
    and diagonal edges) shares its diagonal with B of the same quad, its left edge with B of quad
    (i, j-1) and its bottom edge with B of quad (i+1, j); no other pair of triangles shares an edge.
    The graph is built directly in CSR form with sorted rows (no scipy sort/sum of duplicates)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from .mesh import _component_vertex_counts

    Hq, Wq = quad.shape
    nA, nB = len(A), len(B)
    idB = np.full((Hq + 1, Wq + 1), -1, np.int64)        # padded: row Hq and column -1 stay empty
    idB[qi[keepB], qj[keepB]] = nA + np.arange(nB)
    ai, aj = qi[keepA], qj[keepA]
    # Neighbours of each A in increasing id order: left quad's B, own B, lower quad's B.
    nb = np.stack([idB[ai, aj - 1], idB[ai, aj], idB[ai + 1, aj]], axis=1)
    valid = nb >= 0
    indices = nb[valid]
    indptr = np.concatenate([[0], np.cumsum(valid.sum(1)), np.full(nB, valid.sum(), np.int64)])
    n = nA + nB
    g = sp.csr_matrix((np.ones(len(indices), np.int8), indices, indptr), shape=(n, n))
    g.has_sorted_indices = True
    k, lab = connected_components(g, directed=False)
    faces = np.concatenate([A, B])
    counts = _component_vertex_counts(faces, lab, k, npix)
    used = np.zeros(npix, bool)
    used[faces.ravel()] = True
    keep = counts > frac * int(used.sum())
    ok = keep[lab]
    return ok[:nA], ok[nA:]
