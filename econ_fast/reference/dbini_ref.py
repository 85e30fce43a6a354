# SPDX-License-Identifier: Apache-2.0
"""Reference (oracle) implementation of ECON's double-sided d-BiNI, in plain numpy/scipy.

This is a test oracle, not a user API: it assembles explicit scipy.sparse matrices and favours
being obviously right over being fast. It restates ``shared/ECON_SPEC.md`` sections 1, 2 and 9;
no code was taken from ECON or BiNI.

Conventions (the library's public contract)
-------------------------------------------
* ``normals``: (2, H, W, 3) = (front, back) or (H, W, 3) = one side. World frame: x right, y up,
  z toward the front camera. The back map is mirrored left-right so that pixel (i, j) of the back
  map lies on the same camera ray as pixel (i, j) of the front map; its vectors are unchanged
  (back normals have n_z < 0).
* Depth (prior and result): orthographic depth in pixel units, increasing *away from the front
  camera*, for both sides. With intrinsics ``K`` it is the depth along the optical axis of the
  front camera (both maps live in the front camera's image).
* Pixel (i, j) = (row, column); row i grows downward. Unknowns are the mask pixels in row-major
  order; in the two-sided case front unknowns come first, then back ones.

Per-pixel coefficients
----------------------
Orthographic (ECON's camera frame: x = up, y = right, z = into the scene)::

    n_cam = (N_y, N_x, -N_z)
    cu = cv = n_cam_z = -N_z,   bu = -n_cam_x = -N_y,   bv = -n_cam_y = -N_x

Perspective (``K`` = 3x3 OpenCV intrinsics, pixel centres at integer (c, r) = (column, row);
unknown t = log(depth)). With d = ((c - cx)/fx, (r - cy)/fy, 1), n' = (N_x, -N_y, -N_z) (the normal
in the OpenCV camera frame) and s = n'.d, the tangency conditions n'.dP/dc = n'.dP/dr = 0 for
P = exp(t) d give ``fx s dt/dc = -N_x`` and ``fy s dt/dr = +N_y``, i.e.::

    cu = fy * s,   cv = fx * s,   bu = -N_y,   bv = -N_x      (same b as orthographic)

One-sided difference operators (N x N each, row p empty when the neighbour is missing)::

    A1 (top)    : cu_p (z_top(p)   - z_p)        target bu_p
    A2 (bottom) : cu_p (z_p - z_bottom(p))       target bu_p
    A3 (right)  : cv_p (z_right(p) - z_p)        target bv_p
    A4 (left)   : cv_p (z_p - z_left(p))         target bv_p

    A_s = [A1; A2; A3; A4]  (4N x N),   b_s = [bu; bu; bv; bv]  (b is NOT zeroed on empty rows)

Energy (lambda_nB = 1), per side s in {F, B}, W_s = diag(w_u, 1 - w_u, w_v, 1 - w_v)::

    E = sum_s (A_s z_s - b_s)^T W_s (A_s z_s - b_s)
      + lambda_depth    * sum_s sum_{p in M_s} (z_s,p - prior_s,p)^2
      + lambda_boundary * sum_{p in boundary} (z_B,p - z_F,p)^2

Empty rows contribute the constant w * b^2 (ECON keeps it). M_s = mask pixels whose prior of side
s is finite. The boundary set (two-sided only): interior = mask and all four 4-neighbours in mask;
interior &= has at least one interior 4-neighbour; boundary = mask XOR interior. Pixels outside the
image count as outside the mask.

IRLS (one iteration; weights start at 0.5, z at 0, E_0 = E(z=0, W=0.5))::

    1. K_s = A_s^T W_s A_s (+ lambda_depth diag(M_s)),  rhs_s = A_s^T W_s b_s (+ lambda_depth M_s prior_s)
    2. if side s has prior pixels: z_s += mean_{M_s}(prior_s - z_s)            (re-centring)
    3. S = blockdiag(K_F, K_B) + lambda_boundary * B^T B,  B = [I_bd, -I_bd] (two-sided only)
    4. Jacobi preconditioner 1 / max(diag(S), 1e-5)
    5. z = cg(S, rhs, x0=z, rtol=cg_tol, atol=0, maxiter=cg_max_iter)     (scipy)
    6. w_u = sigmoid(k ((A2 z)^2 - (A1 z)^2)),  w_v = sigmoid(k ((A4 z)^2 - (A3 z)^2));
       if pin_boundary_weights (ECON): w_u = 0.5 where a top OR bottom neighbour is missing,
       w_v = 0.5 where a left OR right neighbour is missing (original BiNI: no override)
    7. E with the new z and weights; stop when |E - E_old| / E_old < tol.

Gauge: without any prior pixel the system is singular up to a constant (per connected component).
The oracle then shifts the whole solution (both sides by the same amount) so that the mean of the
FRONT unknown over the mask is 0: mean front depth 0 (orthographic), mean front log-depth 0
(perspective, i.e. geometric mean of ``depth * depth_scale`` is 1). Components that are not
connected (through the mask or the silhouette term) keep the arbitrary offsets CG gives them.

Notes on the solver: scipy's ``cg`` tests ``||r|| < rtol ||b||`` *before* each step, so with a warm
start it can take 0 steps, and with ``rhs == 0`` it returns 0 whatever ``x0`` is. CuPy's ``cg``
(used by ECON) tests ``<=`` after each step and always takes at least one step; the IRLS paths may
therefore differ slightly between this oracle and ECON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg
from scipy.special import expit

__all__ = [
    "neighbour_masks",
    "boundary_mask",
    "pixel_index",
    "normal_coefficients",
    "difference_operators",
    "Side",
    "Problem",
    "setup_problem",
    "row_weights",
    "build_system",
    "update_weights",
    "energy",
    "solve_ref",
]


# --------------------------------------------------------------------------------------------
# Pixel-grid helpers
# --------------------------------------------------------------------------------------------

def _shift(a: np.ndarray, di: int, dj: int) -> np.ndarray:
    """out[i, j] = a[i + di, j + dj], False outside the image."""
    out = np.zeros_like(a, dtype=bool)
    H, W = a.shape
    i0, i1 = max(0, -di), min(H, H - di)
    j0, j1 = max(0, -dj), min(W, W - dj)
    if i1 > i0 and j1 > j0:
        out[i0:i1, j0:j1] = a[i0 + di:i1 + di, j0 + dj:j1 + dj]
    return out


def neighbour_masks(mask: np.ndarray):
    """(has_top, has_bottom, has_left, has_right), each (H, W) bool: pixel and neighbour in mask.

    top = row i-1, bottom = row i+1, left = column j-1, right = column j+1.
    """
    mask = np.asarray(mask, dtype=bool)
    return (mask & _shift(mask, -1, 0), mask & _shift(mask, 1, 0),
            mask & _shift(mask, 0, -1), mask & _shift(mask, 0, 1))


def boundary_mask(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool silhouette set of the front/back consistency term (ECON_SPEC 2.3).

    interior = mask and all four 4-neighbours in mask; interior &= at least one interior
    4-neighbour; boundary = mask XOR interior (the 1-px ring plus isolated interior pixels).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape (H, W), got {mask.shape}")
    t, b, l, r = neighbour_masks(mask)
    interior = t & b & l & r
    has_interior_nb = (_shift(interior, -1, 0) | _shift(interior, 1, 0)
                       | _shift(interior, 0, -1) | _shift(interior, 0, 1))
    interior = interior & has_interior_nb
    return mask ^ interior


def pixel_index(mask: np.ndarray) -> np.ndarray:
    """(H, W) int64: 0..N-1 for mask pixels in row-major order, -1 elsewhere."""
    idx = np.full(mask.shape, -1, dtype=np.int64)
    idx[mask] = np.arange(int(mask.sum()), dtype=np.int64)
    return idx


# --------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------

def normal_coefficients(normals: np.ndarray, mask: np.ndarray, K=None):
    """Per-mask-pixel (cu, cv, bu, bv), each (N,) float64, for one side.

    normals: (H, W, 3) world-frame normals of one side. See the module docstring for the formulas
    (orthographic when K is None, log-depth perspective otherwise).
    """
    n = np.asarray(normals, dtype=np.float64)[mask]          # (N, 3)
    Nx, Ny, Nz = n[:, 0], n[:, 1], n[:, 2]
    bu, bv = -Ny, -Nx
    if K is None:
        cu = -Nz
        cv = cu.copy()
    else:
        K = np.asarray(K, dtype=np.float64)
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        rows, cols = np.nonzero(mask)                        # row-major, same order as idx
        dx = (cols - cx) / fx
        dy = (rows - cy) / fy
        s = Nx * dx - Ny * dy - Nz                           # n' . d with n' = (Nx, -Ny, -Nz)
        cu = fy * s
        cv = fx * s
    return cu, cv, bu, bv


def difference_operators(mask: np.ndarray, cu: np.ndarray, cv: np.ndarray):
    """(A1, A2, A3, A4): four N x N scipy CSR matrices (top, bottom, right, left), see module doc."""
    mask = np.asarray(mask, dtype=bool)
    idx = pixel_index(mask)
    N = int(mask.sum())
    has_t, has_b, has_l, has_r = neighbour_masks(mask)

    def op(has, di, dj, coef, forward):
        p = idx[has]                                          # rows that have the neighbour
        q = _shifted_index(idx, di, dj)[has]
        c = coef[p]
        # forward: c (z_q - z_p); backward: c (z_p - z_q)
        sign = 1.0 if forward else -1.0
        rows = np.concatenate([p, p])
        cols = np.concatenate([q, p])
        vals = np.concatenate([sign * c, -sign * c])
        return sp.csr_array((vals, (rows, cols)), shape=(N, N))

    A1 = op(has_t, -1, 0, cu, True)
    A2 = op(has_b, 1, 0, cu, False)
    A3 = op(has_r, 0, 1, cv, True)
    A4 = op(has_l, 0, -1, cv, False)
    return A1, A2, A3, A4


def _shifted_index(idx: np.ndarray, di: int, dj: int) -> np.ndarray:
    """out[i, j] = idx[i + di, j + dj], -1 outside the image."""
    out = np.full_like(idx, -1)
    H, W = idx.shape
    i0, i1 = max(0, -di), min(H, H - di)
    j0, j1 = max(0, -dj), min(W, W - dj)
    if i1 > i0 and j1 > j0:
        out[i0:i1, j0:j1] = idx[i0 + di:i1 + di, j0 + dj:j1 + dj]
    return out


# --------------------------------------------------------------------------------------------
# Problem set-up
# --------------------------------------------------------------------------------------------

@dataclass
class Side:
    """One side (front or back) of the problem, all arrays over the N mask pixels."""
    A: sp.csr_array            # (4N, N) = [A1; A2; A3; A4]
    b: np.ndarray              # (4N,)   = [bu; bu; bv; bv]
    A_parts: tuple             # (A1, A2, A3, A4), N x N each
    prior: np.ndarray          # (N,) unknown-space prior (depth*scale or log of it), 0 where none
    has_prior: np.ndarray      # (N,) bool, the set M_s
    pin_u: np.ndarray          # (N,) bool, lacks a top or a bottom neighbour
    pin_v: np.ndarray          # (N,) bool, lacks a left or a right neighbour


@dataclass
class Problem:
    mask: np.ndarray           # (H, W) bool
    n: int                     # N, unknowns per side
    sides: list                # [Side] (1 or 2)
    single: bool               # input was (H, W, 3)
    perspective: bool
    depth_scale: float
    boundary: np.ndarray | None = None      # (N,) bool, two-sided only
    coupling: sp.csr_array | None = None    # (2N, 2N) B^T B, two-sided only
    has_any_prior: bool = field(default=False)


def setup_problem(normals, body_depth=None, mask=None, *, K=None, depth_scale=1.0) -> Problem:
    """Validate inputs and build the per-side operators, targets and priors."""
    normals = np.asarray(normals)
    if normals.ndim == 3 and normals.shape[-1] == 3:
        single = True
        nmaps = normals[None]
    elif normals.ndim == 4 and normals.shape[0] == 2 and normals.shape[-1] == 3:
        single = False
        nmaps = normals
    else:
        raise ValueError(f"normals must have shape (H, W, 3) or (2, H, W, 3), got {normals.shape}")
    S, H, W = nmaps.shape[:3]
    nmaps = nmaps.astype(np.float64)

    if mask is None:
        mask = np.ones((H, W), dtype=bool)
        for s in range(S):
            finite = np.all(np.isfinite(nmaps[s]), axis=-1)
            nonzero = np.any(np.where(finite[..., None], nmaps[s], 0.0) != 0.0, axis=-1)
            mask &= finite & nonzero
    else:
        mask = np.asarray(mask)
        if mask.shape != (H, W):
            raise ValueError(f"mask must have shape {(H, W)} matching normals, got {mask.shape}")
        mask = mask.astype(bool)
        for s in range(S):
            if not np.all(np.isfinite(nmaps[s][mask])):
                raise ValueError("normals must be finite inside the mask")

    if not (np.isfinite(depth_scale) and depth_scale > 0):
        raise ValueError(f"depth_scale must be a positive finite number, got {depth_scale}")
    if K is not None:
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"K must have shape (3, 3), got {K.shape}")
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError("K must have positive focal lengths")

    if body_depth is not None:
        body_depth = np.asarray(body_depth, dtype=np.float64)
        expect = (H, W) if single else (2, H, W)
        if body_depth.shape != expect:
            raise ValueError(f"body_depth must have shape {expect}, got {body_depth.shape}")
        bmaps = body_depth[None] if single else body_depth

    N = int(mask.sum())
    has_t, has_b, has_l, has_r = (h[mask] for h in neighbour_masks(mask))
    pin_u = ~(has_t & has_b)
    pin_v = ~(has_l & has_r)

    sides = []
    for s in range(S):
        cu, cv, bu, bv = normal_coefficients(nmaps[s], mask, K)
        parts = difference_operators(mask, cu, cv)
        A = sp.vstack(parts, format="csr")
        b = np.concatenate([bu, bu, bv, bv])
        prior = np.zeros(N)
        has_prior = np.zeros(N, dtype=bool)
        if body_depth is not None:
            p = bmaps[s][mask] * depth_scale
            has_prior = np.isfinite(p)
            if K is not None:
                if np.any(p[has_prior] <= 0):
                    raise ValueError("body_depth must be positive (perspective, log-depth prior)")
                p = np.where(has_prior, np.log(np.where(has_prior, p, 1.0)), 0.0)
            prior = np.where(has_prior, p, 0.0)
        sides.append(Side(A=A, b=b, A_parts=parts, prior=prior, has_prior=has_prior,
                          pin_u=pin_u.copy(), pin_v=pin_v.copy()))

    prob = Problem(mask=mask, n=N, sides=sides, single=single, perspective=K is not None,
                   depth_scale=float(depth_scale))
    prob.has_any_prior = any(sd.has_prior.any() for sd in sides)
    if not single:
        bd = boundary_mask(mask)[mask]
        nb = int(bd.sum())
        rows = np.arange(nb)
        cols = np.nonzero(bd)[0]
        B = sp.csr_array((np.concatenate([np.ones(nb), -np.ones(nb)]),
                          (np.concatenate([rows, rows]), np.concatenate([cols, cols + N]))),
                         shape=(nb, 2 * N))
        prob.boundary = bd
        prob.coupling = (B.T @ B).tocsr()
    return prob


# --------------------------------------------------------------------------------------------
# System, weights, energy
# --------------------------------------------------------------------------------------------

def row_weights(wu: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """(4N,) diagonal of W = [w_u, 1 - w_u, w_v, 1 - w_v] for one side."""
    return np.concatenate([wu, 1.0 - wu, wv, 1.0 - wv])


def build_system(prob: Problem, wu, wv, lambda_depth=1e-4, lambda_boundary=1e-6):
    """Assemble the SPD system (S, rhs) for weights wu, wv (each (n_sides, N)).

    S is (n_sides*N, n_sides*N) scipy CSR, rhs (n_sides*N,). See module docstring, steps 1 and 3.
    """
    wu = np.atleast_2d(np.asarray(wu, dtype=np.float64))
    wv = np.atleast_2d(np.asarray(wv, dtype=np.float64))
    blocks, rhs = [], []
    for s, sd in enumerate(prob.sides):
        w = row_weights(wu[s], wv[s])
        Ks = sd.A.T @ (sp.diags_array(w) @ sd.A)
        r = sd.A.T @ (w * sd.b)
        if sd.has_prior.any():
            m = sd.has_prior.astype(np.float64)
            Ks = Ks + sp.diags_array(lambda_depth * m)
            r = r + lambda_depth * m * sd.prior
        blocks.append(Ks)
        rhs.append(r)
    if len(blocks) == 1:
        S = sp.csr_array(blocks[0])
    else:
        S = sp.block_diag(blocks, format="csr") + lambda_boundary * prob.coupling
        S = sp.csr_array(S)
    return S, np.concatenate(rhs)


def update_weights(prob: Problem, z: np.ndarray, k: float, pin_boundary_weights=True):
    """New (wu, wv), each (n_sides, N), from the stacked unknown z (step 6)."""
    N = prob.n
    wu = np.empty((len(prob.sides), N))
    wv = np.empty((len(prob.sides), N))
    for s, sd in enumerate(prob.sides):
        zs = z[s * N:(s + 1) * N]
        A1, A2, A3, A4 = sd.A_parts
        wu[s] = expit(k * ((A2 @ zs) ** 2 - (A1 @ zs) ** 2))
        wv[s] = expit(k * ((A4 @ zs) ** 2 - (A3 @ zs) ** 2))
        if pin_boundary_weights:
            wu[s][sd.pin_u] = 0.5
            wv[s][sd.pin_v] = 0.5
    return wu, wv


def energy(prob: Problem, z: np.ndarray, wu, wv, lambda_depth=1e-4, lambda_boundary=1e-6) -> float:
    """E(z, W) of the module docstring (lambda_nB = 1, constant terms of empty rows included)."""
    N = prob.n
    wu = np.atleast_2d(wu)
    wv = np.atleast_2d(wv)
    E = 0.0
    for s, sd in enumerate(prob.sides):
        zs = z[s * N:(s + 1) * N]
        res = sd.A @ zs - sd.b
        E += float(np.dot(row_weights(wu[s], wv[s]) * res, res))
        if sd.has_prior.any():
            d = (zs - sd.prior)[sd.has_prior]
            E += lambda_depth * float(np.dot(d, d))
    if len(prob.sides) == 2:
        d = (z[N:] - z[:N])[prob.boundary]
        E += lambda_boundary * float(np.dot(d, d))
    return E


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def solve_ref(normals, body_depth=None, mask=None, *, k=4.0, lambda_depth=1e-4,
              lambda_boundary=1e-6, max_iter=150, tol=1e-4, cg_max_iter=5000, cg_tol=1e-3,
              K=None, depth_scale=1.0, pin_boundary_weights=True) -> dict:
    """Double-sided (or single-sided) d-BiNI by IRLS + Jacobi-PCG, following ECON_SPEC 2.5.

    Args:
        normals: (2, H, W, 3) front/back or (H, W, 3) one side, world-frame normals (module doc).
        body_depth: (2, H, W) / (H, W) prior depth, NaN where there is no body; or None.
        mask: (H, W) bool; default = pixels whose normals are finite and nonzero on every side.
        k: sigmoid sharpness. lambda_depth: prior weight (both sides). lambda_boundary: silhouette
            front/back consistency weight. max_iter, tol: IRLS limits (relative energy change).
        cg_max_iter, cg_tol: scipy cg maxiter and rtol (atol = 0).
        K: optional 3x3 OpenCV intrinsics (perspective, log-depth unknown).
        depth_scale: the prior is multiplied by it before solving and the result divided by it.
        pin_boundary_weights: ECON's override of weights next to missing neighbours.

    Returns dict:
        depth: (2, H, W) or (H, W) float64, NaN outside the mask (final iterate). Without any
            prior pixel it is shifted so that the mean FRONT unknown over the mask is 0 (depth in
            the orthographic case, log(depth * depth_scale) in the perspective case).
        iterations: IRLS iterations done. cg_iterations: total CG steps. cg_per_iter: list[int].
        energy: list[float], E_0 then one value per iteration. converged: relative change < tol.
        wu, wv: final weights as maps shaped like depth, NaN outside the mask (wu weights the
            top row A1, 1 - wu the bottom row A2; wv the right row A3, 1 - wv the left row A4).
        mask: (H, W) bool mask actually used.
    """
    prob = setup_problem(normals, body_depth, mask, K=K, depth_scale=depth_scale)
    N = prob.n
    S_sides = len(prob.sides)
    wu = np.full((S_sides, N), 0.5)
    wv = np.full((S_sides, N), 0.5)
    z = np.zeros(S_sides * N)

    energies = [energy(prob, z, wu, wv, lambda_depth, lambda_boundary)]
    cg_per_iter = []
    converged = False
    iterations = 0

    for it in range(max_iter):
        S, rhs = build_system(prob, wu, wv, lambda_depth, lambda_boundary)
        for s, sd in enumerate(prob.sides):                  # re-centre on the prior
            if sd.has_prior.any():
                zs = z[s * N:(s + 1) * N]
                zs += np.mean((sd.prior - zs)[sd.has_prior])
        diag = S.diagonal()
        precond = sp.diags_array(1.0 / np.maximum(diag, 1e-5))
        count = [0]

        def _cb(_xk, count=count):
            count[0] += 1

        if N > 0:
            z, _info = cg(S, rhs, x0=z.copy(), rtol=cg_tol, atol=0.0, maxiter=cg_max_iter,
                          M=precond, callback=_cb)
        cg_per_iter.append(count[0])
        wu, wv = update_weights(prob, z, k, pin_boundary_weights)
        E = energies[-1]
        E_new = energy(prob, z, wu, wv, lambda_depth, lambda_boundary)
        energies.append(E_new)
        iterations = it + 1
        rel = abs(E_new - E) / E if E != 0 else (0.0 if E_new == 0 else np.inf)
        if rel < tol:
            converged = True
            break

    if not prob.has_any_prior and N > 0:
        z = z - z[:N].mean()                                 # gauge: mean front unknown = 0

    zval = np.exp(z) if prob.perspective else z
    zval = zval / prob.depth_scale
    mask_ = prob.mask

    def to_maps(v):
        out = np.full((S_sides,) + mask_.shape, np.nan)
        for s in range(S_sides):
            out[s][mask_] = v[s * N:(s + 1) * N] if v.ndim == 1 else v[s]
        return out[0] if prob.single else out

    return {
        "depth": to_maps(zval),
        "iterations": iterations,
        "cg_iterations": int(sum(cg_per_iter)),
        "cg_per_iter": cg_per_iter,
        "energy": energies,
        "converged": converged,
        "wu": to_maps(wu),
        "wv": to_maps(wv),
        "mask": mask_,
    }
