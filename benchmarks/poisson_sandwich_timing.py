# SPDX-License-Identifier: Apache-2.0
"""ECON-like sandwich input (two 512x512 orthographic depth sheets of an ellipsoidal body, plus
sparse side points), depth 10: econ_fast.poisson vs Open3D, same process.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/poisson_sandwich_timing.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np
from econ_fast import poisson
# Two 512x512 orthographic depth sheets of an ellipsoid (front z>0, back z<0) plus sparse sides.
a, b, c = 0.45, 0.9, 0.25
u = (np.arange(512) + 0.5) / 256 - 1
X, Y = np.meshgrid(u, u)
q = 1 - (X / a) ** 2 - (Y / b) ** 2
m = q > 0.02
Z = c * np.sqrt(q[m])
pts, nrm = [], []
for s in (1, -1):
    P = np.stack([X[m], Y[m], s * Z], 1)
    N = np.stack([P[:, 0] / a**2, P[:, 1] / b**2, P[:, 2] / c**2], 1)
    pts.append(P); nrm.append(N)
rng = np.random.default_rng(0)
d = rng.normal(size=(20000, 3)); d /= np.linalg.norm(d, axis=1, keepdims=True)
P = d * [a, b, c]; P = P[np.abs(P[:, 2]) < 0.08]
pts.append(P); nrm.append(P / np.array([a, b, c]) ** 2)
p = np.concatenate(pts); n = np.concatenate(nrm)
print("points", len(p))
for rep in range(3):
    t = time.perf_counter()
    r = poisson.reconstruct(p, n, depth=10)
    print("depth 10: %.2f s" % (time.perf_counter() - t), r.nodes, r.iterations, {k: round(v, 2) for k, v in r.timings.items()}, r.mesh, "watertight", r.mesh.is_watertight(), "finest", r.finest_level)
import open3d as o3d
pc = o3d.geometry.PointCloud(); pc.points = o3d.utility.Vector3dVector(p); pc.normals = o3d.utility.Vector3dVector(n / np.linalg.norm(n, axis=1, keepdims=True))
for rep in range(2):
    t = time.perf_counter()
    mm, dd = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pc, depth=10, width=0, scale=1.1, linear_fit=False, n_threads=2)
    print("open3d depth 10: %.2f s" % (time.perf_counter() - t), len(mm.triangles), "faces")
