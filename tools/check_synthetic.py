#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end check of econ_fast.synthetic against d-BiNI: generate a set of people, integrate
their normal maps with d-BiNI (ECON's parameters) and measure how far the front/back sheets lie from
the ground-truth clothed mesh (exact point-to-surface distance, econ_fast.MeshQuery).

    OPENBLAS_NUM_THREADS=1 python tools/check_synthetic.py [--n 20] [--size 512] [--seed 0]
        [--prior-thickness 0.02] [--noise 0.0]

Prints one line per person and the medians: generation time, d-BiNI time, and the sheet-to-GT
distance (mean over sheet vertices) in crop units and in millimetres of the generated person.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from econ_fast import MeshQuery, dbini, synthetic  # noqa: E402
from econ_fast.mesh import Mesh  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prior-thickness", type=float, default=0.02)
    ap.add_argument("--noise", type=float, default=0.0)
    a = ap.parse_args()
    rows = []
    for i in range(a.n):
        g = ("tight", "loose", "skirt", "jacket", "shorts")[i % 5]
        s = synthetic.generate(seed=a.seed * 1000 + i, size=a.size, garment=g, normal_noise=a.noise,
                               prior_thickness=a.prior_thickness)
        t0 = time.perf_counter()
        res = dbini.solve(s.normals, s.body_depth, s.mask[0])
        t_solve = time.perf_counter() - t0
        sheets = Mesh.concatenate(list(dbini.depth_to_mesh(res, pixel_center=True)))
        d = np.asarray(MeshQuery(s.clothed.vertices, s.clothed.faces).distance(sheets.vertices), np.float64)
        mm = 1000.0 / s.params["derived"]["crop_scale_per_metre"]
        rows.append((s.seconds, t_solve, d.mean(), np.median(d), d.mean() * mm))
        print(f"{i:3d} {g:7s} gen {s.seconds:5.2f} s  d-BiNI {t_solve:5.2f} s ({res.iterations:3d} it)  "
              f"sheet->GT mean {d.mean():.4f} median {np.median(d):.4f} p90 {np.percentile(d, 90):.4f} units "
              f"(mean {d.mean() * mm:5.1f} mm)")
    r = np.array(rows)
    print(f"median over {a.n}: generation {np.median(r[:, 0]):.2f} s, d-BiNI {np.median(r[:, 1]):.2f} s, "
          f"sheet->GT mean distance {np.median(r[:, 2]):.4f} units ({np.median(r[:, 4]):.1f} mm); "
          f"mean of means {r[:, 2].mean():.4f} units ({r[:, 4].mean():.1f} mm)")


if __name__ == "__main__":
    main()
