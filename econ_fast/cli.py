# SPDX-License-Identifier: Apache-2.0
"""Command line: ``python -m econ_fast <command>`` (or the ``econ_fast`` script).

    python -m econ_fast demo [--out DIR] [--size PX] [--poisson-depth D]  # bundled person -> mesh, preview, accuracy
    python -m econ_fast demo --sample dbini                       # d-BiNI only, abstract sample
    python -m econ_fast info                                      # how this copy was built
    python -m econ_fast reconstruct --front F --back B --body BODY --out DIR   # see cli_pipeline.py
    python -m econ_fast evaluate PRED GT                          # Chamfer / P2S / normal consistency
    python -m econ_fast bench                                     # benchmarks/run.py (source checkout)

Adding a command: write ``_add_<name>(sub)`` that registers its parser with
``set_defaults(run=<function(args) -> int>)`` and append it to ``COMMANDS``. Raise
:class:`CliError` (or any exception) for failures: :func:`main` turns every error into one line on
stderr and exit status 2 (set ``ECON_FAST_DEBUG=1`` to see the traceback instead).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

__all__ = ["main", "CliError"]

PROG = "econ_fast"


class CliError(Exception):
    """A user-facing failure: printed as one line (``econ_fast <command>: error: <message>``),
    exit status 2."""

    def __init__(self, message: str, prog: Optional[str] = None):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (``prog: error: message``) and exit status 2."""

    def error(self, message):
        raise CliError(message, prog=self.prog)


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------

def _add_demo(sub):
    from . import dbini
    from .pipeline import PipelineConfig

    default_depth = PipelineConfig().poisson_depth
    p = sub.add_parser("demo", help="reconstruct the bundled sample: mesh, preview, timings, accuracy",
                       description="Reconstruct the bundled synthetic person (econ_fast.synthetic, a CC0 "
                                   "MakeHuman body in a skirt, 512x512) with the whole pipeline: d-BiNI, "
                                   "front/back sheets, side completion from the sample's body, screened "
                                   "Poisson, largest component, decimation. Writes mesh.obj/.ply/.glb, the "
                                   "sheets, depth maps, preview.png and report.json, prints the per-stage "
                                   "timings and the Chamfer / P2S / normal consistency against the sample's "
                                   "ground truth. --sample dbini runs d-BiNI only on the older abstract sample.")
    p.add_argument("--out", default="econ_fast_demo", metavar="DIR",
                   help="output directory (created if missing, replaced if it exists; default: ./econ_fast_demo)")
    p.add_argument("--sample", default="human", choices=["human", "dbini"],
                   help="human: the whole pipeline on the synthetic person (default); dbini: d-BiNI and the "
                        "sheets only, on the abstract sample with a ground-truth depth")
    p.add_argument("--solver", default="fast", choices=list(dbini.SOLVERS),
                   help="fast: multigrid-preconditioned CG (default); jacobi: ECON's exact Jacobi-PCG path")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="human sample: re-render its input maps at PX x PX from the stored meshes "
                        "(default: the stored 512x512 maps); smaller is faster")
    p.add_argument("--preview-size", type=int, default=384, metavar="PX",
                   help="size of each render in preview.png (default 384)")
    p.add_argument("--poisson-depth", type=int, default=default_depth, metavar="D",
                   help=f"screened Poisson octree depth (default {default_depth}, ECON's)")
    p.add_argument("--no-poisson", action="store_true",
                   help="skip Poisson and the cleaning stages (the result is the open soup of sheets + side)")
    p.add_argument("--samples", type=int, default=10000, metavar="N",
                   help="surface samples per mesh for the accuracy figures (default 10000)")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    if args.sample == "dbini":
        return _run_demo_dbini(args)
    return _run_demo_human(args)


def _run_demo_human(args) -> int:
    from . import metrics, synthetic
    from .cli_pipeline import _prepare_out, _Progress, mesh_kind, print_written, write_result
    from .data import load_human, sample_path
    from .pipeline import PipelineConfig, poisson_backend, reconstruct

    t_all = time.perf_counter()
    if not (64 <= args.preview_size <= 2048):
        raise CliError(f"--preview-size must be in [64, 2048], got {args.preview_size}")
    if args.size is not None and not (32 <= args.size <= 2048):
        raise CliError(f"--size must be in [32, 2048], got {args.size}")
    if args.samples < 100:
        raise CliError(f"--samples must be >= 100, got {args.samples}")
    try:
        cfg = PipelineConfig(solver=args.solver, poisson_depth=args.poisson_depth, poisson=not args.no_poisson)
    except (TypeError, ValueError) as e:
        raise CliError(str(e).replace("config.poisson_depth", "--poisson-depth")) from None
    notes = []
    if cfg.poisson and poisson_backend() is None:
        cfg = cfg.replace(poisson=False)
        notes.append("no screened-Poisson backend (build econ_fast.poisson, or pip install open3d): "
                     "mesh.obj is the open soup of sheets and side")
    out = os.path.abspath(args.out)
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(os.path.join(out, "report.json")):
        # the old folder is replaced as a whole: only ever replace an earlier econ_fast result
        raise CliError(f"--out {args.out}: exists, is not empty and holds no earlier econ_fast result "
                       "(report.json); pick another folder")
    out = _prepare_out(out, overwrite=True)

    t0 = time.perf_counter()
    s = load_human()
    if args.size is not None and args.size != s.size:
        mask2, _, normals, _, _ = synthetic.render_maps(s.clothed, s.body, args.size, s.params["prior_thickness"])
        mask = mask2[0]
    else:
        normals, mask = s.normals, s.mask[0]
    gt = s.outer_surface()
    t_load = time.perf_counter() - t0

    bar = _Progress()
    res = reconstruct(normals, s.body, mask, config=cfg, progress=bar)

    t0 = time.perf_counter()
    m = metrics.evaluate(res.mesh, gt, n_samples=args.samples, normal_images=False)
    t_eval = time.perf_counter() - t0

    def extra(put):
        from . import io

        io.write_obj(put("gt.obj"), gt, header="econ_fast demo: ground truth (outer surface of the sample's "
                                               "clothed mesh), ECON crop frame")

    sample_info = {"file": sample_path("human"), "generator": "econ_fast.synthetic.generate",
                   "seed": s.params["seed"], "garment": s.params["garment"], "pose": s.params["pose"],
                   "size": int(mask.shape[0]), "rendered_at": args.size}
    report, timings = write_result(
        out, res, normals, command="demo", t_all=t_all, preview_size=args.preview_size,
        before={"load sample": t_load}, extra=extra,
        report={"sample": sample_info, "notes": notes,
                "accuracy": {**m.as_dict(), "ground_truth": "gt.obj (Sample.outer_surface())",
                             "seconds": t_eval}})
    H, W = mask.shape
    it = res.iterations
    print(f"econ_fast demo: bundled synthetic person ({s.params['garment']}), {W}x{H}, {int(mask.sum())} mask "
          f"pixels per side")
    print(f"  d-BiNI ({args.solver} solver): {it['dbini_iterations']} IRLS iterations, "
          f"{it['dbini_cg_iterations']} CG steps, {'converged' if it['dbini_converged'] else 'NOT converged'}")
    print(f"  mesh: {res.mesh.n_vertices} V / {res.mesh.n_faces} F ({mesh_kind(report)}); Poisson "
          f"{'depth %d, %s' % (cfg.poisson_depth, res.backends.get('poisson')) if cfg.poisson else 'off'}")
    print(f"  vs ground truth: Chamfer {m.chamfer:.3f} {m.unit}, P2S {m.p2s:.3f} {m.unit}, normal consistency "
          f"{m.normal_consistency:.4f} ({m.n_samples} samples; crop units taken as metres)")
    print_written(out, report, timings, notes)
    return 0


def _run_demo_dbini(args) -> int:
    import numpy as np

    from . import __version__, build_info, dbini, io, render
    from .data import load_sample
    from .mesh import Mesh

    timings = {}
    t_all = time.perf_counter()

    def stage(name, t0):
        timings[name] = time.perf_counter() - t0

    out = os.path.abspath(args.out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise CliError(f"--out {args.out}: exists and is not a directory")
    if not (64 <= args.preview_size <= 2048):
        raise CliError(f"--preview-size must be in [64, 2048], got {args.preview_size}")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CliError(f"--out {args.out}: cannot create the directory ({e.strerror})") from None

    t0 = time.perf_counter()
    s = load_sample("dbini")
    stage("load sample", t0)
    H, W = s["mask"].shape

    t0 = time.perf_counter()
    solve_params = dict(k=4.0, lambda_depth=1e-4, lambda_boundary=1e-6, max_iter=150, tol=1e-4,
                        cg_max_iter=5000, cg_tol=1e-3, solver=args.solver, depth_scale=1.0)
    res = dbini.solve(s["normals"], s["body_depth"], s["mask"], **solve_params)
    stage("d-BiNI solve", t0)

    t0 = time.perf_counter()
    mesh_params = dict(depth_scale=1.0, cut_intersection=True, max_stretch=5.0, min_component=0.01,
                       frame="econ", pixel_center=False)
    front, back = dbini.depth_to_mesh(res.depth, res.mask, **mesh_params)
    both = Mesh.concatenate([front, back])
    stage("depth to mesh", t0)

    t0 = time.perf_counter()
    io.write_obj(os.path.join(out, "front.obj"), front, header="econ_fast demo: d-BiNI front sheet, ECON crop frame")
    io.write_obj(os.path.join(out, "back.obj"), back, header="econ_fast demo: d-BiNI back sheet, ECON crop frame")
    # Normals for a later Poisson step: angle-weighted vertex normals of the concatenated sheets
    # (what ECON feeds to Open3D's Poisson, ECON_SPEC trap 16).
    io.write_ply(os.path.join(out, "sheets.ply"), both, normals=True)
    np.save(os.path.join(out, "depth.npy"), np.asarray(res.depth, dtype=np.float32))
    stage("write meshes", t0)

    # Watertight result: the sheets closed by screened Poisson, largest component, 50k faces
    # (ECON_SPEC 4.4; the bundled sample has no body mesh, so no side completion).
    closed, closed_files, closed_info = None, [], {}
    from . import pipeline

    if not args.no_poisson and pipeline.poisson_backend() is not None:
        t0 = time.perf_counter()
        try:
            cfg = pipeline.PipelineConfig(poisson_depth=args.poisson_depth)
        except ValueError as e:
            raise CliError(str(e).replace("config.poisson_depth", "--poisson-depth")) from None
        closed, _ = pipeline.close_surface([front, back], cfg, backends=closed_info)
        stage("poisson + cleaning", t0)
        t0 = time.perf_counter()
        from . import gltf

        io.write_obj(os.path.join(out, "mesh.obj"), closed, header="econ_fast demo: closed mesh, ECON crop frame")
        gltf.write_glb(os.path.join(out, "mesh.glb"), closed)
        closed_files = ["mesh.obj", "mesh.glb"]
        stage("write mesh", t0)

    t0 = time.perf_counter()
    tiles = [
        render.shade_normals(s["normals"][0], s["mask"]),
        render.shade_normals(s["normals"][1], s["mask"]),
        render.shade_depth(res.depth[0]),
        render.shade_depth(res.depth[1], side="back"),
    ]
    tiles = [_fit(t, args.preview_size) for t in tiles]
    tiles += render.render_mesh_preview(both, size=args.preview_size, views=("front", "back", "side"))
    labels = ["input normals front", "input normals back", "depth front", "depth back",
              "sheets front", "sheets back", "sheets side"]
    if closed is not None:
        tiles += render.render_mesh_preview(closed, size=args.preview_size, views=("front", "back", "side"))
        labels += ["mesh front", "mesh back", "mesh side"]
    sheet = render.contact_sheet(tiles, labels, cols=4)
    stage("render preview", t0)
    t0 = time.perf_counter()
    io.write_png(os.path.join(out, "preview.png"), sheet)
    stage("write preview", t0)
    timings["total"] = time.perf_counter() - t_all

    err = None
    if "depth_gt" in s:                      # mean |error| after removing the median offset
        err = []
        for k in range(2):
            d, g = np.asarray(res.depth[k], np.float64), s["depth_gt"][k]
            ok = np.isfinite(d) & np.isfinite(g)
            diff = g[ok] - d[ok]
            err.append(float(np.mean(np.abs(diff - np.median(diff)))))

    report = {
        "econ_fast": __version__,
        "build": build_info(),
        "sample": {"name": "dbini", "shape": [H, W], "mask_pixels": int(s["mask"].sum()), **s["meta"]},
        "units": "depth.npy: (2,H,W) float32 front/back depth in pixels, growing away from the front "
                 "camera, NaN outside the mask; meshes: ECON crop frame (x right, y up, z toward the "
                 "front camera, 1 unit = H/2 px, vertices on pixel corners)",
        "parameters": {"solve": solve_params, "depth_to_mesh": mesh_params},
        "solver": {
            "iterations": res.iterations,
            "cg_iterations": res.cg_iterations,
            "cg_per_iter": res.cg_per_iter,
            "converged": res.converged,
            "unknowns": res.unknowns,
            "energy_initial": float(res.energy[0]),
            "energy_final": float(res.energy[-1]),
            "timings": {k: float(v) for k, v in res.timings.items()},
        },
        "depth_error_px": {"front": err[0], "back": err[1], "note": "mean |error| vs ground truth after "
                           "removing the median offset"} if err else None,
        "meshes": {name: {"vertices": m.n_vertices, "faces": m.n_faces}
                   for name, m in (("front", front), ("back", back), ("mesh", closed)) if m is not None},
        "backends": closed_info,
        "timings_s": {k: round(v, 6) for k, v in timings.items()},
        "files": ["front.obj", "back.obj", "sheets.ply", "depth.npy"] + closed_files + ["preview.png", "report.json"],
    }
    with open(os.path.join(out, "report.json"), "w") as fh:
        json.dump(report, fh, indent=2)

    print(f"econ_fast demo ({args.solver} solver): {H}x{W} sample, {int(s['mask'].sum())} mask pixels per side")
    print(f"  d-BiNI: {res.iterations} IRLS iterations, {res.cg_iterations} CG steps, "
          f"{'converged' if res.converged else 'NOT converged'}")
    if err:
        print(f"  depth error vs ground truth: front {err[0]:.3f} px, back {err[1]:.3f} px")
    print(f"  meshes: front {front.n_vertices} V / {front.n_faces} F, back {back.n_vertices} V / {back.n_faces} F")
    if closed is not None:
        print(f"  closed mesh (Poisson depth {args.poisson_depth}, {closed_info.get('poisson')}): "
              f"{closed.n_vertices} V / {closed.n_faces} F")
    elif not args.no_poisson:
        print("  closed mesh skipped: no screened-Poisson backend (build econ_fast.poisson, or pip install open3d)")
    print(f"wrote to {out}:")
    for f in report["files"]:
        print(f"  {os.path.join(out, f)}")
    print(_table(timings))
    return 0


def _fit(img, size):
    """Nearest-neighbour resize so the longer side is ``size`` (for the preview tiles)."""
    import numpy as np

    h, w = img.shape[:2]
    s = size / max(h, w)
    if abs(s - 1) < 1e-9:
        return img
    rows = np.minimum((np.arange(int(round(h * s))) / s).astype(int), h - 1)
    cols = np.minimum((np.arange(int(round(w * s))) / s).astype(int), w - 1)
    return img[rows][:, cols]


def _table(timings: dict) -> str:
    width = max(len(k) for k in timings)
    lines = [f"{'stage':<{width}}  {'seconds':>8}"]
    for k, v in timings.items():
        if k == "total":
            lines.append("-" * (width + 10))
        lines.append(f"{k:<{width}}  {v:8.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------

def _add_info(sub):
    p = sub.add_parser("info", help="print how this copy of econ_fast was built",
                       description="Print econ_fast.build_info(): version, CUDA, CPU backend, compiler, threads.")
    p.add_argument("--json", action="store_true", help="print JSON instead of 'key: value' lines")
    p.set_defaults(run=_run_info)


def _run_info(args) -> int:
    from . import build_info

    info = build_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

from .cli_pipeline import add_bench, add_evaluate, add_reconstruct  # noqa: E402

COMMANDS = [_add_demo, _add_info, add_reconstruct, add_evaluate, add_bench]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog=PROG, description="econ-fast: fast kernels for ECON-style clothed-human reconstruction.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    debug = os.environ.get("ECON_FAST_DEBUG", "") not in ("", "0")
    prog = PROG
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            parser.print_help(sys.stderr)
            return 2
        prog = f"{PROG} {args.command}"
        return int(args.run(args) or 0)
    except CliError as e:
        print(f"{e.prog or prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one line unless debugging
        if debug:
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"{prog}: error: {msg} ({type(e).__name__})", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
