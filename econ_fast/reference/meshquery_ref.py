# SPDX-License-Identifier: Apache-2.0
"""Brute-force numpy (float64) oracles of the mesh queries: every point against every face.

Deliberately a different method from the kernels: the closest point on a triangle is the plane
projection when it falls inside the triangle (all barycentrics >= 0), otherwise the best of the
three clamped segment projections; the winding number is the plain sum of solid angles; rays use
Moller-Trumbore. O(P * F) memory in chunks; meant for tests (P * F up to ~1e7).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "closest_point",
    "winding_number",
    "signed_distance",
    "ray_cast",
    "vertex_normals",
    "projected_barycentric",
]


def _chunks(n, per):
    for s in range(0, n, per):
        yield s, min(n, s + per)


def _segment(p, a, b):
    """Closest point parameters on segments a->b for points p: all (..., 3) broadcast."""
    ab = b - a
    l2 = (ab * ab).sum(-1)
    s = np.where(l2 > 0, ((p - a) * ab).sum(-1) / np.where(l2 > 0, l2, 1.0), 0.0)
    s = np.clip(s, 0.0, 1.0)
    q = a + s[..., None] * ab
    return s, ((p - q) ** 2).sum(-1)


def closest_point(points, vertices, faces, chunk_elems: int = 4_000_000):
    """Returns (squared_distance (P,), face (P,), closest (P,3), barycentric (P,3)), float64.

    Ties are broken towards the lowest face index; compare distances or closest points, not faces.
    """
    P = np.asarray(points, np.float64).reshape(-1, 3)
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)
    A, B, C = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    n = np.cross(B - A, C - A)
    n2 = (n * n).sum(-1)
    e1, e2 = B - A, C - A
    # Degenerate (segments only) when sin of the corner angle at A is below 1e-9: the plane
    # barycentrics below lose ~1e-16 / sin relative accuracy, while the segments-only answer is
    # off by at most the smallest height, < 1e-9 of the longest edge; both far below float32.
    degenerate = ~(n2 > 1e-18 * (e1 * e1).sum(-1) * (e2 * e2).sum(-1))
    nsafe = np.where(degenerate[:, None], 0.0, n / np.where(n2 > 0, n2, 1.0)[:, None])
    per = max(1, chunk_elems // max(1, len(F)))
    d2_out = np.empty(len(P))
    f_out = np.empty(len(P), np.int64)
    w_out = np.empty((len(P), 3))
    for s, e in _chunks(len(P), per):
        p = P[s:e, None, :]  # (p, 1, 3)
        ap = p - A[None]
        # Plane projection barycentrics (Heidrich 2005 form).
        wb = (np.cross(ap, C - A) * nsafe).sum(-1)
        wc = (np.cross(B - A, ap) * nsafe).sum(-1)
        wa = 1.0 - wb - wc
        inside = (wa >= 0) & (wb >= 0) & (wc >= 0) & ~degenerate[None]
        # The inside point is the plane projection (well conditioned even for thin triangles).
        q_in = p - (ap * nsafe).sum(-1)[..., None] * np.where(degenerate[:, None], 0.0, n)[None]
        d_in = np.where(inside, ((p - q_in) ** 2).sum(-1), np.inf)
        s0, d0 = _segment(p, A[None], B[None])
        s1, d1 = _segment(p, B[None], C[None])
        s2, d2 = _segment(p, C[None], A[None])
        D = np.stack([d_in, d0, d1, d2])  # (4, p, F)
        which = D.argmin(0)
        dmin = D.min(0)
        j = dmin.argmin(1)
        r = np.arange(e - s)
        d2_out[s:e] = dmin[r, j]
        f_out[s:e] = j
        k = which[r, j]
        w = np.zeros((e - s, 3))
        w[k == 0] = np.stack([wa[r, j], wb[r, j], wc[r, j]], 1)[k == 0]
        w[k == 1, 0] = 1 - s0[r, j][k == 1]
        w[k == 1, 1] = s0[r, j][k == 1]
        w[k == 2, 1] = 1 - s1[r, j][k == 2]
        w[k == 2, 2] = s1[r, j][k == 2]
        w[k == 3, 2] = 1 - s2[r, j][k == 3]
        w[k == 3, 0] = s2[r, j][k == 3]
        w_out[s:e] = w
    cp = (w_out[:, :, None] * V[F[f_out]]).sum(1)
    return d2_out, f_out, cp, w_out


def projected_barycentric(points, vertices, faces, face_index):
    """Unclamped barycentrics of each point's projection onto the plane of face_index[i]."""
    P = np.asarray(points, np.float64).reshape(-1, 3)
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)[np.asarray(face_index)]
    A, B, C = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    n = np.cross(B - A, C - A)
    n2 = (n * n).sum(-1, keepdims=True)
    ap = P - A
    wb = (np.cross(ap, C - A) * n).sum(-1) / n2[:, 0]
    wc = (np.cross(B - A, ap) * n).sum(-1) / n2[:, 0]
    return np.stack([1 - wb - wc, wb, wc], 1)


def winding_number(points, vertices, faces, chunk_elems: int = 4_000_000):
    """Generalised winding number: sum over faces of the signed solid angle / (4 pi)
    (Van Oosterom & Strackee 1983), float64."""
    P = np.asarray(points, np.float64).reshape(-1, 3)
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)
    A, B, C = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    per = max(1, chunk_elems // max(1, len(F)))
    out = np.empty(len(P))
    for s, e in _chunks(len(P), per):
        p = P[s:e, None, :]
        a, b, c = A[None] - p, B[None] - p, C[None] - p
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        num = (a * np.cross(b, c)).sum(-1)
        den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
        out[s:e] = (np.arctan2(num, den) / (2 * np.pi)).sum(1)
    return out


def signed_distance(points, vertices, faces):
    """Distance with the winding-number sign: negative where the winding number exceeds 1/2."""
    d2, _, _, _ = closest_point(points, vertices, faces)
    w = winding_number(points, vertices, faces)
    return np.where(w > 0.5, -1.0, 1.0) * np.sqrt(d2)


def ray_cast(origins, directions, vertices, faces, tmin=0.0, tmax=np.inf, chunk_elems: int = 4_000_000):
    """First hits by Moller-Trumbore (1997) in float64: (t (R,), face (R,), barycentric (R,3)).
    Misses: t = inf, face = -1, barycentric NaN. Rays grazing an edge may differ from a watertight
    test; compare away from edges or by hit point."""
    O = np.asarray(origins, np.float64).reshape(-1, 3)
    D = np.asarray(directions, np.float64).reshape(-1, 3)
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)
    A, B, C = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    e1, e2 = B - A, C - A
    per = max(1, chunk_elems // max(1, len(F)))
    t_out = np.full(len(O), np.inf)
    f_out = np.full(len(O), -1, np.int64)
    w_out = np.full((len(O), 3), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for s, e in _chunks(len(O), per):
            o, d = O[s:e, None, :], D[s:e, None, :]
            pv = np.cross(d, e2[None])
            det = (e1[None] * pv).sum(-1)
            inv = 1.0 / det
            tv = o - A[None]
            u = (tv * pv).sum(-1) * inv
            qv = np.cross(tv, e1[None])
            v = (d * qv).sum(-1) * inv
            t = (e2[None] * qv).sum(-1) * inv
            ok = (det != 0) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= tmin) & (t <= tmax)
            t = np.where(ok, t, np.inf)
            j = t.argmin(1)
            r = np.arange(e - s)
            tt = t[r, j]
            hit = np.isfinite(tt)
            t_out[s:e] = tt
            f_out[s:e] = np.where(hit, j, -1)
            w = np.stack([1 - u[r, j] - v[r, j], u[r, j], v[r, j]], 1)
            w_out[s:e] = np.where(hit[:, None], w, np.nan)
    return t_out, f_out, w_out


def vertex_normals(vertices, faces, weighting: str = "angle"):
    """Unit vertex normals, angle- or area-weighted (zero for isolated vertices), float64."""
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)
    P = V[F]  # (F, 3, 3)
    n = np.cross(P[:, 1] - P[:, 0], P[:, 2] - P[:, 0])
    out = np.zeros_like(V)
    if weighting == "area":
        for j in range(3):
            np.add.at(out, F[:, j], n)
    else:
        l = np.linalg.norm(n, axis=1)
        e1 = P[:, 1] - P[:, 0]
        e2 = P[:, 2] - P[:, 0]
        ok = l**2 > 1e-12 * (e1 * e1).sum(1) * (e2 * e2).sum(1)
        un = np.where(ok[:, None], n / np.where(l > 0, l, 1)[:, None], 0.0)
        for j in range(3):
            u = P[:, (j + 1) % 3] - P[:, j]
            v = P[:, (j + 2) % 3] - P[:, j]
            ang = np.arctan2(np.linalg.norm(np.cross(u, v), axis=1), (u * v).sum(1))
            np.add.at(out, F[:, j], ang[:, None] * un)
    l = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(l > 0, out / np.where(l > 0, l, 1), 0.0)
