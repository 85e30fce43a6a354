# SPDX-License-Identifier: Apache-2.0
"""Argument checks shared by the public functions (one wording for every module's errors)."""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["number"]


def number(name: str, v, lo=None, lo_open: bool = False, hi=None, integer: bool = False,
           allow_inf: bool = False, int_max: int | None = None):
    """``v`` as a float (or an int when ``integer``), or a TypeError/ValueError naming ``name``.

    lo / hi: bounds (``lo_open``: strictly above ``lo``); integer: a whole number, returned as int
    (at most ``int_max`` when given); allow_inf: +-inf is accepted (NaN never is)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    f = float(v)
    if math.isnan(f) or (math.isinf(f) and not (allow_inf and not integer)):
        raise ValueError(f"{name} must be {'a number' if allow_inf else 'finite'}, got {v}")
    if integer:
        if f != int(v):
            raise ValueError(f"{name} must be a whole number, got {v}")
        v = int(v)
        if int_max is not None and v > int_max:
            raise ValueError(f"{name} must be at most {int_max}, got {v}")
    else:
        v = f
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v
