# SPDX-License-Identifier: Apache-2.0
"""Seeded synthetic normal-integration inputs with ground truth (shared by tests and benchmarks).

Pure numpy. Conventions are those of ``econ_fast`` (see ``econ_fast/reference/dbini_ref.py``):

* pixel (i, j) = (row, column); its centre sits at scene coordinates
  ``X = j + 0.5 - W/2`` (right) and ``Y = H/2 - (i + 0.5)`` (up), in pixels;
* ``depth`` is orthographic depth in pixel units increasing away from the front camera
  (world ``z = -depth``), for the front and the back map alike;
* ``normals`` are world-frame unit normals (x right, y up, z toward the front camera), float32,
  zero outside the mask. Two-sided maps are (2, H, W, 3) = (front, back); the back map is mirrored
  left-right so that back pixel (i, j) lies on the same camera ray as front pixel (i, j) (its
  vectors are not changed: back normals have n_z < 0);
* ``depth_gt`` (and ``body_depth``) are float64, NaN where undefined, shaped like the solver's
  result: (H, W) for one side, (2, H, W) for two.

For a depth field D(X, Y) with gradient (D_X, D_Y) the front normal is (D_X, D_Y, 1)/norm and the
back normal is -(D_X, D_Y, 1)/norm. Each factory returns a dict with at least ``normals``, ``mask``,
``depth_gt``; some add ``body_depth``, ``K``, ``body_mask``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pixel_grid",
    "plane",
    "sphere_cap",
    "steps",
    "sphere_perspective",
    "two_sided",
    "human_pair",
    "random_mask",
    "depth_error",
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def pixel_grid(H: int, W: int):
    """(X, Y) pixel-centre coordinates, each (H, W) float64 (X right, Y up, origin at the centre)."""
    j = np.arange(W, dtype=np.float64)
    i = np.arange(H, dtype=np.float64)
    X = np.broadcast_to(j + 0.5 - W / 2.0, (H, W))
    Y = np.broadcast_to((H / 2.0 - (i + 0.5))[:, None], (H, W))
    return X.copy(), Y.copy()


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def _front_normals(DX, DY):
    """Front normals of a depth field with gradient (DX, DY): (DX, DY, 1) normalised."""
    return _unit(np.stack([DX, DY, np.ones_like(DX)], axis=-1))


def _pack(normals, mask, depth_gt, **extra):
    normals = np.where(mask[..., None], normals, 0.0).astype(np.float32)
    depth_gt = np.where(mask, depth_gt, np.nan).astype(np.float64)
    out = {"normals": normals, "mask": mask.astype(bool), "depth_gt": depth_gt}
    out.update(extra)
    return out


def _add_noise(normals, mask, noise, rng):
    if noise <= 0:
        return normals
    n = normals + rng.normal(0.0, noise, size=normals.shape)
    n = _unit(n)
    return np.where(mask[..., None], n, 0.0)


# --------------------------------------------------------------------------------------------
# Single-sided closed forms
# --------------------------------------------------------------------------------------------

def plane(H: int = 64, W: int = 64, slope=(0.3, -0.2)):
    """Constant normal over the full image. ``slope`` = (d depth / d column, d depth / d row)."""
    sc, sr = float(slope[0]), float(slope[1])
    i, j = np.mgrid[0:H, 0:W].astype(np.float64)
    depth = sc * (j - W / 2.0) + sr * (i - H / 2.0)
    # D_X = sc, D_Y = -sr (Y is up, rows go down)
    n = _front_normals(np.full((H, W), sc), np.full((H, W), -sr))
    mask = np.ones((H, W), dtype=bool)
    return _pack(n, mask, depth)


def sphere_cap(H: int = 64, W: int = 64, radius=None):
    """Orthographic view of a sphere cap; ``radius`` = sphere radius in pixels.

    Default radius 0.5*min(H, W). The mask is the disk rho < min(0.8*radius, 0.45*min(H, W)),
    so normals are tilted at most ~53 degrees from the view axis. Depth is 0 at the apex.
    """
    R = 0.5 * min(H, W) if radius is None else float(radius)
    X, Y = pixel_grid(H, W)
    rho2 = X ** 2 + Y ** 2
    r_disk = min(0.8 * R, 0.45 * min(H, W))
    mask = rho2 < r_disk ** 2
    s = np.sqrt(np.maximum(R ** 2 - rho2, 1e-12))
    depth = R - s
    n = _unit(np.stack([X, Y, s], axis=-1))
    return _pack(n, mask, depth, radius=R)


def steps(H: int = 64, W: int = 64):
    """Piecewise planar depth with jumps; normals constant per region (full-image mask).

    Regions: left and right halves (slopes +0.5 and -0.5 px per column, so a roof-like pair of
    planes, with an ~8.5 px jump along j = W/2) and a rectangle in the left half on its own plane
    (offset -7 px, 0.8 px per row, so the jump along its border varies in size and sign). From normals alone the
    height of a jump that separates two regions is undetermined: compare per region (free offset
    each) using ``labels`` (H, W) int: 0 left, 1 right, 2 rectangle.
    """
    i, j = np.mgrid[0:H, 0:W].astype(np.float64)
    # (offset, d/dcol, d/drow) per region, in pixels
    params = [(0.0, 0.5, 0.0), (8.0, -0.5, 0.0), (-7.0, 0.0, 0.8)]
    labels = np.where(j < W // 2, 0, 1)
    r0, r1 = H // 4, H // 2 + H // 8
    c0, c1 = W // 8, 3 * W // 8
    labels[r0:r1, c0:c1] = 2
    depth = np.zeros((H, W))
    DX = np.zeros((H, W))
    DY = np.zeros((H, W))
    for lab, (off, sc, sr) in enumerate(params):
        m = labels == lab
        depth[m] = off + sc * (j[m] - W / 2.0) + sr * (i[m] - H / 2.0)
        DX[m] = sc
        DY[m] = -sr
    n = _front_normals(DX, DY)
    mask = np.ones((H, W), dtype=bool)
    return _pack(n, mask, depth, labels=labels)


def sphere_perspective(H: int = 64, W: int = 64, aspect: float = 1.0):
    """A sphere seen by a pinhole camera (single side).

    ``K`` = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx = W, fy = aspect*W,
    (cx, cy) = ((W-1)/2, (H-1)/2) (OpenCV, pixel centres at integer (column, row)).
    Sphere centre (0.15, -0.1, 3.0), radius 1.0, in scene units (OpenCV camera frame: x right,
    y down, z forward). ``depth_gt`` is the depth along the optical axis in those scene units
    (positive); it is only recoverable up to scale without a prior. Mask = rays that hit the
    sphere with the normal within ~70 degrees of the view ray.
    """
    fx, fy = float(W), float(aspect) * W
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    C = np.array([0.15, -0.1, 3.0])
    R = 1.0
    r, c = np.mgrid[0:H, 0:W].astype(np.float64)
    d = np.stack([(c - cx) / fx, (r - cy) / fy, np.ones((H, W))], axis=-1)
    dd = np.sum(d * d, axis=-1)
    dc = d @ C
    disc = dc ** 2 - dd * (C @ C - R ** 2)
    hit = disc > 0
    Z = (dc - np.sqrt(np.maximum(disc, 0.0))) / dd
    P = Z[..., None] * d
    n_cv = (P - C) / R                                   # outward normal, OpenCV frame
    cosang = -np.sum(n_cv * d, axis=-1) / np.sqrt(dd)
    mask = hit & (cosang > 0.35)
    N = np.stack([n_cv[..., 0], -n_cv[..., 1], -n_cv[..., 2]], axis=-1)   # world frame
    return _pack(N, mask, Z, K=K)


# --------------------------------------------------------------------------------------------
# Two-sided ellipsoid
# --------------------------------------------------------------------------------------------

def _ellipsoid_maps(X, Y, centre, axes):
    """Front/back depth and world normals of an axis-aligned ellipsoid in (X, Y, depth) space."""
    cx, cy, cd = centre
    a, b, c = axes
    q = 1.0 - ((X - cx) / a) ** 2 - ((Y - cy) / b) ** 2
    hit = q > 0
    s = np.sqrt(np.maximum(q, 0.0))
    dF = cd - c * s
    dB = cd + c * s
    out = []
    for dep in (dF, dB):
        g = np.stack([(X - cx) / a ** 2, (Y - cy) / b ** 2, -(dep - cd) / c ** 2], axis=-1)
        out.append(_unit(g))   # gradient in (X, Y, -depth) = world frame, outward
    return hit, dF, dB, out[0], out[1]


def two_sided(H: int = 96, W: int = 96):
    """A closed ellipsoid seen front and back (orthographic), with an inner 'body' prior.

    Clothing: semi-axes (0.36 W, 0.44 H, 0.22 W) px, centre depth 10 px. Body: a smaller concentric
    ellipsoid (0.85, 0.9, 0.88 times the axes), so the prior covers most but not all of the mask
    and lies 0-~4 px inside the clothing. Returns ``body_depth`` (2, H, W) (NaN off the body) and
    ``body_mask``.
    """
    X, Y = pixel_grid(H, W)
    centre = (0.0, 0.0, 10.0)
    axes = (0.36 * W, 0.44 * H, 0.22 * W)
    hit, dF, dB, nF, nB = _ellipsoid_maps(X, Y, centre, axes)
    baxes = (0.85 * axes[0], 0.9 * axes[1], 0.88 * axes[2])
    bhit, bF, bB, _, _ = _ellipsoid_maps(X, Y, centre, baxes)
    mask = hit
    body = np.stack([np.where(bhit, bF, np.nan), np.where(bhit, bB, np.nan)])
    out = _pack(np.stack([nF, nB]), mask, np.stack([dF, dB]))
    out["depth_gt"] = np.where(mask[None], out["depth_gt"], np.nan)
    out["body_depth"] = body
    out["body_mask"] = bhit
    return out


# --------------------------------------------------------------------------------------------
# Human-shaped front/back pair
# --------------------------------------------------------------------------------------------

class _Hits:
    """Union of convex pieces: nearest entry (front) and farthest exit (back) per pixel."""

    def __init__(self, H, W):
        self.dF = np.full((H, W), np.inf)
        self.dB = np.full((H, W), -np.inf)
        self.nF = np.zeros((H, W, 3))
        self.nB = np.zeros((H, W, 3))

    def add(self, sl, hit, d_in, d_out, n_in, n_out):
        dF, dB = self.dF[sl], self.dB[sl]
        m = hit & (d_in < dF)
        dF[m] = d_in[m]
        self.nF[sl][m] = n_in[m]
        m = hit & (d_out > dB)
        dB[m] = d_out[m]
        self.nB[sl][m] = n_out[m]

    @property
    def mask(self):
        return np.isfinite(self.dF)


def _crop(X, Y, x0, x1, y0, y1):
    """Slices of the pixel grid covering scene box [x0, x1] x [y0, y1] (with a 1 px margin)."""
    H, W = X.shape
    j0 = max(0, int(np.floor(x0 + W / 2.0 - 1.5)))
    j1 = min(W, int(np.ceil(x1 + W / 2.0 + 1.5)))
    i0 = max(0, int(np.floor(H / 2.0 - y1 - 1.5)))
    i1 = min(H, int(np.ceil(H / 2.0 - y0 + 1.5)))
    return np.s_[i0:max(i0, i1), j0:max(j0, j1)]


def _world(g):
    """(X, Y, depth)-space gradient -> unit world normal (x, y, z = -depth)."""
    return _unit(np.stack([g[..., 0], g[..., 1], -g[..., 2]], axis=-1))


def _add_ellipsoid(acc, X, Y, centre, axes):
    cx, cy, cd = centre
    a, b, c = axes
    sl = _crop(X, Y, cx - a, cx + a, cy - b, cy + b)
    x, y = X[sl], Y[sl]
    q = 1.0 - ((x - cx) / a) ** 2 - ((y - cy) / b) ** 2
    hit = q > 0
    s = np.sqrt(np.maximum(q, 0.0))
    d_in, d_out = cd - c * s, cd + c * s
    n_in = _world(np.stack([(x - cx) / a ** 2, (y - cy) / b ** 2, (d_in - cd) / c ** 2], -1))
    n_out = _world(np.stack([(x - cx) / a ** 2, (y - cy) / b ** 2, (d_out - cd) / c ** 2], -1))
    acc.add(sl, hit, d_in, d_out, n_in, n_out)


def _add_capsule(acc, X, Y, A, B, r):
    A = np.asarray(A, float)
    B = np.asarray(B, float)
    lo = np.minimum(A, B) - r
    hi = np.maximum(A, B) + r
    sl = _crop(X, Y, lo[0], hi[0], lo[1], hi[1])
    x, y = X[sl], Y[sl]
    L = np.linalg.norm(B - A)
    u = (B - A) / L
    t_in = np.full(x.shape, np.inf)
    t_out = np.full(x.shape, -np.inf)
    # end spheres: (x-cx)^2 + (y-cy)^2 + (t-cd)^2 = r^2
    for Cp in (A, B):
        q = r * r - (x - Cp[0]) ** 2 - (y - Cp[1]) ** 2
        h = q > 0
        s = np.sqrt(np.maximum(q, 0.0))
        t_in = np.where(h, np.minimum(t_in, Cp[2] - s), t_in)
        t_out = np.where(h, np.maximum(t_out, Cp[2] + s), t_out)
    # finite cylinder: w = w0 + t e_z, |w|^2 - (w.u)^2 = r^2, 0 <= w.u <= L
    a2 = 1.0 - u[2] ** 2
    if a2 > 1e-9:
        w0 = np.stack([x - A[0], y - A[1], np.full(x.shape, -A[2])], -1)
        wu = w0 @ u
        b1 = w0[..., 2] - wu * u[2]
        c0 = np.sum(w0 * w0, -1) - wu ** 2 - r * r
        disc = b1 ** 2 - a2 * c0
        h = disc > 0
        sq = np.sqrt(np.maximum(disc, 0.0))
        t1 = (-b1 - sq) / a2
        t2 = (-b1 + sq) / a2
        if abs(u[2]) > 1e-12:
            ts0 = (0.0 - wu) / u[2]
            tsL = (L - wu) / u[2]
            lo_t, hi_t = np.minimum(ts0, tsL), np.maximum(ts0, tsL)
        else:
            inside = (wu >= 0) & (wu <= L)
            lo_t = np.where(inside, -np.inf, np.inf)
            hi_t = np.where(inside, np.inf, -np.inf)
        c_in = np.maximum(t1, lo_t)
        c_out = np.minimum(t2, hi_t)
        h = h & (c_in < c_out)
        t_in = np.where(h, np.minimum(t_in, c_in), t_in)
        t_out = np.where(h, np.maximum(t_out, c_out), t_out)
    hit = np.isfinite(t_in)
    normals = []
    for t in (t_in, t_out):
        tt = np.where(hit, t, 0.0)
        P = np.stack([x, y, tt], -1)
        s = np.clip((P - A) @ u, 0.0, L)
        Q = A + s[..., None] * u
        normals.append(_world(P - Q))
    acc.add(sl, hit, t_in, t_out, normals[0], normals[1])


def _add_skirt(acc, X, Y, centre, y_top, y_bot, ra0, rc0, kx, kz):
    """Hollow flared elliptic tube: cross-section at height Y is an ellipse with semi-axes
    ra(Y) = ra0 + kx (y_top - Y) (along X), rc(Y) = rc0 + kz (y_top - Y) (along depth)."""
    cx, cd = centre
    ra_max = ra0 + kx * (y_top - y_bot)
    sl = _crop(X, Y, cx - ra_max, cx + ra_max, y_bot, y_top)
    x, y = X[sl], Y[sl]
    inside_y = (y <= y_top) & (y >= y_bot)
    ra = ra0 + kx * (y_top - y)
    rc = rc0 + kz * (y_top - y)
    q = 1.0 - ((x - cx) / ra) ** 2
    hit = inside_y & (q > 0)
    s = np.sqrt(np.maximum(q, 0.0))
    d_in, d_out = cd - rc * s, cd + rc * s
    normals = []
    for dep in (d_in, d_out):
        ex, ed = x - cx, dep - cd
        gx = ex / ra ** 2
        # dF/dY with ra' = rc'... = -kx, -kz (radii grow downward)
        gy = ex ** 2 * kx / ra ** 3 + ed ** 2 * kz / rc ** 3
        gd = ed / rc ** 2
        normals.append(_world(np.stack([gx, gy, gd], -1)))
    acc.add(sl, hit, d_in, d_out, normals[0], normals[1])


def _human_pieces(rng):
    """Body pieces in units of body height (Y up, depth away from the camera), with jitter."""
    j = lambda s=0.006: float(rng.normal(0.0, s))  # noqa: E731
    arm_out = 0.16 + j()
    pieces = [
        ("ell", (0.0, 0.43, 0.0), (0.055, 0.07, 0.06)),                       # head
        ("cap", (0.0, 0.37, 0.005), (0.0, 0.30, 0.01), 0.028),                # neck
        ("ell", (0.0, 0.20, 0.0), (0.11 + j(), 0.13, 0.07)),                  # chest
        ("ell", (0.0, 0.04, 0.005), (0.10 + j(), 0.10, 0.065)),               # pelvis
        # arm on image-right hangs down, slightly out
        ("cap", (0.10, 0.28, 0.0), (arm_out, 0.12, 0.01), 0.03),
        ("cap", (arm_out, 0.12, 0.01), (arm_out + 0.03, -0.03 + j(), 0.0), 0.026),
        ("ell", (arm_out + 0.035, -0.075, 0.0), (0.022, 0.045, 0.016)),       # hand
        # arm on image-left: elbow out, forearm across the belly toward the camera
        ("cap", (-0.10, 0.28, 0.0), (-0.15, 0.13, 0.03), 0.03),
        ("cap", (-0.15, 0.13, 0.03), (-0.02 + j(), 0.07, -0.12), 0.026),
        ("ell", (0.015, 0.065, -0.13), (0.04, 0.022, 0.017)),                 # hand
        # legs, slightly apart
        ("cap", (0.055, -0.02, 0.0), (0.07, -0.24, -0.01), 0.048),
        ("cap", (0.07, -0.24, -0.01), (0.078 + j(0.003), -0.455, 0.005), 0.036),
        ("ell", (0.082, -0.483, -0.03), (0.03, 0.017, 0.06)),                 # foot
        ("cap", (-0.055, -0.02, 0.0), (-0.07, -0.24, -0.01), 0.048),
        ("cap", (-0.07, -0.24, -0.01), (-0.078 + j(0.003), -0.455, 0.005), 0.036),
        ("ell", (-0.082, -0.483, -0.03), (0.03, 0.017, 0.06)),                # foot
    ]
    return pieces


def _render(pieces, X, Y, scale, inflate, skirt=None):
    acc = _Hits(*X.shape)
    for pc in pieces:
        if pc[0] == "ell":
            c = np.asarray(pc[1]) * scale
            ax = np.asarray(pc[2]) * scale + inflate
            _add_ellipsoid(acc, X, Y, c, ax)
        else:
            A = np.asarray(pc[1]) * scale
            B = np.asarray(pc[2]) * scale
            _add_capsule(acc, X, Y, A, B, pc[3] * scale + inflate)
    if skirt is not None:
        _add_skirt(acc, X, Y, **skirt)
    return acc


def _wrinkles(X, Y, rng, amp, n_waves=5, wl=(24.0, 70.0)):
    """g = amp * (1 + sum a_k sin(w_k . (X, Y) + phi_k)) / 2 in [0, amp], and its gradient."""
    a = rng.uniform(0.5, 1.0, n_waves)
    a = a / a.sum()
    g = np.ones_like(X)
    gX = np.zeros_like(X)
    gY = np.zeros_like(X)
    for k in range(n_waves):
        lam = rng.uniform(*wl)
        th = rng.uniform(0, np.pi)
        wx, wy = 2 * np.pi / lam * np.cos(th), 2 * np.pi / lam * np.sin(th)
        ph = rng.uniform(0, 2 * np.pi)
        arg = wx * X + wy * Y + ph
        g += a[k] * np.sin(arg)
        cs = a[k] * np.cos(arg)
        gX += cs * wx
        gY += cs * wy
    return 0.5 * amp * g, 0.5 * amp * gX, 0.5 * amp * gY


def _safe_ratio(num, den, eps=1e-4):
    den = np.where(np.abs(den) < eps, np.where(den < 0, -eps, eps), den)
    return num / den


def human_pair(H: int = 512, W: int = 512, seed: int = 0, noise: float = 0.0, skirt: bool = False):
    """Human-shaped front/back pair (orthographic), ECON-like.

    Body = union of ellipsoids and capsules (head, neck, chest, pelvis, two arms with hands, one
    forearm across the belly, two legs with feet) scaled so it spans 0.9*H. Clothing = the same
    pieces inflated by 0.01*H px, optionally (``skirt=True``) a hollow flared skirt from the hips
    that leaves the body, plus smooth wrinkles: front depth -= tau*g_F, back depth += tau*g_B, with g in
    [0, 0.004*H] px and tau a smoothstep of the local clothing thickness (so front and back still
    meet at the silhouette). Normals are analytic: piece normals corrected by the exact gradient of
    the displacement, hence consistent with ``depth_gt`` within every smooth piece; at occlusion
    jumps and creases they switch to the piece that is hit.

    Returns normals (2, H, W, 3) float32, mask (clothed silhouette), depth_gt (2, H, W),
    body_depth (2, H, W) (NaN outside the body silhouette), body_mask, scale (px per body height).
    ``noise`` = std of Gaussian noise added to normal components inside the mask (renormalised).

    At 512x512 (seed 0): 50,605 mask pixels per side (55,761 with the skirt), ~0.2 s. The prior is
    the *unclothed* body, 5-7 px behind the clothing, so d-BiNI's absolute offset error is about
    that much; with the skirt, the skirt is pulled onto the legs' prior (ECON's known behaviour for
    loose clothing), ~25 px off.
    """
    rng = np.random.default_rng(seed)
    X, Y = pixel_grid(H, W)
    scale = 0.9 * H
    pieces = _human_pieces(rng)
    inflate = 0.01 * H

    body = _render(pieces, X, Y, scale, 0.0)
    sk = None
    if skirt:
        sk = dict(centre=(0.0, 0.005 * scale), y_top=0.02 * scale, y_bot=-0.21 * scale,
                  ra0=0.115 * scale + inflate, rc0=0.075 * scale + inflate,
                  kx=0.38, kz=0.22)
    cloth = _render(pieces, X, Y, scale, inflate, sk)
    mask = cloth.mask

    # wrinkle displacement tapered by the local thickness
    dF, dB = cloth.dF, cloth.dB
    nF, nB = cloth.nF, cloth.nB
    thick = np.where(mask, dB - dF, 0.0)
    tau0 = 0.025 * H
    t = np.clip(thick / tau0, 0.0, 1.0)
    tau = t * t * (3.0 - 2.0 * t)
    dtau = np.where((t > 0) & (t < 1), 6.0 * t * (1.0 - t) / tau0, 0.0)
    # gradient of depth of a piece: (n_x / n_z, n_y / n_z) for either side
    thX = _safe_ratio(nB[..., 0], nB[..., 2]) - _safe_ratio(nF[..., 0], nF[..., 2])
    thY = _safe_ratio(nB[..., 1], nB[..., 2]) - _safe_ratio(nF[..., 1], nF[..., 2])
    tauX, tauY = dtau * thX, dtau * thY
    amp = 0.004 * H
    gF, gFX, gFY = _wrinkles(X, Y, rng, amp)
    gB, gBX, gBY = _wrinkles(X, Y, rng, amp)

    GF, GFX, GFY = tau * gF, tau * gFX + gF * tauX, tau * gFY + gF * tauY
    GB, GBX, GBY = tau * gB, tau * gBX + gB * tauX, tau * gBY + gB * tauY
    depth_F = dF - GF            # pulled toward the camera
    depth_B = dB + GB            # pushed away
    # D' = D -/+ G:  front n ~ (n_x - n_z G_X, n_y - n_z G_Y, n_z); back n ~ (n_x + n_z G_X, ...)
    nF2 = _unit(np.stack([nF[..., 0] - nF[..., 2] * GFX, nF[..., 1] - nF[..., 2] * GFY,
                          nF[..., 2]], -1))
    nB2 = _unit(np.stack([nB[..., 0] + nB[..., 2] * GBX, nB[..., 1] + nB[..., 2] * GBY,
                          nB[..., 2]], -1))
    normals = np.stack([nF2, nB2])
    if noise > 0:
        normals = np.stack([_add_noise(normals[s], mask, noise, rng) for s in range(2)])

    bmask = body.mask
    body_depth = np.stack([np.where(bmask, body.dF, np.nan), np.where(bmask, body.dB, np.nan)])
    out = _pack(normals, mask, np.stack([depth_F, depth_B]))
    out["depth_gt"] = np.where(mask[None], out["depth_gt"], np.nan)
    out["body_depth"] = body_depth
    out["body_mask"] = bmask
    out["scale"] = scale
    return out


# --------------------------------------------------------------------------------------------
# Awkward masks for operator tests
# --------------------------------------------------------------------------------------------

def _smooth_field(H, W, rng, n_waves=6, wl=(10.0, 40.0), amp=3.0):
    X, Y = pixel_grid(H, W)
    D = np.zeros((H, W))
    DX = np.zeros((H, W))
    DY = np.zeros((H, W))
    for _ in range(n_waves):
        lam = rng.uniform(*wl)
        th = rng.uniform(0, 2 * np.pi)
        wx, wy = 2 * np.pi / lam * np.cos(th), 2 * np.pi / lam * np.sin(th)
        ph = rng.uniform(0, 2 * np.pi)
        a = amp * rng.uniform(0.3, 1.0) / n_waves
        D += a * np.sin(wx * X + wy * Y + ph)
        DX += a * wx * np.cos(wx * X + wy * Y + ph)
        DY += a * wy * np.cos(wx * X + wy * Y + ph)
    return D, DX, DY


def random_mask(H: int, W: int, seed: int = 0, two_sided: bool = False):
    """Awkward mask (blobs with holes, one-pixel islands, 1-px lines, border contact) with smooth
    random normals consistent with a smooth random ``depth_gt``.

    Returns a dict like the other factories. With ``two_sided`` the back depth is the front depth
    plus a positive smooth thickness, and ``body_depth`` = depth_gt + 0.5 px on a random subset of
    the mask (NaN elsewhere).
    """
    rng = np.random.default_rng(seed)
    # blobs: thresholded low-pass noise
    white = rng.normal(size=(H, W))
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.fftfreq(W)[None, :]
    sigma = 0.03                                        # cycles / pixel: blobs ~ 10-30 px
    lowpass = np.exp(-(fx ** 2 + fy ** 2) / (2 * sigma ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(white) * lowpass))
    mask = field > np.quantile(field, 0.45)
    # holes (1-3 px) inside
    ii, jj = np.mgrid[0:H, 0:W]
    for _ in range(max(1, H * W // 600)):
        ci, cj = rng.integers(0, H), rng.integers(0, W)
        rad = rng.uniform(0.5, 2.0)
        mask &= (ii - ci) ** 2 + (jj - cj) ** 2 > rad ** 2
    # border contact: a block touching the top-left corner and one touching the bottom-right
    mask[: max(1, H // 6), : max(1, W // 5)] = True
    mask[H - max(1, H // 8):, W - max(1, W // 4):] = True
    # 1-px lines (a horizontal and a vertical segment) starting away from blobs
    r = rng.integers(H // 3, 2 * H // 3)
    mask[r, W // 4: W // 2] = True
    c = rng.integers(W // 3, 2 * W // 3)
    mask[H // 4: H // 2, c] = True
    # one-pixel islands: isolated by clearing their 8-neighbourhood
    for _ in range(max(2, H * W // 800)):
        ci, cj = rng.integers(1, H - 1), rng.integers(1, W - 1)
        mask[ci - 1:ci + 2, cj - 1:cj + 2] = False
        mask[ci, cj] = True

    D, DX, DY = _smooth_field(H, W, rng)
    nF = _front_normals(DX, DY)
    if not two_sided:
        return _pack(nF, mask, D)
    T, TX, TY = _smooth_field(H, W, rng, amp=2.0)
    DB = D + 6.0 + T
    DBX, DBY = DX + TX, DY + TY
    nB = -_front_normals(DBX, DBY)
    out = _pack(np.stack([nF, nB]), mask, np.stack([D, DB]))
    out["depth_gt"] = np.where(mask[None], out["depth_gt"], np.nan)
    sub = mask & (rng.random((H, W)) < 0.6)
    out["body_depth"] = np.where(sub[None], np.stack([D, DB]) + 0.5, np.nan)
    return out


# --------------------------------------------------------------------------------------------
# Metric
# --------------------------------------------------------------------------------------------

def depth_error(pred, gt, mask=None, align: str = "offset"):
    """Mean absolute depth error per side.

    align: "offset" (default) removes the median of (gt - pred) first; "scale" multiplies pred by
    median(gt / pred) (BiNI's MADE, for perspective results); "none" compares as is.
    pred, gt: (H, W) or (2, H, W); mask: (H, W) bool or None (= where both are finite).
    Returns a float for (H, W) inputs, an ndarray (2,) for (2, H, W).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {pred.shape} vs {gt.shape}")
    single = pred.ndim == 2
    P = pred[None] if single else pred
    G = gt[None] if single else gt
    errs = []
    for s in range(P.shape[0]):
        m = np.isfinite(P[s]) & np.isfinite(G[s])
        if mask is not None:
            m &= np.asarray(mask, dtype=bool)
        p, g = P[s][m], G[s][m]
        if align == "offset":
            p = p + np.median(g - p)
        elif align == "scale":
            p = p * np.median(g / p)
        elif align != "none":
            raise ValueError(f"align must be 'offset', 'scale' or 'none', got {align!r}")
        errs.append(float(np.mean(np.abs(p - g))))
    return errs[0] if single else np.array(errs)
