# SPDX-License-Identifier: Apache-2.0
"""econ-fast: fast, dependable kernels for ECON-style clothed-human reconstruction.

    from econ_fast import dbini
    result = dbini.solve(normals, body_depth)     # d-BiNI: normal maps + body prior -> depth maps
"""
from __future__ import annotations

__version__ = "0.1.0"

try:
    from . import _native
except ImportError as _e:  # pragma: no cover - only when the extension was not built
    raise ImportError(
        f"econ_fast's native extension could not be loaded ({_e}). Build it with `make build` "
        "(in-place) or `pip install .` from the source tree."
    ) from _e


def build_info() -> dict:
    """How this copy was built: version, CUDA (and architectures), CPU backend, compiler, threads."""
    info = dict(_native.build_info())
    info["cuda_devices"] = _native.cuda_device_count() if info["cuda"] else 0
    return info


def has_cuda() -> bool:
    """True when built with CUDA *and* the driver reports at least one usable GPU."""
    return bool(_native.build_info()["cuda"]) and _native.cuda_device_count() > 0


def get_num_threads() -> int:
    return _native.get_num_threads()


def set_num_threads(n: int) -> None:
    """Threads used by the CPU backend (thread pool, the caller included); results do not depend on it."""
    _native.set_num_threads(int(n))


from . import dbini  # noqa: E402
from . import meshquery  # noqa: E402
from . import poisson  # noqa: E402
from .meshquery import (  # noqa: E402
    MeshQuery,
    OrthographicCamera,
    PerspectiveCamera,
    render_depth_normals,
)

__all__ = [
    "build_info", "has_cuda", "get_num_threads", "set_num_threads", "dbini", "meshquery", "poisson", "MeshQuery",
    "OrthographicCamera", "PerspectiveCamera", "render_depth_normals", "__version__",
]
