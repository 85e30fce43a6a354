# SPDX-License-Identifier: Apache-2.0
"""Small benchmark harness: warm-up + repeats, median and IQR, machine metadata, JSON lines.

    from harness import bench, machine_info, peak_rss
    stats = bench(make_fn, warmup=1, repeats=5)     # make_fn() does the setup, returns the closure
    stats["median"], stats["iqr"]

The timed callable is a closure built by a factory that did all the setup (STYLE 3.6); it ends
with ``econ_fast.synchronize()`` when the package has one (GPU work). Medians and inter-quartile
ranges are reported, never means: on a shared 2-core machine single outliers are common.

Import this module *after* setting OPENBLAS_NUM_THREADS (bm_dbini.py and run.py do it first).
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

import numpy as np

__all__ = ["bench", "machine_info", "blas_info", "peak_rss", "vm_hwm_mib", "JsonLines", "markdown_table"]


def _sync():
    try:
        import econ_fast
    except ImportError:  # pragma: no cover - harness used without the package
        return
    fn = getattr(econ_fast, "synchronize", None)
    if fn is not None:
        fn()


def bench(make_fn: Callable[[], Callable[[], object]], *, warmup: int = 1, repeats: int = 5) -> dict:
    """Times ``fn = make_fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Returns {"median", "q1", "q3", "iqr", "min", "max", "repeats", "times", "result"} (seconds;
    "result" is what the last call returned, for the caller's checks).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    fn = make_fn()
    result = None
    for _ in range(warmup):
        result = fn()
        _sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        _sync()
        times.append(time.perf_counter() - t0)
    t = np.asarray(times)
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "min": float(t.min()), "max": float(t.max()), "repeats": repeats, "times": times,
            "result": result}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> Optional[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) if sha else None


def blas_info() -> list:
    """threadpoolctl's view of the loaded BLAS/OpenMP pools, or [] when it is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "num_threads", "version", "architecture", "prefix")
    return [{k: p.get(k) for k in keep if k in p} for p in threadpool_info()]


def machine_info() -> dict:
    """CPU model, threads, load, library versions, econ_fast build_info, git commit."""
    info = {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "git_commit": _git_commit(),
        "env": {k: os.environ[k] for k in sorted(os.environ)
                if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))},
    }
    try:
        import scipy
        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        import econ_fast
        info["econ_fast"] = econ_fast.__version__
        info["build_info"] = econ_fast.build_info()
        info["econ_fast_threads"] = econ_fast.get_num_threads()
        info["has_cuda"] = econ_fast.has_cuda()
    except ImportError:
        pass
    info["threadpools"] = blas_info()
    return info


def vm_hwm_mib() -> Optional[float]:
    """This process's peak RSS since its last exec (VmHWM of /proc/self/status), MiB; None if unknown.

    Unlike ru_maxrss, VmHWM belongs to the current address space: Linux carries the parent's RSS
    high-water mark over fork/vfork + exec into the child's ru_maxrss (exec_mmap records the old
    mm's peak), so a child started by a large benchmark process reports at least the parent's
    size there. Child processes report VmHWM themselves."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss(code: str, *, env: Optional[dict] = None, timeout: float = 600.0) -> dict:
    """Runs ``python -c code`` in a fresh process; returns the JSON object the child printed last
    on stdout ("child") and ``wait4``'s ru_maxrss of exactly that child ("ru_maxrss_mib", an upper
    bound: it includes this process's RSS at the fork, see vm_hwm_mib). The child should report
    its own peak with vm_hwm_mib(); bm_dbini's does.
    """
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE,
                             env={**os.environ, **(env or {})}, text=True)
        t0 = time.monotonic()
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                p.kill()
                os.wait4(p.pid, 0)
                raise TimeoutError(f"child did not finish in {timeout} s")
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read()
        out.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.strip()]
    if p.returncode != 0:
        raise RuntimeError(f"child failed ({p.returncode}):\n{err[-2000:]}")
    child = json.loads(lines[-1]) if lines else {}
    return {"ru_maxrss_mib": ru.ru_maxrss / 1024.0, "child": child}


def self_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class JsonLines:
    """Appends one JSON object per line (records and the machine header) to ``path``."""

    def __init__(self, path: Optional[str]):
        self.path = path
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._f = open(path, "a")
        else:
            self._f = None

    def write(self, record: dict):
        if self._f is not None:
            self._f.write(json.dumps(record, default=_jsonable) + "\n")
            self._f.flush()

    def close(self):
        if self._f is not None:
            self._f.close()


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def markdown_table(rows: list, columns: list) -> str:
    """rows: list of dicts; columns: list of (key, header). Missing values print as an empty cell."""
    head = "| " + " | ".join(h for _, h in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(r.get(k, "")) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep] + body)
