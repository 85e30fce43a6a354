# SPDX-License-Identifier: Apache-2.0
"""Quick timing of econ_fast.poisson against Open3D's PoissonRecon port (and pypoisson2 when it is
installed) on the same oriented points, same process, medians of --repeat runs.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/poisson_timing.py --n 300000 --depths 8 9 10 --repeat 3

Input: a smooth closed blob (a sphere with a low-frequency radial bump), points uniform on the
sphere's parameter, exact normals. Peak memory is the growth of the process's max RSS during a call
(ru_maxrss), so run one library per process (--only) for clean memory figures.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def blob(n, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    # r(d) = 1 + 0.15 * x*y*z-ish bump: smooth, closed, star-shaped.
    def r(d):
        return 1.0 + 0.15 * np.sin(3 * d[:, 0]) * np.cos(2 * d[:, 1]) + 0.1 * d[:, 2] ** 2
    p = d * r(d)[:, None]
    # Normal from the gradient of |x| - r(x/|x|), by finite differences.
    eps = 1e-5
    g = np.zeros_like(p)
    for k in range(3):
        e = np.zeros(3)
        e[k] = eps
        f = lambda x: np.linalg.norm(x, axis=1) - r(x / np.linalg.norm(x, axis=1, keepdims=True))  # noqa: E731
        g[:, k] = (f(p + e) - f(p - e)) / (2 * eps)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return p, g


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_ours(p, n, depth):
    from econ_fast import poisson
    r = poisson.reconstruct(p, n, depth=depth)
    return r.mesh.n_faces, r.timings


def run_o3d(p, n, depth):
    import open3d as o3d
    pc = o3d.geometry.PointCloud()
    pc.points = o3d.utility.Vector3dVector(p)
    pc.normals = o3d.utility.Vector3dVector(n)
    m, _ = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pc, depth=depth, width=0, scale=1.1,
                                                                     linear_fit=False, n_threads=2)
    return len(m.triangles), {}


def run_pypoisson2(p, n, depth):
    import pypoisson2
    out = pypoisson2.poisson_reconstruction(p, n, depth=depth)
    return len(out[1]), {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300000)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 9, 10])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["ours", "open3d", "pypoisson2"], default=None)
    a = ap.parse_args()
    import econ_fast
    econ_fast.set_num_threads(2)
    p, n = blob(a.n)
    libs = {"ours": run_ours, "open3d": run_o3d}
    try:
        import pypoisson2  # noqa: F401
        libs["pypoisson2"] = run_pypoisson2
    except ImportError:
        pass
    if a.only:
        libs = {a.only: libs[a.only]}
    for depth in a.depths:
        res = {}
        for name, fn in libs.items():
            ts, rss0 = [], maxrss_mb()
            for _ in range(a.repeat):
                t = time.perf_counter()
                nf, tim = fn(p, n, depth)
                ts.append(time.perf_counter() - t)
            res[name] = statistics.median(ts)
            extra = " ".join(f"{k}={v:.2f}" for k, v in tim.items())
            print(f"depth {depth} {name:10s} median {res[name]:7.2f} s  runs {[round(x, 2) for x in ts]}  faces {nf}"
                  f"  maxrss+ {maxrss_mb() - rss0:.0f} MB  {extra}", flush=True)
        if "ours" in res:
            for name in res:
                if name != "ours":
                    print(f"depth {depth} speedup vs {name}: {res[name] / res['ours']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
