# SPDX-License-Identifier: Apache-2.0
"""Screened Poisson benchmark: ours vs PoissonRecon 18.74 (pypoisson2) vs Open3D, one run, one table.

    python benchmarks/bm_poisson.py [--smoke] [--repeats N] [--depths 8,9,10] [--json OUT]
    python benchmarks/bm_poisson.py --scaling [--scaling-peers]     # time vs N, 10k .. 3M points

Suites (cases from benchmarks/poisson_cases.py, seeded):
  speed    the smooth 300k-point case (``--case``, default "blob") at depths 8, 9, 10: median time,
           peak RSS, Chamfer distance to the true surface, watertight / manifold.
  quality  the sphere, the human "sandwich" (front/back depth-map sheets + body sides, as ECON
           feeds Poisson) and the noisy, 10x non-uniform case at one depth (``--quality-depth``,
           default ECON's 10): Chamfer, checks, time of the timed runs.
  scaling  (``--scaling`` only) ours at N = 10k .. 3M points of the smooth case at one depth:
           time, output faces and octree nodes (the output-cell count), time per node.

Every (method, case, depth) runs in a fresh Python process that loads the points from ``.npy``,
imports its library, notes its peak RSS (VmHWM), runs the warm-up and timed calls, reports its
peak RSS again and saves the mesh for the parent to score. "CPU s" is the median user + system
time of the process per timed call (all threads): on a shared machine it moves less than the wall
time, and CPU / wall shows how much of the two cores a method used. So memory figures are comparable
(same inputs, no parent state) and each library's own allocations are the difference.

Same thread count for all: ``--threads`` (default 2) for ours (``econ_fast.set_num_threads``) and
Open3D (``n_threads``); pypoisson2 has no thread setting and always uses
``std::thread::hardware_concurrency()`` threads (its ``ThreadPool``), so the header warns when that
differs from ``--threads``. ``OMP_WAIT_POLICY=passive`` is set for pypoisson2's child by default
(``--omp-wait-policy auto``): on this shared 2-core machine PoissonRecon's spinning OpenMP threads
collapse when another process holds a core (measured at depth 8: 31-75 s active vs 4.5-9 s
passive), and a benchmark should give each peer its best setting (Open3D was no faster passive).
Parameters are ECON's (Open3D's defaults, ECON_SPEC 4.4): degree 1, point weight 2, samples per
node 1.5, scale 1.1, full depth 5, 8 solver iterations, CG accuracy 1e-3, Neumann boundary.
A peer whose process crashes is run once more and its row says so; ours is never retried.

When ``econ_fast.poisson`` does not exist (the solver is not merged yet) a line says so and the
peers run alone.
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for p in (_ROOT, _HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

import harness  # noqa: E402
import poisson_cases as pc  # noqa: E402

METHODS = ("ours", "pypoisson2", "open3d")

# ECON's Poisson settings (Open3D's defaults; ECON_SPEC 4.4).
PARAMS = dict(point_weight=2.0, samples_per_node=1.5, scale=1.1, full_depth=5, iterations=8, cg_tol=1e-3)

FULL = {"n": 300_000, "depths": (8, 9, 10), "quality_depth": 10,
        "scaling_n": (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000), "scaling_depth": 10,
        "sandwich_size": 512, "chamfer_samples": 200_000}
SMOKE = {"n": 20_000, "depths": (6, 7), "quality_depth": 7, "scaling_n": (5_000, 20_000), "scaling_depth": 7,
         "sandwich_size": 128, "chamfer_samples": 20_000}

COLUMNS = [
    ("suite", "suite"), ("method", "method"), ("depth", "depth"), ("median", "median s"), ("iqr", "IQR s"),
    ("cpu", "CPU s"), ("vs_pp2", "x vs pypoisson2"), ("vs_o3d", "x vs Open3D"), ("rss", "peak RSS MiB (+ over inputs)"),
    ("chamfer", "Chamfer (1e-4)"), ("faces", "faces"), ("wt", "watertight / manifold"), ("check", "check"),
]
SCALING_COLUMNS = [
    ("method", "method"), ("n", "points"), ("depth", "depth"), ("median", "median s"), ("iqr", "IQR s"),
    ("cpu", "CPU s"),
    ("faces", "faces"), ("nodes", "octree nodes"), ("us_per_node", "us / node"), ("us_per_face", "us / face"),
    ("rss", "peak RSS MiB"), ("chamfer", "Chamfer (1e-4)"), ("wt", "watertight / manifold"), ("check", "check"),
]


def have(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def ours_available():
    """(True, "") when ``econ_fast.poisson`` imports and has ``reconstruct``, else (False, why)."""
    try:
        mod = importlib.import_module("econ_fast.poisson")
    except ImportError as e:
        return False, str(e)
    if not hasattr(mod, "reconstruct"):
        return False, "econ_fast.poisson has no reconstruct()"
    return True, ""


def pypoisson2_available():
    """pypoisson2 installs a top-level package named ``poisson``."""
    try:
        mod = importlib.import_module("poisson")
    except ImportError as e:
        return False, f"not installed ({e}); see requirements-bench.txt"
    if not hasattr(mod, "poisson_reconstruction"):
        return False, f"the 'poisson' module found ({getattr(mod, '__file__', None)}) is not pypoisson2's"
    return True, ""


def open3d_available():
    if not have("open3d"):
        return False, "not installed (pip install open3d-cpu)"
    return True, ""


AVAILABLE = {"ours": ours_available, "pypoisson2": pypoisson2_available, "open3d": open3d_available}


# ------------------------------------------------------------------------------------ runners
def make_runner(method: str, depth: int, threads: int):
    """Imports the library and returns ``run(points, normals) -> (vertices, faces, extra)``.
    Called in the child process; the timed call includes each library's own input conversion."""
    if method == "ours":
        import econ_fast
        from econ_fast import poisson

        econ_fast.set_num_threads(threads)

        def run(p, n):
            r = poisson.reconstruct(p, n, depth=depth, **PARAMS)
            extra = {"nodes": int(sum(r.nodes)) if r.nodes is not None else None, "iso_value": float(r.iso_value),
                     "timings": {k: float(v) for k, v in dict(r.timings or {}).items()}}
            return np.asarray(r.vertices), np.asarray(r.faces), extra
        return run
    if method == "pypoisson2":
        pp = importlib.import_module("poisson")
        # ParallelType: 0 OpenMP (thread count fixed to hardware_concurrency), 2 serial.
        ptype = 2 if threads == 1 else 0

        def run(p, n):
            v, f = pp.poisson_reconstruction(
                p, n, depth=depth, full_depth=PARAMS["full_depth"], scale=PARAMS["scale"],
                samples_per_node=PARAMS["samples_per_node"], iters=PARAMS["iterations"], degree=1,
                point_weight=PARAMS["point_weight"], cg_solver_accuracy=PARAMS["cg_tol"], boundary="neumann",
                parallel_type=ptype)
            return v, f, {}
        return run
    if method == "open3d":
        import open3d as o3d

        def run(p, n):
            pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
            pcd.normals = o3d.utility.Vector3dVector(n)
            m, _ = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
                pcd, depth=depth, width=0, scale=PARAMS["scale"], linear_fit=False, n_threads=threads,
                full_depth=PARAMS["full_depth"], samples_per_node=PARAMS["samples_per_node"],
                point_weight=PARAMS["point_weight"])
            return np.asarray(m.vertices), np.asarray(m.triangles), {}
        return run
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# The child: fresh interpreter, loads inputs, baseline RSS, runs, peak RSS, saves the mesh.
_CHILD = """
import os, sys, json, resource
sys.path[:0] = [{root!r}, {here!r}]
import numpy as np
from harness import bench, vm_hwm_mib
import bm_poisson
p = np.load(os.path.join({case_dir!r}, "points.npy"))
n = np.load(os.path.join({case_dir!r}, "normals.npy"))
run = bm_poisson.make_runner({method!r}, {depth!r}, {threads!r})
base = vm_hwm_mib()
cpu = []
def timed():
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    out = run(p, n)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return out
st = bench(lambda: timed, warmup={warmup!r}, repeats={repeats!r})
st["cpu_times"] = cpu[{warmup!r}:]
v, f, extra = st.pop("result")
np.save(os.path.join({out_dir!r}, "vertices.npy"), np.asarray(v, np.float64))
np.save(os.path.join({out_dir!r}, "faces.npy"), np.asarray(f, np.int64))
print(json.dumps({{"stats": st, "baseline_mib": base, "peak_mib": vm_hwm_mib(), "extra": extra}}))
"""


def _wait_policy(method, option):
    """OMP_WAIT_POLICY for a method's child: "auto" gives each its faster setting on a shared
    machine (measured at depth 8 under load: PoissonRecon 41-75 s active vs 8-9 s passive; Open3D
    6.3-8.5 s default vs 9.2-9.7 s passive; ours does not use OpenMP)."""
    if option != "auto":
        return option
    return "passive" if method == "pypoisson2" else "default"


def run_child(method, depth, case_dir, args, repeats, warmup):
    out_dir = tempfile.mkdtemp(prefix="bm_poisson_out_")
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": str(args.threads)}
    policy = _wait_policy(method, args.omp_wait_policy)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    code = _CHILD.format(root=_ROOT, here=_HERE, case_dir=case_dir, method=method, depth=depth,
                         threads=args.threads, warmup=warmup, repeats=repeats, out_dir=out_dir)
    try:
        r = harness.peak_rss(code, env=env, timeout=args.timeout)
        ch = r["child"]
        v = np.load(os.path.join(out_dir, "vertices.npy"))
        f = np.load(os.path.join(out_dir, "faces.npy"))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    ch["ru_maxrss_mib"] = r["ru_maxrss_mib"]
    return ch, v, f


# ------------------------------------------------------------------------------------ runner
def _fmt_s(x):
    return "" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def _chamfer_cell(q):
    return f"{q['chamfer'] * 1e4:.3f}"


class Runner:
    def __init__(self, args, sizes):
        self.args = args
        self.sizes = sizes
        self.rows = []
        self.scaling_rows = []
        self.jl = harness.JsonLines(args.json)
        self.tmp = tempfile.mkdtemp(prefix="bm_poisson_")
        self.methods = []
        self.missing = {}
        for m in args.methods:
            ok, why = AVAILABLE[m]()
            if ok:
                self.methods.append(m)
            else:
                self.missing[m] = why

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.jl.close()

    def case_dir(self, case):
        d = os.path.join(self.tmp, f"{case.name}_{case.n_points}")
        if not os.path.exists(os.path.join(d, "points.npy")):
            case.save(d)
        return d

    def measure(self, method, case, depth, repeats, warmup):
        """One child run, scored. Returns a record dict (numbers) or raises."""
        ch, v, f = run_child(method, depth, self.case_dir(case), self.args, repeats, warmup)
        q = pc.chamfer(v, f, case, n_samples=self.sizes["chamfer_samples"])
        chk = pc.mesh_checks(v, f)
        return {"method": method, "case": case.name, "n": case.n_points, "depth": depth, **ch["stats"],
                "peak_mib": ch["peak_mib"], "baseline_mib": ch["baseline_mib"], "ru_maxrss_mib": ch["ru_maxrss_mib"],
                "extra": ch["extra"], "quality": q, "mesh": chk}

    def measure_peer_retry(self, method, case, depth, repeats, warmup):
        """measure(); a peer whose process crashed (killed by a signal) is run once more and the
        row says so (Open3D 0.20 segfaulted once in ~17 depth-9/10 calls here). Ours is never
        retried: a crash of ours is a failure."""
        try:
            return self.measure(method, case, depth, repeats, warmup), ""
        except RuntimeError as e:
            if method == "ours" or not str(e).startswith("child failed (-"):
                raise
            note = f"{_err_msg(e)} once, rerun; "
            self.jl.write({"type": "crash", "method": method, "case": case.name, "depth": depth, "error": str(e)})
        return self.measure(method, case, depth, repeats, warmup), note

    def suite_rows(self, suite, case, depths, repeats, warmup):
        for depth in depths:
            recs, notes = {}, {}
            for m in self.methods:
                try:
                    recs[m], notes[m] = self.measure_peer_retry(m, case, depth, repeats, warmup)
                except Exception as e:  # a failing peer is reported, not fatal; ours failing is
                    self.rows.append({"suite": suite, "method": m, "depth": depth, "check": f"FAIL: {_err_msg(e)}"})
                    self.jl.write({"type": "result", "suite": suite, "method": m, "depth": depth, "error": str(e)})
            for m, r in recs.items():
                row = {"suite": suite, "method": _method_label(m, self.args), "depth": depth,
                       "median": _fmt_s(r["median"]), "iqr": _fmt_s(r["iqr"]),
                       "cpu": _fmt_s(float(np.median(r["cpu_times"]))),
                       "rss": f"{r['peak_mib']:.0f} (+{r['peak_mib'] - r['baseline_mib']:.0f})",
                       "chamfer": _chamfer_cell(r["quality"]), "faces": r["mesh"]["faces"],
                       "wt": f"{_yn(r['mesh']['watertight'])} / {_yn(r['mesh']['manifold'])}"}
                if m == "ours":
                    for peer, key in (("pypoisson2", "vs_pp2"), ("open3d", "vs_o3d")):
                        if peer in recs:
                            row[key] = f"{recs[peer]['median'] / r['median']:.2f}"
                    row["check"] = _check(r, recs)
                else:
                    row["check"] = notes[m] + "reference"
                    if "ours" in recs:
                        row["vs_pp2" if m == "pypoisson2" else "vs_o3d"] = "1.00"
                self.rows.append(row)
                self.jl.write({"type": "result", "suite": suite, **{k: v for k, v in r.items() if k != "times"},
                               "times": r["times"], "threads": self.args.threads,
                               "omp_wait_policy": _wait_policy(m, self.args.omp_wait_policy)})

    # ---------------------------------------------------------------------------------------
    def speed(self):
        c = pc.make_case(self.args.case, self.sizes["n"], seed=0)
        suite = f"speed: {c.name} {c.n_points // 1000}k"
        self.suite_rows(suite, c, self.args.depths, self.args.repeats, self.args.warmup)

    def quality(self):
        d = self.args.quality_depth
        for name in self.args.quality_cases:
            if name == "sandwich":
                c = pc.sandwich(self.sizes["sandwich_size"], seed=0)
                label = (f"quality: sandwich {c.n_points // 1000}k ({c.info['sheet_points']} sheet + "
                         f"{c.info['side_points']} side)")
            else:
                c = pc.make_case(name, self.sizes["n"], seed=0)
                label = f"quality: {name} {c.n_points // 1000}k"
            self.suite_rows(label, c, (d,), self.args.quality_repeats, 0)

    def scaling(self):
        d = self.sizes["scaling_depth"] if self.args.scaling_depth is None else self.args.scaling_depth
        methods = [m for m in self.methods if m == "ours" or self.args.scaling_peers]
        if not methods:
            methods = [m for m in self.methods if m != "ours"]
            print("- scaling: econ_fast.poisson missing, timing the peers instead\n")
        for n in self.sizes["scaling_n"]:
            c = pc.make_case(self.args.case, n, seed=0)
            for m in methods:
                try:
                    r, note = self.measure_peer_retry(m, c, d, self.args.scaling_repeats, 0)
                except Exception as e:
                    self.scaling_rows.append({"method": m, "n": n, "depth": d, "check": f"FAIL: {_err_msg(e)}"})
                    continue
                nodes = r["extra"].get("nodes")
                self.scaling_rows.append({
                    "method": _method_label(m, self.args), "n": n, "depth": d, "median": _fmt_s(r["median"]),
                    "iqr": _fmt_s(r["iqr"]), "cpu": _fmt_s(float(np.median(r["cpu_times"]))),
                    "faces": r["mesh"]["faces"], "nodes": "" if nodes is None else nodes,
                    "us_per_node": "" if not nodes else f"{r['median'] / nodes * 1e6:.2f}",
                    "us_per_face": f"{r['median'] / max(r['mesh']['faces'], 1) * 1e6:.2f}",
                    "rss": f"{r['peak_mib']:.0f}", "chamfer": _chamfer_cell(r["quality"]),
                    "wt": f"{_yn(r['mesh']['watertight'])} / {_yn(r['mesh']['manifold'])}",
                    "check": note + ("ok" if m != "ours" or (r["mesh"]["watertight"] and r["mesh"]["manifold"])
                                     else "FAIL: not watertight and manifold")})
                self.jl.write({"type": "scaling", **{k: v for k, v in r.items()}, "threads": self.args.threads})
            # free the case directory: 3M points are 144 MB on disk
            shutil.rmtree(self.case_dir(c), ignore_errors=True)


def _err_msg(e) -> str:
    """One line for a table cell: a crashed child as its signal, else the error's last line."""
    text = str(e).strip()
    if text.startswith("child failed (-"):
        sig = text[len("child failed (-"):].split(")", 1)[0]
        try:
            import signal
            name = signal.Signals(int(sig)).name
        except (ValueError, ImportError):
            name = f"signal {sig}"
        return f"crashed ({name})"
    lines = text.splitlines()
    return f"{type(e).__name__}: {(lines[-1] if lines else '')[:160]}"


def _yn(b):
    return "yes" if b else "NO"


def _method_label(m, args):
    if m == "ours":
        return f"ours ({args.threads} threads)"
    if m == "pypoisson2":
        return f"PoissonRecon 18.74 / pypoisson2 ({os.cpu_count() if args.threads > 1 else 1} threads)"
    return f"Open3D {_o3d_version()} ({args.threads} threads)"


def _o3d_version():
    try:
        from importlib.metadata import version
        for dist in ("open3d-cpu", "open3d"):
            try:
                return version(dist)
            except Exception:
                continue
    except ImportError:
        pass
    return "?"


def _check(r, recs):
    """Ours: must be watertight and manifold (else FAIL); Chamfer 'ok' at or below PoissonRecon's
    (the target; Open3D's when pypoisson2 is absent), 'ABOVE' up to 1.5x, 'FAIL' beyond."""
    if not (r["mesh"]["watertight"] and r["mesh"]["manifold"]):
        return f"FAIL: watertight {r['mesh']['watertight']}, manifold {r['mesh']['manifold']}"
    ref = recs.get("pypoisson2") or recs.get("open3d")
    if ref is None:
        return "ok: watertight, manifold (no peer to compare)"
    ratio = r["quality"]["chamfer"] / ref["quality"]["chamfer"]
    word = "ok" if ratio <= 1.0 else ("ABOVE peer" if ratio <= 1.5 else "FAIL")
    return f"{word}: Chamfer / {ref['method']} {ratio:.3f}"


def _csv_ints(s):
    return tuple(int(x) for x in s.split(",") if x.strip())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: runs in about a minute")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per speed row (default 3, smoke 1)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed calls before the timed ones (default 0: each call is seconds and has no JIT)")
    ap.add_argument("--depths", type=_csv_ints, default=None, help="speed-suite depths (default 8,9,10)")
    ap.add_argument("--case", default="blob", choices=["blob", "sphere"],
                    help="the smooth case of the speed and scaling suites")
    ap.add_argument("--quality-depth", type=int, default=None, help="depth of the quality suite (default 10)")
    ap.add_argument("--quality-cases", default="sphere,sandwich,noisy")
    ap.add_argument("--quality-repeats", type=int, default=1)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--only", default="speed,quality", help="comma-separated subset of speed,quality")
    ap.add_argument("--scaling", action="store_true", help="run only the scaling suite (time vs N)")
    ap.add_argument("--scaling-n", type=_csv_ints, default=None, help="point counts (default 10k..3M)")
    ap.add_argument("--scaling-depth", type=int, default=None)
    ap.add_argument("--scaling-peers", action="store_true", help="also time the peers in the scaling suite")
    ap.add_argument("--scaling-repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--omp-wait-policy", default="auto", choices=["auto", "passive", "active", "default"],
                    help="OMP_WAIT_POLICY in the children; auto: passive for pypoisson2, unset for the others")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    ap.add_argument("--json", default=None, metavar="OUT", help="append JSON lines (machine header + rows)")
    args = ap.parse_args(argv)
    sizes = dict(SMOKE if args.smoke else FULL)
    if args.repeats is None:
        args.repeats = 1 if args.smoke else 3
    if args.depths is None:
        args.depths = sizes["depths"]
    if args.quality_depth is None:
        args.quality_depth = sizes["quality_depth"]
    if args.scaling_n is not None:
        sizes["scaling_n"] = args.scaling_n
    for k in ("repeats", "quality_repeats", "scaling_repeats", "threads"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in args.methods:
        if m not in METHODS:
            ap.error(f"--methods: unknown method {m!r} (choose from {METHODS})")
    args.quality_cases = [c.strip() for c in args.quality_cases.split(",") if c.strip()]
    for c in args.quality_cases:
        if c not in pc.CASES:
            ap.error(f"--quality-cases: unknown case {c!r} (choose from {sorted(pc.CASES)})")

    info = harness.machine_info()
    run = Runner(args, sizes)
    run.jl.write({"type": "machine", "argv": sys.argv, "smoke": args.smoke, "repeats": args.repeats,
                  "threads": args.threads, "omp_wait_policy": args.omp_wait_policy, "params": PARAMS, **info})
    mode = "scaling" if args.scaling else ("smoke" if args.smoke else "full")
    print(f"# Screened Poisson benchmark ({mode}, {args.repeats} timed calls per speed row, median and IQR)\n")
    print(f"- CPU: {info['cpu_model']}, {info['logical_cpus']} logical CPUs, load average at start "
          f"{', '.join(f'{x:.2f}' for x in info['loadavg'] or [])}")
    print(f"- econ_fast {info.get('econ_fast')} (git {info['git_commit']}), build_info {info.get('build_info', {})}")
    print(f"- threads: {args.threads} for ours and Open3D; pypoisson2 uses hardware_concurrency = {os.cpu_count()}"
          + (" (differs from --threads!)" if args.threads not in (1, os.cpu_count()) else "")
          + "; OMP_WAIT_POLICY " + ", ".join(f"{m} {_wait_policy(m, args.omp_wait_policy)}" for m in METHODS))
    print(f"- parameters (ECON's): {PARAMS}, degree 1, Neumann boundary")
    for m, why in run.missing.items():
        if m == "ours":
            print(f"- econ_fast.poisson is not available in this build ({why}): running the peers only")
        else:
            print(f"- {m}: {why}: skipped")
    if info["loadavg"] and info["loadavg"][0] > 1.0:
        print(f"- WARNING: load average {info['loadavg'][0]:.2f} > 1 at start: another process may hold a core")
    print()
    t0 = time.perf_counter()
    try:
        if args.scaling:
            run.scaling()
            print(harness.markdown_table(run.scaling_rows, SCALING_COLUMNS))
        else:
            only = set(args.only.split(","))
            if "speed" in only:
                run.speed()
            if "quality" in only:
                run.quality()
            print(harness.markdown_table(run.rows, COLUMNS))
    finally:
        run.close()
    print(f"\n(total {time.perf_counter() - t0:.0f} s; load average at end "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; Chamfer in units of 1e-4, mean of both "
          f"directions, exact point-to-triangle distances, {sizes['chamfer_samples']} samples each way)")
    rows = run.scaling_rows if args.scaling else run.rows
    bad = [r for r in rows
           if str(r.get("check", "")).startswith("FAIL") and str(r.get("method", "")).startswith("ours")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
