# SPDX-License-Identifier: Apache-2.0
"""d-BiNI benchmarks, all in one process and one run; prints one markdown table.

    python benchmarks/bm_dbini.py [--smoke] [--repeats N] [--json OUT]

Suites (sizes of the full run; --smoke shrinks them to seconds):
  (a) pair512   512x512 human front/back pair (cases.human_pair): the scipy oracle ``solve_ref``
                (one BLAS thread, its fastest setting), ours "jacobi", ours "fast".
  (b) pair1024  1024x1024 pair: ours "fast" and "jacobi", time and peak RSS (fresh process each).
  (c) single512 the front map alone, plain BiNI as dbini-torch implements it (no prior, no
                pinned weights, same k, tolerances and CG settings): oracle, dbini-torch, ours.
  (d) batch     16 frames of 256x256: ``solve_batch`` vs a loop of ``solve`` (fast).

Every row carries a correctness check against the oracle (or the per-frame solve), so a fast but
wrong result cannot post a number. See benchmarks/README.md for what each number means.
"""
from __future__ import annotations

import os

# Forced before numpy is imported: the oracle's short dot products spin across BLAS threads
# otherwise (ECON_SPEC 8.2), and the machine has 2 cores.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for p in (_ROOT, os.path.join(_ROOT, "tests"), _HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

import cases  # noqa: E402
import harness  # noqa: E402
from econ_fast import dbini  # noqa: E402
from econ_fast.reference.dbini_ref import solve_ref  # noqa: E402

FULL = {"pair": 512, "big": 1024, "single": 512, "batch": (16, 256)}
SMOKE = {"pair": 64, "big": 128, "single": 64, "batch": (4, 32)}

COLUMNS = [
    ("suite", "suite"), ("method", "method"), ("median", "median s"), ("iqr", "IQR s"),
    ("vs_oracle", "x vs oracle"), ("vs_other", "x vs best dbini-torch / loop"), ("iterations", "IRLS"),
    ("cg", "CG steps"), ("err", "err F / B px"), ("rss", "peak RSS MiB"), ("check", "check"),
]


def _fmt_s(x):
    return "" if x is None else (f"{x:.4f}" if x < 1 else f"{x:.3f}")


def _err(depth, gt):
    e = np.atleast_1d(cases.depth_error(np.asarray(depth, np.float64), gt))
    return " / ".join(f"{v:.4f}" for v in e)


def _rel_maxdiff(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.nanmax(np.abs(a - b)) / (np.nanmax(b) - np.nanmin(b)))


class Runner:
    def __init__(self, args):
        self.args = args
        self.sizes = SMOKE if args.smoke else FULL
        self.rows = []
        self.jl = harness.JsonLines(args.json)

    def add(self, row: dict, stats: dict | None = None, **params):
        self.rows.append(row)
        rec = {"type": "result", **{k: v for k, v in row.items()}, **params}
        if stats is not None:
            rec.update({k: stats[k] for k in ("median", "q1", "q3", "iqr", "min", "max", "repeats", "times")})
        self.jl.write(rec)

    # ---------------------------------------------------------------------------------------
    def pair(self):
        S = self.sizes["pair"]
        R = self.args.repeats
        c = cases.human_pair(S, S, seed=0)
        gt = c["depth_gt"]
        args = (c["normals"], c["body_depth"], c["mask"])
        suite = f"(a) pair {S}x{S}, {2 * int(c['mask'].sum())} unknowns"
        ref = harness.bench(lambda: (lambda: solve_ref(*args)), warmup=1, repeats=R)
        r = ref["result"]
        e_ref = np.atleast_1d(cases.depth_error(r["depth"], gt))
        self.add({"suite": suite, "method": "oracle solve_ref (scipy, 1 BLAS thread)",
                  "median": _fmt_s(ref["median"]), "iqr": _fmt_s(ref["iqr"]), "vs_oracle": "1.0",
                  "iterations": r["iterations"], "cg": r["cg_iterations"], "err": _err(r["depth"], gt),
                  "check": "reference"}, ref, size=S, solver="oracle")
        for solver in ("jacobi", "fast"):
            st = harness.bench(lambda: (lambda: dbini.solve(*args, solver=solver)), warmup=1, repeats=R)
            q = st["result"]
            e = np.atleast_1d(cases.depth_error(q.depth, gt))
            if solver == "jacobi":
                d = _rel_maxdiff(q.depth, r["depth"])
                ok = d <= 2e-3 and abs(q.iterations - r["iterations"]) <= 1
                check = f"{'ok' if ok else 'FAIL'}: max diff {d:.1e} of range"
            else:
                check = _err_check(e, e_ref)
            self.add({"suite": suite, "method": f"ours {solver}", "median": _fmt_s(st["median"]),
                      "iqr": _fmt_s(st["iqr"]), "vs_oracle": f"{ref['median'] / st['median']:.1f}",
                      "iterations": q.iterations, "cg": q.cg_iterations, "err": _err(q.depth, gt),
                      "check": check}, st, size=S, solver=solver)

    # ---------------------------------------------------------------------------------------
    def big(self):
        S = self.sizes["big"]
        R = self.args.repeats
        c = cases.human_pair(S, S, seed=0)
        gt = c["depth_gt"]
        args = (c["normals"], c["body_depth"], c["mask"])
        suite = f"(b) pair {S}x{S}, {2 * int(c['mask'].sum())} unknowns"
        tmp = tempfile.mkdtemp(prefix="bm_dbini_")
        for k, v in zip(("normals", "body_depth", "mask"), args):
            np.save(os.path.join(tmp, k + ".npy"), v)
        results = {}
        for solver in ("fast", "jacobi"):
            reps = R if solver == "fast" else max(1, min(R, 3))
            st = harness.bench(lambda: (lambda: dbini.solve(*args, solver=solver)), warmup=1, repeats=reps)
            q = st["result"]
            results[solver] = q
            rss = harness.peak_rss(_RSS_CHILD.format(root=_ROOT, here=_HERE, tmp=tmp, solver=solver))
            ch = rss["child"]
            check = f"child depth = in-process: {ch['same_as_parent_hash'] == _digest(q.depth)}"
            if solver == "jacobi":
                d = _rel_maxdiff(results["fast"].depth, q.depth)
                check += f"; fast vs jacobi max diff {d:.1e} of range"
            self.add({"suite": suite, "method": f"ours {solver}", "median": _fmt_s(st["median"]),
                      "iqr": _fmt_s(st["iqr"]), "iterations": q.iterations, "cg": q.cg_iterations,
                      "err": _err(q.depth, gt),
                      "rss": f"{ch['peak_mib']:.0f} (inputs loaded: {ch['baseline_mib']:.0f})",
                      "check": check}, st, size=S, solver=solver, peak_rss_mib=ch["peak_mib"],
                     child_baseline_mib=ch["baseline_mib"], child_seconds=ch["seconds"],
                     ru_maxrss_mib=rss["ru_maxrss_mib"])
        for f in os.listdir(tmp):
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)

    # ---------------------------------------------------------------------------------------
    def single(self):
        S = self.sizes["single"]
        R = self.args.repeats
        c = cases.human_pair(S, S, seed=0)
        n, m, gt = c["normals"][0], c["mask"], c["depth_gt"][0]
        # dbini-torch implements BiNI's energy without ECON's pinned weights, prior or back side:
        # match that (pin_boundary_weights=False, no prior) and keep k, tol, max_iter, CG settings.
        opts = dict(k=4.0, max_iter=150, tol=1e-4, cg_max_iter=5000, cg_tol=1e-3)
        suite = f"(c) single side {S}x{S}, {int(m.sum())} unknowns, plain BiNI k=4"
        ref = harness.bench(lambda: (lambda: solve_ref(n, None, m, pin_boundary_weights=False, **opts)),
                            warmup=1, repeats=R)
        r = ref["result"]
        e_ref = cases.depth_error(r["depth"], gt)
        self.add({"suite": suite, "method": "oracle solve_ref (pin_boundary_weights=False)",
                  "median": _fmt_s(ref["median"]), "iqr": _fmt_s(ref["iqr"]), "vs_oracle": "1.0",
                  "iterations": r["iterations"], "cg": r["cg_iterations"], "err": _err(r["depth"], gt),
                  "check": "reference"}, ref, size=S, solver="oracle-single")
        torch_med = None
        try:
            import torch
            import dbini_torch
        except ImportError as e:
            self.add({"suite": suite, "method": "dbini-torch", "check": f"not installed ({e})"})
        else:
            # dbini-torch: (3, H, W) normal map in the same world frame (x right, y up, z toward the
            # camera; it swaps and negates internally exactly as ECON), depth away from the camera.
            nm = torch.from_numpy(np.ascontiguousarray(n.astype(np.float64).transpose(2, 0, 1)))
            mk = torch.from_numpy(m)

            def make():
                def run():
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        return dbini_torch.bilateral_normal_integration(
                            nm, mk, k=opts["k"], max_iter=opts["max_iter"], tol=opts["tol"],
                            cg_max_iter=opts["cg_max_iter"], cg_rtol=opts["cg_tol"])
                return run

            reps = self.args.torch_repeats
            default_threads = torch.get_num_threads()
            # One intra-op thread first (stable: with more, its many tiny sparse ops spin across
            # threads and collapse when anything else runs on a 2-core machine, as the oracle's
            # BLAS dot products do), then torch's default. Our rows' ratios use the faster one.
            for nthreads in dict.fromkeys((1, default_threads)):
                torch.set_num_threads(nthreads)
                try:
                    st = harness.bench(make, warmup=0, repeats=reps)
                finally:
                    torch.set_num_threads(default_threads)
                torch_med = st["median"] if torch_med is None else min(torch_med, st["median"])
                depth, energies = st["result"][0].numpy(), np.array([float(x) for x in st["result"][4]])
                d = _rel_maxdiff(depth - np.nanmedian(depth - r["depth"]), r["depth"])
                Er = np.asarray(r["energy"][1:])
                same_E = len(Er) == len(energies) and np.allclose(energies, Er, rtol=1e-8)
                check = (f"{'ok' if same_E and d < 1e-6 else 'DIFFERS'}: energies = oracle's: {same_E}, "
                         f"depth diff {d:.0e} of range; torch {torch.__version__}")
                self.add({"suite": suite,
                          "method": f"dbini-torch {dbini_torch.__version__} (CPU, float64, {nthreads} thread"
                                    f"{'s' if nthreads > 1 else ''}, {reps} run{'s' if reps > 1 else ''})",
                          "median": _fmt_s(st["median"]), "iqr": _fmt_s(st["iqr"]),
                          "vs_oracle": f"{ref['median'] / st['median']:.2f}",
                          "iterations": len(energies), "cg": "n/a", "err": _err(depth, gt), "check": check},
                         st, size=S, solver="dbini-torch", torch_threads=nthreads)
        for solver in ("jacobi", "fast"):
            st = harness.bench(lambda: (lambda: dbini.solve(n, None, m, solver=solver, pin_boundary_weights=False,
                                                            **opts)), warmup=1, repeats=R)
            q = st["result"]
            e = cases.depth_error(q.depth, gt)
            if solver == "jacobi":
                d = _rel_maxdiff(q.depth, r["depth"])
                check = f"{'ok' if d <= 2e-3 else 'FAIL'}: max diff {d:.1e} of range"
            else:
                check = _err_check(e, e_ref)
            self.add({"suite": suite, "method": f"ours {solver}", "median": _fmt_s(st["median"]),
                      "iqr": _fmt_s(st["iqr"]), "vs_oracle": f"{ref['median'] / st['median']:.1f}",
                      "vs_other": "" if torch_med is None else f"{torch_med / st['median']:.0f}",
                      "iterations": q.iterations, "cg": q.cg_iterations, "err": _err(q.depth, gt),
                      "check": check}, st, size=S, solver=f"{solver}-single")

    # ---------------------------------------------------------------------------------------
    def batch(self):
        B, S = self.sizes["batch"]
        R = self.args.repeats
        cs = [cases.human_pair(S, S, seed=i) for i in range(B)]
        N = np.stack([c["normals"] for c in cs])
        P = np.stack([c["body_depth"] for c in cs])
        M = np.stack([c["mask"] for c in cs])
        suite = f"(d) batch {B} x {S}x{S} pairs (fast)"
        loop = harness.bench(lambda: (lambda: [dbini.solve(N[i], P[i], M[i]) for i in range(B)]),
                             warmup=1, repeats=R)
        bat = harness.bench(lambda: (lambda: dbini.solve_batch(N, P, M)), warmup=1, repeats=R)
        same = all(np.array_equal(a.depth, b.depth, equal_nan=True) for a, b in zip(bat["result"], loop["result"]))
        it = sum(q.iterations for q in loop["result"])
        cg = sum(q.cg_iterations for q in loop["result"])
        self.add({"suite": suite, "method": "loop of solve", "median": _fmt_s(loop["median"]),
                  "iqr": _fmt_s(loop["iqr"]), "vs_other": "1.0", "iterations": f"{it} (sum)",
                  "cg": f"{cg} (sum)", "check": "reference"}, loop, frames=B, size=S, solver="loop")
        self.add({"suite": suite, "method": "solve_batch", "median": _fmt_s(bat["median"]),
                  "iqr": _fmt_s(bat["iqr"]), "vs_other": f"{loop['median'] / bat['median']:.2f}",
                  "iterations": f"{sum(q.iterations for q in bat['result'])} (sum)",
                  "cg": f"{sum(q.cg_iterations for q in bat['result'])} (sum)",
                  "check": f"{'ok' if same else 'FAIL'}: bit-identical to the loop: {same}"},
                 bat, frames=B, size=S, solver="batch")


def _err_check(e, e_ref) -> str:
    """'ok' at or below the oracle's error (the target); 'ABOVE' up to 1.5x (a target miss, reported);
    'FAIL' beyond (a wrong result: the run exits non-zero)."""
    r = np.atleast_1d(np.asarray(e) / np.asarray(e_ref))
    word = "ok" if np.all(r <= 1.0) else ("ABOVE oracle" if np.all(r <= 1.5) else "FAIL")
    return f"{word}: err / oracle {' / '.join(f'{v:.3f}' for v in r)}"


def _digest(a) -> str:
    import hashlib
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()


# Child process of suite (b): loads the inputs, notes its RSS, solves once, reports.
_RSS_CHILD = """
import os, sys, json, time, hashlib
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, {root!r})
sys.path.insert(0, {here!r})
import numpy as np
from harness import vm_hwm_mib
from econ_fast import dbini
a = [np.load(os.path.join({tmp!r}, k + ".npy")) for k in ("normals", "body_depth", "mask")]
base = vm_hwm_mib()
t0 = time.perf_counter()
q = dbini.solve(*a, solver={solver!r})
dt = time.perf_counter() - t0
print(json.dumps({{"baseline_mib": base, "peak_mib": vm_hwm_mib(), "seconds": dt, "iterations": q.iterations,
                  "same_as_parent_hash": hashlib.sha1(np.ascontiguousarray(q.depth).tobytes()).hexdigest()}}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: runs in seconds")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per row (default 5, smoke 1)")
    ap.add_argument("--torch-repeats", type=int, default=1,
                    help="timed runs of dbini-torch per thread setting (10-45 s each at 512x512 on 2 cores; default 1)")
    ap.add_argument("--json", default=None, metavar="OUT", help="append JSON lines (machine header + rows)")
    ap.add_argument("--only", default=None, help="comma-separated subset of pair,big,single,batch")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.smoke else 5
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    info = harness.machine_info()
    run = Runner(args)
    run.jl.write({"type": "machine", "argv": sys.argv, "smoke": args.smoke, "repeats": args.repeats, **info})
    print(f"# d-BiNI benchmark ({'smoke' if args.smoke else 'full'}, {args.repeats} repeats, median and IQR)\n")
    print(f"- CPU: {info['cpu_model']}, {info['logical_cpus']} logical CPUs, load average at start "
          f"{', '.join(f'{x:.2f}' for x in info['loadavg'] or [])}")
    bi = info.get("build_info", {})
    print(f"- econ_fast {info.get('econ_fast')} (git {info['git_commit']}), {info.get('econ_fast_threads')} threads, "
          f"build_info {bi}")
    print(f"- python {info['python']}, numpy {info['numpy']}, scipy {info.get('scipy')}; env {info['env']}")
    pools = info["threadpools"]
    print("- threadpoolctl: " + ("; ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}) {p.get('num_threads')} threads"
        for p in pools) if pools else "not installed"))
    if info["loadavg"] and info["loadavg"][0] > 1.0:
        print(f"- WARNING: load average {info['loadavg'][0]:.2f} > 1 at start: another process may hold a core")
    print()
    t0 = time.perf_counter()
    only = set(args.only.split(",")) if args.only else {"pair", "big", "single", "batch"}
    for name in ("pair", "big", "single", "batch"):
        if name in only:
            getattr(run, name)()
    print(harness.markdown_table(run.rows, COLUMNS))
    print(f"\n(total {time.perf_counter() - t0:.0f} s; load average at end "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    run.jl.close()
    bad = [r for r in run.rows if str(r.get("check", "")).startswith(("FAIL", "DIFFERS"))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
