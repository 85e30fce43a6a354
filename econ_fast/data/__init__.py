# SPDX-License-Identifier: Apache-2.0
"""Bundled demo data.

Two samples, both synthetic and license-clean:

* ``sample_dbini.npz`` (``load_sample("dbini")``), made by ``tools/make_sample.py`` from
  ``tests/cases.py::human_pair(512, 512, seed=0)``: front/back normal maps of a clothed human-like
  shape, the clothed mask, an unclothed "body" depth prior and the ground-truth depth. To keep it
  small (< 1 MB) it stores only the masked pixels, normals as 16-bit octahedral codes (max angular
  error ~0.02 degrees) and depths as int16 in 1/64 px (max error 1/128 px).
* ``sample_human.npz`` (``load_sample("human")`` or :func:`load_human`), made by
  ``tools/make_synthetic_sample.py`` with :func:`econ_fast.synthetic.generate` (a CC0 MakeHuman
  body in a skirt, 512x512): the clothed front/back normal maps (octahedral int16 codes on the
  mask), the posed body mesh and the ground-truth clothed mesh (vertices int16 in 1/16384 crop
  units, faces uint16). The body depth prior, the body normal maps and the ground-truth depth are
  rendered from the stored meshes at load time with :func:`econ_fast.render_depth_normals`
  exactly as the generator renders them, so the file stays small; neither anny nor torch is needed.

:func:`load_sample` decodes either to the arrays :func:`econ_fast.dbini.solve` takes.
"""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["load_sample", "load_human", "sample_path"]

SAMPLE_FORMAT = "econ_fast-sample-1"
HUMAN_FORMAT = "econ_fast-human-1"
VERTEX_STEP = 1.0 / 16384.0       # crop units per int16 step (max |coordinate| < 2)
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
    """Decode a bundled sample (``"dbini"`` or ``"human"``). Returns a dict with ``normals`` (2,H,W,3) float32 (zero outside the
    mask), ``mask`` (H,W) bool, ``body_depth`` (2,H,W) float64 (NaN off the body), ``body_mask``,
    ``depth_gt`` (2,H,W) float64 (NaN outside the mask), and ``meta`` (dict: generator, seed, ...).
    Depth is in pixels, growing away from the front camera (the conventions of ``dbini.solve``)."""
    if name == "human":
        h = load_human(path)
        m = h.mask[0]
        normals = np.where(m[None, ..., None], h.normals, 0.0).astype(np.float32)
        body = h.body_depth.astype(np.float64)
        return {"normals": normals, "mask": m, "body_depth": body, "body_mask": np.isfinite(body[0]),
                "depth_gt": h.depth.astype(np.float64), "body_normals": h.body_normals,
                "body": h.body, "clothed": h.clothed,
                "meta": {"generator": "econ_fast.synthetic.generate", "seed": h.params["seed"],
                         "garment": h.params["garment"], "prior_thickness": h.params["prior_thickness"]}}
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


def _dq(z, key, shape, path):
    a = z[key]
    if a.shape != shape:
        raise ValueError(f"{path}: {key} has shape {a.shape}, expected {shape}")
    return a


def load_human(path: str = None):
    """The bundled synthetic clothed human as an :class:`econ_fast.synthetic.Sample` (normals NaN
    outside the mask; body prior, body normals and ground-truth depth rendered from the stored
    meshes, see the module docstring)."""
    from ..mesh import Mesh
    from ..synthetic import Sample, render_maps

    path = path or sample_path("human")
    if not os.path.exists(path):
        raise FileNotFoundError(f"sample 'human' not found at {path} (regenerate it with tools/make_synthetic_sample.py)")
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"])
            if fmt != HUMAN_FORMAT:
                raise ValueError(f"{path}: unknown sample format {fmt!r}, expected {HUMAN_FORMAT!r}")
            H, W = (int(v) for v in z["shape"])
            mask = _unpack(z["mask_bits"], H, W)
            N = int(mask.sum())
            normals = np.full((2, H, W, 3), np.nan, np.float32)
            normals[:, mask] = oct_decode(_dq(z, "normals_oct", (2, N, 2), path)).astype(np.float32)
            bv = z["body_vertices_q"].astype(np.float32) * np.float32(VERTEX_STEP)
            bf = z["body_faces"].astype(np.int32)
            cv = z["clothed_vertices_q"].astype(np.float32) * np.float32(VERTEX_STEP)
            cf = np.concatenate([bf, z["clothed_extra_faces"].astype(np.int32)])
            params = json.loads(str(z["params"]))
    except (KeyError, OSError, EOFError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a valid econ_fast human sample ({e})") from None
    body, clothed = Mesh(bv, bf), Mesh(cv, cf)
    m2, depth, _, body_depth, body_normals = render_maps(clothed, body, H, params["prior_thickness"])
    if not np.array_equal(m2[0], mask):
        # the stored mask is authoritative (rendering the quantised mesh may differ by a pixel)
        depth = np.where(mask[None], depth, np.nan).astype(np.float32)
    return Sample(normals=normals, mask=np.stack([mask, mask]), body_depth=body_depth, body_normals=body_normals,
                  depth=depth, body=body, clothed=clothed, params=params)
