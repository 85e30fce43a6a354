# SPDX-License-Identifier: Apache-2.0
"""Bundled demo data.

``sample_dbini.npz`` is a synthetic, license-clean d-BiNI input made by ``tools/make_sample.py``
from ``tests/cases.py::human_pair(512, 512, seed=0)``: front/back normal maps of a clothed
human-like shape, the clothed mask, an unclothed "body" depth prior and the ground-truth depth.
To keep it small (< 1 MB) it stores only the masked pixels, normals as 16-bit octahedral
codes (max angular error ~0.02 degrees) and depths as int16 in 1/64 px (max error 1/128 px).
:func:`load_sample` decodes it to the arrays :func:`econ_fast.dbini.solve` takes.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_sample", "sample_path"]

SAMPLE_FORMAT = "econ_fast-sample-1"
DEPTH_STEP = 1.0 / 64.0           # px per int16 step
OCT_SCALE = 32767.0


def sample_path(name: str = "dbini") -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), f"sample_{name}.npz")


def oct_encode(n: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors -> (..., 2) int16 octahedral codes."""
    n = np.asarray(n, np.float64)
    p = n[..., :2] / np.maximum(np.abs(n).sum(-1, keepdims=True), 1e-300)
    sign = np.where(p >= 0, 1.0, -1.0)
    folded = (1.0 - np.abs(p[..., ::-1])) * sign
    p = np.where((n[..., 2] < 0)[..., None], folded, p)
    return np.round(np.clip(p, -1, 1) * OCT_SCALE).astype(np.int16)


def oct_decode(q: np.ndarray) -> np.ndarray:
    """(..., 2) int16 octahedral codes -> (..., 3) float64 unit vectors."""
    p = np.asarray(q, np.float64) / OCT_SCALE
    z = 1.0 - np.abs(p).sum(-1)
    t = np.maximum(-z, 0.0)[..., None]
    xy = p - np.where(p >= 0, t, -t)
    v = np.concatenate([xy, z[..., None]], axis=-1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _unpack(bits, H, W):
    return np.unpackbits(np.asarray(bits, np.uint8), count=H * W).reshape(H, W).astype(bool)


def load_sample(name: str = "dbini", path: str = None) -> dict:
    """Decode a bundled sample. Returns a dict with ``normals`` (2,H,W,3) float32 (zero outside the
    mask), ``mask`` (H,W) bool, ``body_depth`` (2,H,W) float64 (NaN off the body), ``body_mask``,
    ``depth_gt`` (2,H,W) float64 (NaN outside the mask), and ``meta`` (dict: generator, seed, ...).
    Depth is in pixels, growing away from the front camera (the conventions of ``dbini.solve``)."""
    path = path or sample_path(name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"sample {name!r} not found at {path} (regenerate it with tools/make_sample.py)")
    try:
        z = np.load(path, allow_pickle=False)
        fmt = str(z["format"])
        if fmt != SAMPLE_FORMAT:
            raise ValueError(f"{path}: unknown sample format {fmt!r}, expected {SAMPLE_FORMAT!r}")
        H, W = (int(v) for v in z["shape"])
        mask = _unpack(z["mask_bits"], H, W)
        body_mask = _unpack(z["body_mask_bits"], H, W)
        N, Nb = int(mask.sum()), int(body_mask.sum())
        nq = z["normals_oct"]
        if nq.shape != (2, N, 2):
            raise ValueError(f"{path}: normals_oct has shape {nq.shape}, expected {(2, N, 2)}")
        normals = np.zeros((2, H, W, 3), np.float32)
        normals[:, mask] = oct_decode(nq).astype(np.float32)
        body = np.full((2, H, W), np.nan)
        bq = z["body_depth_q"]
        if bq.shape != (2, Nb):
            raise ValueError(f"{path}: body_depth_q has shape {bq.shape}, expected {(2, Nb)}")
        body[:, body_mask] = bq.astype(np.float64) * DEPTH_STEP
        gt = np.full((2, H, W), np.nan)
        gq = z["depth_gt_q"]
        if gq.shape != (2, N):
            raise ValueError(f"{path}: depth_gt_q has shape {gq.shape}, expected {(2, N)}")
        gt[:, mask] = gq.astype(np.float64) * DEPTH_STEP
        meta = {k[5:]: z[k].item() for k in z.files if k.startswith("meta_")}
    except (KeyError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a valid econ_fast sample ({e})") from None
    return {"normals": normals, "mask": mask, "body_depth": body, "body_mask": body_mask,
            "depth_gt": gt, "meta": meta}
