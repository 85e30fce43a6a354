# SPDX-License-Identifier: Apache-2.0
"""Run on a GPU machine after a CUDA build: CPU vs CUDA d-BiNI agreement and GPU timings.

    python tools/gpu_check.py [--sizes 512 1024]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import cases  # noqa: E402

import econ_fast  # noqa: E402
from econ_fast import dbini  # noqa: E402


def med(f, n=5):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        r = f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    args = ap.parse_args()
    print(json.dumps(econ_fast.build_info()), "has_cuda", econ_fast.has_cuda())
    import torch

    print("torch", torch.__version__, torch.cuda.get_device_name(0))
    try:
        import cupy
    except ImportError:
        cupy = None
    for size in args.sizes:
        c = cases.human_pair(size, size, seed=0)
        n, b, m = c["normals"], c["body_depth"], c["mask"]
        for solver in ("fast", "jacobi"):
            tc, rc = med(lambda: dbini.solve(n, b, m, solver=solver), 3)
            nt, bt, mt = (torch.from_numpy(np.ascontiguousarray(x)).cuda() for x in (n, b, m))
            dbini.solve(nt, bt, mt, solver=solver)  # warm-up (context, allocations)
            torch.cuda.synchronize()
            tg, rg = med(lambda: dbini.solve(nt, bt, mt, solver=solver), 5)
            dg = rg.depth.cpu().numpy()
            diff = np.nanmax(np.abs(dg - rc.depth))
            err_c = cases.depth_error(rc.depth, c["depth_gt"], m)
            err_g = cases.depth_error(dg, c["depth_gt"], m)
            print(f"{size} {solver:6s} cpu {tc*1e3:8.1f} ms it {rc.iterations} cg {rc.cg_iterations} err {err_c} | "
                  f"cuda(torch) {tg*1e3:8.1f} ms it {rg.iterations} cg {rg.cg_iterations} err {err_g} | "
                  f"max|cpu-gpu| {diff:.3e} type {type(rg.depth).__name__} {rg.depth.device}")
            print("   gpu timings", {k: round(v * 1e3, 2) for k, v in rg.timings.items()})
            if cupy is not None:
                nc, bc, mc = (cupy.asarray(x) for x in (n, b, m))
                tq, rq = med(lambda: dbini.solve(nc, bc, mc, solver=solver), 3)
                dq = cupy.asnumpy(rq.depth)
                print(f"   cupy {tq*1e3:.1f} ms type {type(rq.depth).__name__} max|cupy-torch| {np.nanmax(np.abs(dq-dg)):.3e}")
    # batch on GPU
    c = cases.human_pair(256, 256, seed=1)
    nt = torch.from_numpy(c["normals"]).cuda()
    bt = torch.from_numpy(c["body_depth"]).cuda()
    mt = torch.from_numpy(c["mask"]).cuda()
    t, rs = med(lambda: dbini.solve_batch([nt] * 8, [bt] * 8, [mt] * 8), 3)
    print(f"batch 8x256 cuda {t*1e3:.1f} ms, iterations {[r.iterations for r in rs]}")


if __name__ == "__main__":
    main()
