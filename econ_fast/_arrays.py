# SPDX-License-Identifier: Apache-2.0
"""Array-namespace handling: numpy in, numpy out; torch in, torch out; cupy in, cupy out.

The native core reads any array through DLPack (zero-copy) and never links against torch. Here we
only decide what kind of array the caller gave, make it contiguous with the right dtype *in the
caller's namespace* (a no-op when it already is), and allocate outputs there, on the same device.
CPU torch tensors are handled through zero-copy numpy views, so all host-side checks are numpy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Namespace", "namespace_of"]


def _root(x) -> str:
    return type(x).__module__.split(".", 1)[0]


class Namespace:
    """What the caller's arrays are, and how to make more of them."""

    def __init__(self, kind: str, device=None):
        self.kind = kind  # "numpy", "torch" (CPU, viewed as numpy), "torch-cuda", "cupy"
        self.device = device

    @property
    def on_gpu(self) -> bool:
        return self.kind in ("torch-cuda", "cupy")

    @property
    def device_str(self) -> str:
        if self.kind == "cupy":
            return f"cuda:{self.device}"
        if self.kind == "torch-cuda":
            return str(self.device)
        return "cpu"

    # -- conversion of one input -------------------------------------------------------------
    def prepare(self, x, dtype: str):
        """Contiguous array of `dtype` ("float32", "float64", "uint8") in this namespace."""
        if self.kind in ("numpy", "torch"):
            return np.ascontiguousarray(_to_numpy(x), dtype=dtype)
        if self.kind == "torch-cuda":
            import torch

            return x.to(dtype=getattr(torch, dtype)).contiguous()
        import cupy

        return cupy.ascontiguousarray(x, dtype=dtype)

    def empty(self, shape, dtype: str):
        if self.kind in ("numpy", "torch"):
            return np.empty(shape, dtype=dtype)
        if self.kind == "torch-cuda":
            import torch

            return torch.empty(shape, dtype=getattr(torch, dtype), device=self.device)
        import cupy

        with cupy.cuda.Device(self.device):
            return cupy.empty(shape, dtype=dtype)

    def wrap(self, x):
        """Turns an output of `empty` into what the caller expects (torch for CPU torch input)."""
        if self.kind == "torch":
            import torch

            return torch.from_numpy(x)
        return x

    def to_host(self, x) -> np.ndarray:
        if self.kind in ("numpy", "torch"):
            return np.asarray(_to_numpy(x))
        if self.kind == "torch-cuda":
            return x.detach().cpu().numpy()
        return x.get()

    def xp(self):
        """Module with numpy's API for element-wise checks on this namespace's arrays."""
        if self.kind in ("numpy", "torch"):
            return np
        if self.kind == "cupy":
            import cupy

            return cupy
        return None  # torch-cuda: use torch directly


def _to_numpy(x):
    if _root(x) == "torch":
        return x.detach().numpy() if x.requires_grad else x.numpy()
    return x


def namespace_of(*arrays, names=None) -> Namespace:
    """The namespace of the first array-like argument; all others must live on the same device."""
    found = None
    for i, x in enumerate(arrays):
        if x is None:
            continue
        root = _root(x)
        if root == "torch":
            ns = Namespace("torch-cuda", x.device) if x.device.type == "cuda" else Namespace("torch")
            if x.device.type not in ("cpu", "cuda"):
                raise ValueError(f"{_name(names, i)} is on unsupported device {x.device}; use cpu or cuda")
        elif root == "cupy":
            ns = Namespace("cupy", x.device.id)
        else:
            ns = Namespace("numpy")
        if found is None:
            found = ns
        elif (ns.on_gpu, ns.device_str) != (found.on_gpu, found.device_str):
            raise ValueError(
                f"{_name(names, i)} must be on the same device as {_name(names, 0)} "
                f"({found.device_str}), got {ns.device_str}"
            )
    return found or Namespace("numpy")


def _name(names, i):
    return names[i] if names and i < len(names) else f"argument {i}"


def as_host_array(x, name: str) -> np.ndarray:
    """Lists, tuples and other array-likes become numpy arrays (with a clear error otherwise)."""
    root = _root(x)
    if root in ("numpy", "torch", "cupy"):
        return x
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be an array, got {type(x).__name__}") from e
