#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerate econ_fast/data/sample_dbini.npz (the demo input) from tests/cases.py.

    python tools/make_sample.py [--size 512] [--seed 0] [--out econ_fast/data/sample_dbini.npz]

Deterministic: same numpy, same file contents. See econ_fast/data/__init__.py for the format.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

import cases  # noqa: E402

# Import the data module by path: it needs no native build.
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("_ef_data", os.path.join(ROOT, "econ_fast", "data", "__init__.py"))
D = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(D)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=D.sample_path("dbini"))
    a = ap.parse_args()
    c = cases.human_pair(a.size, a.size, seed=a.seed)
    mask, bmask = c["mask"], c["body_mask"]
    q = lambda x: np.round(x / D.DEPTH_STEP).astype(np.int16)  # noqa: E731
    bd = c["body_depth"][:, bmask]
    gt = c["depth_gt"][:, mask]
    lim = 32767 * D.DEPTH_STEP
    if np.abs(bd).max() > lim or np.abs(gt).max() > lim:
        raise SystemExit(f"depth exceeds the int16 range of {lim} px; lower --size")
    np.savez_compressed(
        a.out,
        format=np.array(D.SAMPLE_FORMAT),
        shape=np.array([a.size, a.size], np.int32),
        mask_bits=np.packbits(mask),
        body_mask_bits=np.packbits(bmask),
        normals_oct=np.stack([D.oct_encode(c["normals"][s][mask]) for s in range(2)]),
        body_depth_q=q(bd),
        depth_gt_q=q(gt),
        meta_generator=np.array(f"tests/cases.py::human_pair({a.size}, {a.size}, seed={a.seed})"),
        meta_seed=np.array(a.seed),
        meta_scale=np.array(float(c["scale"])),
        meta_units=np.array("depth in pixels, growing away from the front camera; normals world frame "
                            "(x right, y up, z toward the front camera), back map mirrored left-right"),
    )
    s = D.load_sample(path=a.out)
    err_n = np.abs(s["normals"] - c["normals"]).max()
    err_d = np.nanmax(np.abs(s["body_depth"] - c["body_depth"]))
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e6:.3f} MB, {int(mask.sum())} mask pixels, "
          f"max normal error {err_n:.1e}, max depth error {err_d:.1e} px")


if __name__ == "__main__":
    main()
