# SPDX-License-Identifier: Apache-2.0
"""``econ_fast reconstruct``, ``econ_fast evaluate`` and ``econ_fast bench`` (registered in
:data:`econ_fast.cli.COMMANDS`).

    econ_fast reconstruct --front F.png --back B.png --body BODY.obj [--mask M.png] --out DIR
    econ_fast reconstruct --front F.png --back B.png --smplx PARAMS.npz --smplx-model MODELS --out DIR
    econ_fast reconstruct --econ-file results/econ/BNI/img_0.npy [--body img_smpl_00.obj] --out DIR
    econ_fast reconstruct --image IMG.png --normal-ckpt normal.ckpt --smplx P.npz --smplx-model M --out DIR
    econ_fast evaluate PRED.obj GT.obj [--scale 100] [--json]
    econ_fast bench [suite options]

``reconstruct`` writes into a temporary folder next to DIR and renames it to DIR only when every
file is written, so a failure never leaves a half-written result behind.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .cli import CliError

__all__ = ["add_reconstruct", "add_evaluate", "add_bench", "write_result"]


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------

class _Progress:
    """A one-line bar on a terminal (stderr), nothing on a pipe."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream if stream is not None else sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.t0 = time.perf_counter()

    def __call__(self, stage, i, total):
        if not self.on:
            return
        k = int(round(self.width * i / max(total, 1)))
        bar = "#" * k + "-" * (self.width - k)
        self.stream.write(f"\r[{bar}] {i}/{total} {stage:<20} {time.perf_counter() - self.t0:6.1f}s")
        if stage == "done":
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# reconstruct
# --------------------------------------------------------------------------------------------

def add_reconstruct(sub):
    from .pipeline import PipelineConfig

    d = PipelineConfig()
    p = sub.add_parser(
        "reconstruct", help="normal maps + body (or an image + ECON's normal network) -> watertight clothed mesh",
        description="Run ECON_EX's stages (body prior, d-BiNI, front/back sheets, hand replacement, side "
                    "completion, screened Poisson, largest component, decimation) and write the mesh "
                    "(OBJ/PLY/GLB), the sheets, depth maps, preview.png and report.json into --out. Inputs, "
                    "one of: --front/--back normal maps; --econ-file (ECON's BNI/<name>_<idx>.npy); --image "
                    "with --normal-ckpt (ECON's normal network). The body: --body (OBJ/PLY in ECON's crop "
                    "frame) or --smplx with --smplx-model (optional smplx package).")
    g = p.add_argument_group("inputs")
    g.add_argument("--front", metavar="F", help="front normal map: 8/16-bit PNG encoding (n+1)/2, or .npy")
    g.add_argument("--back", metavar="B", help="back normal map (mirrored left-right, ECON's convention)")
    g.add_argument("--mask", metavar="M", help="person mask PNG/.npy (default: pixels with a normal on both maps)")
    g.add_argument("--body", metavar="BODY", help="body mesh (.obj/.ply) in ECON's crop frame")
    g.add_argument("--smplx", metavar="PARAMS", help="SMPL-X parameters (.npz, or ECON's obj/<name>_smpl_<idx>.npy)")
    g.add_argument("--smplx-model", metavar="DIR", help="folder with SMPLX_NEUTRAL.npz (or smplx/SMPLX_NEUTRAL.npz)")
    g.add_argument("--gender", default="neutral", choices=["neutral", "male", "female"], help="SMPL-X model gender")
    g.add_argument("--econ-file", metavar="NPY", help="ECON's per-image d-BiNI input file BNI/<name>_<idx>.npy")
    g.add_argument("--image", metavar="IMG", help="RGB(A) crop (ECON's 512x512 person crop) for the normal network")
    g.add_argument("--normal-ckpt", metavar="CKPT", help="ECON's normal.ckpt (pix2pixHD generators netF/netB)")
    g.add_argument("--trust-checkpoint", action="store_true",
                   help="allow torch to unpickle a checkpoint that is not plain weights (runs code from the file)")
    g.add_argument("--device", default="cpu", help="torch device for the normal network (cpu, cuda, cuda:1)")
    g.add_argument("--perspective", metavar="K",
                   help="pinhole intrinsics: 'fx,fy,cx,cy' or a file with a 3x3 matrix (.txt/.npy); the body "
                        "and the output are then in the OpenCV camera frame")
    s = p.add_argument_group("stages (defaults: ECON's)")
    s.add_argument("--solver", default=d.solver, choices=["fast", "jacobi"], help="d-BiNI linear solver")
    s.add_argument("--k", type=float, default=d.k, help=f"d-BiNI sigmoid sharpness (default {d.k})")
    s.add_argument("--lambda-depth", type=float, default=d.lambda_depth, help="d-BiNI body prior weight")
    s.add_argument("--lambda-boundary", type=float, default=d.lambda_boundary, help="d-BiNI silhouette weight")
    s.add_argument("--max-iter", type=int, default=d.max_iter, help="d-BiNI IRLS iterations")
    s.add_argument("--thickness", type=float, default=d.thickness, help="prior inflation per side (crop units)")
    s.add_argument("--no-prior", action="store_true", help="integrate without the body depth prior")
    s.add_argument("--pixel-center", action="store_true",
                   help="sheet vertices on pixel centres (default: ECON's pixel corners, half a pixel off)")
    s.add_argument("--no-hands", action="store_true", help="skip SMPL-X hand replacement")
    s.add_argument("--hand-thres", type=float, default=d.hand_thres, help="hand removal distance")
    s.add_argument("--no-side", action="store_true", help="skip side completion from the body")
    s.add_argument("--side-thres", type=float, default=d.side_thres, help="cull distance for body faces")
    s.add_argument("--no-subdivide", action="store_true", help="do not subdivide the body before culling")
    s.add_argument("--no-poisson", action="store_true", help="skip Poisson (mesh = the open soup)")
    s.add_argument("--poisson-depth", type=int, default=d.poisson_depth, help="Poisson octree depth")
    s.add_argument("--no-density-groups", action="store_true",
                   help="one Poisson density for the whole soup (default: each part, sheets / side / hands, "
                        "is splatted at its own sampling density)")
    s.add_argument("--no-largest", action="store_true", help="keep every Poisson component")
    s.add_argument("--no-decimate", action="store_true", help="skip decimation")
    s.add_argument("--faces", type=int, default=d.face_count, help="decimation target face count")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist or be empty "
                   "unless --overwrite)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    o.add_argument("--preview-size", type=int, default=384, metavar="PX", help="size of each preview tile")
    p.set_defaults(run=run_reconstruct)


def _config(args):
    from .pipeline import PipelineConfig

    try:
        return PipelineConfig(k=args.k, lambda_depth=args.lambda_depth, lambda_boundary=args.lambda_boundary,
                              max_iter=args.max_iter, solver=args.solver, thickness=args.thickness,
                              use_prior=not args.no_prior, pixel_center=args.pixel_center, hands=not args.no_hands, hand_thres=args.hand_thres,
                              side=not args.no_side, side_thres=args.side_thres,
                              side_subdivide=not args.no_subdivide, poisson=not args.no_poisson,
                              poisson_depth=args.poisson_depth,
                              poisson_density_groups=not args.no_density_groups, keep_largest=not args.no_largest,
                              decimate=not args.no_decimate, face_count=args.faces)
    except (TypeError, ValueError) as e:
        raise CliError(str(e).replace("config.", "--").replace("_", "-")) from None


def _intrinsics(spec):
    import numpy as np

    if spec is None:
        return None
    if os.path.exists(spec):
        try:
            K = np.load(spec) if spec.endswith(".npy") else np.loadtxt(spec)
        except Exception as e:  # noqa: BLE001
            raise CliError(f"--perspective {spec}: cannot read a 3x3 matrix ({e})") from None
    else:
        try:
            fx, fy, cx, cy = (float(x) for x in spec.split(","))
        except ValueError:
            raise CliError(f"--perspective {spec!r}: expected 'fx,fy,cx,cy' or a file with a 3x3 matrix") from None
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], float)
    K = np.asarray(K, float)
    if K.shape != (3, 3):
        raise CliError(f"--perspective {spec}: expected a 3x3 matrix, got shape {K.shape}")
    return K


def _check_modes(args):
    modes = [m for m, on in (("--front/--back", args.front or args.back), ("--econ-file", args.econ_file),
                             ("--image", args.image)) if on]
    if not modes:
        raise CliError("give the normal maps (--front and --back), ECON's --econ-file, or --image with --normal-ckpt")
    if len(modes) > 1:
        raise CliError(f"choose one input: {' or '.join(modes)}")
    if modes[0] == "--front/--back" and not (args.front and args.back):
        raise CliError("--front and --back go together")
    if modes[0] == "--image" and not args.normal_ckpt:
        raise CliError("--image needs --normal-ckpt (ECON's normal network checkpoint)")
    if args.normal_ckpt and modes[0] != "--image":
        raise CliError("--normal-ckpt is used with --image")
    if args.body and args.smplx:
        raise CliError("give the body as --body or as --smplx, not both")
    if bool(args.smplx) != bool(args.smplx_model):
        raise CliError("--smplx and --smplx-model go together")
    if not (args.body or args.smplx) and modes[0] != "--econ-file":
        raise CliError("a body is needed: --body BODY.obj, or --smplx PARAMS --smplx-model DIR")
    if not (64 <= args.preview_size <= 2048):
        raise CliError(f"--preview-size must be in [64, 2048], got {args.preview_size}")
    return modes[0]


def _prepare_out(out, overwrite):
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise CliError(f"--out {out}: exists and is not a directory")
        if os.listdir(out) and not overwrite:
            raise CliError(f"--out {out}: exists and is not empty (pass --overwrite to replace it)")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise CliError(f"--out {out}: cannot create the parent folder ({e.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise CliError(f"--out {out}: the parent folder is not writable")
    return out


def _publish(tmp, out):
    """Move the finished temporary folder to ``out`` (replacing an old result last)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)                       # mkdtemp makes it private (0700)
    old = None
    if os.path.exists(out):
        old = tempfile.mkdtemp(prefix=".econ_fast-old-", dir=os.path.dirname(out))
        os.rmdir(old)
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _load_inputs(args, mode, K):
    """-> dict(normals, mask, body, hand_vertices, body_depth, image, notes)."""
    from . import inputs

    res = {"normals": None, "mask": None, "body": None, "hand_vertices": None, "body_depth": None, "notes": []}
    try:
        if args.body:
            res["body"] = inputs.read_mesh(args.body, "--body")
        elif args.smplx:
            params = inputs.load_smplx_params(args.smplx)
            res["body"], res["hand_vertices"] = inputs.smplx_body(params, args.smplx_model, gender=args.gender)
        if mode == "--front/--back":
            n = inputs.read_normal_pair(args.front, args.back)
            if args.mask:
                res["mask"] = inputs.read_mask(args.mask, n.shape[1:3])
                inputs.check_normals(n, res["mask"], names=(args.front, args.back))
            res["normals"] = n
        elif mode == "--econ-file":
            e = inputs.load_econ_bni(args.econ_file)
            res.update(normals=e["normals"], mask=e["mask"])
            if args.mask:
                res["mask"] = inputs.read_mask(args.mask, e["mask"].shape)
            if res["body"] is None or K is None:
                res["body_depth"] = e["body_depth"]      # ECON's own prior (thickness applied by ECON)
            if res["body"] is None:
                res["notes"].append("no body given: side completion and hand replacement skipped")
        else:
            res.update(_predict_normals(args, res["body"], K))
    except (FileNotFoundError, ValueError, ImportError) as e:
        raise CliError(str(e)) from None
    return res


def _predict_normals(args, body, K):
    import numpy as np

    from . import inputs, io, normalnet
    from .pipeline import render_body

    inputs._exists(args.image, "--image")
    try:
        img = io.read_png(args.image)
    except ValueError as e:
        raise ValueError(f"--image: {e} (8/16-bit RGB or RGBA PNG)") from None
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"--image {args.image}: expected RGB or RGBA, got shape {img.shape}")
    full = 255.0 if img.dtype == np.uint8 else 65535.0
    H, W = img.shape[:2]
    if args.mask:
        mask = inputs.read_mask(args.mask, (H, W))
    elif img.shape[2] == 4:
        mask = img[..., 3] > full / 2
    else:
        mask = img[..., :3].astype(np.float64).sum(-1) > 0
    if mask.sum() < 16:
        raise ValueError(f"--image {args.image}: the person mask is empty (give --mask, or an RGBA image)")
    try:
        net = normalnet.load_normal_net(args.normal_ckpt, device=args.device, trust=args.trust_checkpoint)
    except (normalnet.CheckpointError, FileNotFoundError) as e:
        raise ValueError(str(e)) from None
    _, body_normals, _ = render_body(body, H, W, K=K)
    rgb = img[..., :3].astype(np.float32) / full
    n = normalnet.predict_normals(net, rgb, body_normals, mask, device=args.device)
    return {"normals": n, "mask": mask, "image": rgb, "predicted_normals": True}


def _save_normals_png(path, n, mask):
    import numpy as np

    from . import io

    enc = np.clip((np.nan_to_num(n) + 1.0) * 0.5 * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    enc[~mask] = 32768
    io.write_png(path, enc)


def write_result(out, res, normals, *, command, K=None, t_all=None, preview_size=384, image=None, body=None,
                 predicted_normals=False, before=None, report=None, extra=None):
    """Write a :class:`econ_fast.pipeline.PipelineResult` into ``out`` (mesh.obj/.ply/.glb, the
    sheets, side/hands/body meshes, depth maps, preview.png, report.json): into a temporary folder
    next to ``out``, renamed to ``out`` only when everything is written. ``before``: timings of
    stages run before the pipeline (shown first); ``report``: extra report.json entries;
    ``extra(put)``: writes more files through ``put(name) -> path``. Returns ``(report, timings)``."""
    import numpy as np

    from . import __version__, gltf, io, render
    from .cli import _fit

    t_all = time.perf_counter() if t_all is None else t_all
    tmp = tempfile.mkdtemp(prefix=".econ_fast-", dir=os.path.dirname(out))
    try:
        t0 = time.perf_counter()
        files = []

        def put(name):
            files.append(name)
            return os.path.join(tmp, name)

        hdr = f"econ_fast {command}: " + ("ECON crop frame (x right, y up, z toward the camera)" if K is None
                                          else "OpenCV camera frame of --perspective K")
        io.write_obj(put("mesh.obj"), res.mesh, header=hdr)
        io.write_ply(put("mesh.ply"), res.mesh, normals=True)
        gltf.write_glb(put("mesh.glb"), res.mesh)
        io.write_obj(put("front.obj"), res.sheets.front, header=hdr + "; d-BiNI front sheet")
        io.write_obj(put("back.obj"), res.sheets.back, header=hdr + "; d-BiNI back sheet")
        if res.side is not None and res.side.n_faces:
            io.write_obj(put("side.obj"), res.side, header=hdr + "; culled body used for side completion")
        if res.hands is not None:
            io.write_obj(put("hands.obj"), res.hands, header=hdr + "; SMPL-X hands")
        if body is not None:
            io.write_obj(put("body.obj"), body, header=hdr + "; SMPL-X body")
        np.save(put("depth.npy"), res.depth)
        np.save(put("body_depth.npy"), res.body_depth)
        depth_scale = res.mask.shape[0] / 2.0 if K is None else 1.0
        io.write_png(put("depth_front.png"), render.shade_depth(res.depth[0], depth_scale=depth_scale))
        io.write_png(put("depth_back.png"), render.shade_depth(res.depth[1], side="back", depth_scale=depth_scale))
        if predicted_normals:
            _save_normals_png(put("normal_front.png"), normals[0], res.mask)
            _save_normals_png(put("normal_back.png"), normals[1], res.mask)
            np.save(put("normals.npy"), normals)
        if extra is not None:
            extra(put)
        t_write = time.perf_counter() - t0

        t0 = time.perf_counter()
        size = preview_size
        tiles = [_fit(render.shade_normals(normals[0], res.mask), size),
                 _fit(render.shade_normals(normals[1], res.mask), size)]
        tiles += render.render_mesh_preview(res.mesh, size=size, views=("front", "back", "side"),
                                            frame="econ" if K is None else "opencv")
        labels = ["input normals front", "input normals back", "result front", "result back", "result side"]
        if image is not None:
            tiles.insert(0, _fit((image * 255 + 0.5).astype(np.uint8), size))
            labels.insert(0, "image")
        io.write_png(put("preview.png"), render.contact_sheet(tiles, labels, cols=len(tiles) if len(tiles) <= 5 else 3))
        t_preview = time.perf_counter() - t0

        timings = {**(before or {}), **{k: v for k, v in res.timings.items() if k != "total"},
                   "write files": t_write, "preview": t_preview}
        timings["total"] = time.perf_counter() - t_all
        rep = {
            "econ_fast": __version__,
            "command": command,
            "frame": "econ crop frame (image spans [-1,1] in y, x right, y up, z toward the front camera)"
                     if K is None else "OpenCV camera frame of K (x right, y down, z forward)",
            "image_size": list(res.mask.shape),
            "mask_pixels": int(res.mask.sum()),
            "parameters": res.config.as_dict(),
            "intrinsics": None if K is None else K.tolist(),
            "backends": res.backends,
            "iterations": {k: (v.item() if hasattr(v, "item") else v) for k, v in res.iterations.items()},
            "meshes": {name: {"vertices": m.n_vertices, "faces": m.n_faces} for name, m in
                       (("mesh", res.mesh), ("front", res.sheets.front), ("back", res.sheets.back),
                        ("side", res.side), ("hands", res.hands)) if m is not None},
            "closed": bool(len(res.mesh.boundary_edges()) == 0),
            "watertight": bool(res.mesh.is_watertight()),
            **(report or {}),
            "timings_s": {k: round(float(v), 6) for k, v in timings.items()},
            "files": files + ["report.json"],
        }
        with open(put("report.json"), "w") as fh:
            json.dump(rep, fh, indent=2)
        files.pop()
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rep, timings


def run_reconstruct(args) -> int:
    from .meshquery import PerspectiveCamera
    from .pipeline import reconstruct

    mode = _check_modes(args)
    cfg = _config(args)
    K = _intrinsics(args.perspective)
    out = _prepare_out(args.out, args.overwrite)
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    inp = _load_inputs(args, mode, K)
    t_load = time.perf_counter() - t0
    bar = _Progress()
    try:
        res = reconstruct(inp["normals"], inp["body"], inp["mask"], camera=None if K is None else PerspectiveCamera(K),
                          body_depth=inp["body_depth"], hand_vertices=inp["hand_vertices"], config=cfg, progress=bar)
    except (ValueError, TypeError) as e:
        if bar.on:
            sys.stderr.write("\n")
        raise CliError(str(e)) from None

    inputs_used = {k: getattr(args, k) for k in ("front", "back", "mask", "body", "smplx", "smplx_model",
                                                 "econ_file", "image", "normal_ckpt", "perspective")
                   if getattr(args, k)}
    report, timings = write_result(out, res, inp["normals"], command="reconstruct", K=K, t_all=t_all,
                                   preview_size=args.preview_size, image=inp.get("image"),
                                   body=inp["body"] if args.smplx else None,
                                   predicted_normals=bool(inp.get("predicted_normals")),
                                   before={"load inputs": t_load}, report={"inputs": inputs_used, "notes": inp["notes"]})

    print(f"econ_fast reconstruct: {res.mask.shape[1]}x{res.mask.shape[0]}, {int(res.mask.sum())} mask pixels; "
          f"d-BiNI {res.iterations['dbini_iterations']} IRLS / {res.iterations['dbini_cg_iterations']} CG steps; "
          f"mesh {res.mesh.n_vertices} V / {res.mesh.n_faces} F ({mesh_kind(report)})")
    print_written(out, report, timings, inp["notes"])
    return 0


def mesh_kind(report) -> str:
    return "watertight" if report["watertight"] else ("closed" if report["closed"] else "open")


def print_written(out, report, timings, notes=()):
    """The notes, every file written (full paths) and the per-stage timing table."""
    from .cli import _table

    for note in notes:
        print(f"  note: {note}")
    print(f"wrote to {out}:")
    for f in report["files"]:
        print(f"  {os.path.join(out, f)}")
    print(_table(timings))


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------

def add_evaluate(sub):
    p = sub.add_parser("evaluate", help="Chamfer / P2S / normal consistency of a mesh against ground truth",
                       description="ECON's metrics with exact point-to-surface distances (econ_fast.metrics): "
                                   "Chamfer, P2S (prediction to ground truth), normal consistency and the "
                                   "rendered-normal error. Distances are multiplied by --scale (default 100: "
                                   "meshes in metres, results in cm; ECON's crop frame is ~metres for a 1.8 m "
                                   "person).")
    p.add_argument("pred", metavar="PRED", help="reconstructed mesh (.obj/.ply)")
    p.add_argument("gt", metavar="GT", help="ground-truth mesh (.obj/.ply)")
    p.add_argument("--scale", type=float, default=100.0, help="multiplier from mesh units to the reported unit")
    p.add_argument("--unit", default="cm", help="name of the reported unit (default cm)")
    p.add_argument("--samples", type=int, default=10000, help="surface samples per mesh (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--no-normal-images", action="store_true", help="skip the rendered normal error")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args) -> int:
    from . import inputs, metrics

    try:
        pred = inputs.read_mesh(args.pred, "PRED")
        gt = inputs.read_mesh(args.gt, "GT")
        m = metrics.evaluate(pred, gt, n_samples=args.samples, seed=args.seed, scale=args.scale, unit=args.unit,
                             normal_images=not args.no_normal_images)
    except (FileNotFoundError, ValueError, TypeError) as e:
        raise CliError(str(e)) from None
    if args.json:
        print(json.dumps(m.as_dict(), indent=2))
    else:
        u = m.unit
        print(f"chamfer             {m.chamfer:.4f} {u}")
        print(f"p2s                 {m.p2s:.4f} {u}   (pred -> gt; gt -> pred {m.gt_to_pred:.4f} {u})")
        print(f"normal consistency  {m.normal_consistency:.4f}")
        if m.normal_error is not None:
            print(f"normal error        {m.normal_error:.4f}   (rendered normals, 4 views)")
        print(f"({m.n_samples} samples per mesh, seed {m.seed}, distances x {m.scale:g})")
    return 0


# --------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------

def add_bench(sub):
    p = sub.add_parser("bench", help="run the kernel benchmarks (needs a source checkout)",
                       description="Run benchmarks/run.py of the source checkout this package was imported "
                                   "from and print its tables (the options are passed on to it).")
    p.add_argument("--suite", default=None, help="dbini (kernels, the default 'all') or pipeline (minutes)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per row")
    p.add_argument("--json", default=None, metavar="OUT", help="append JSON lines to OUT")
    p.add_argument("--only", default=None, help="subset of the suite's cases (see benchmarks/bm_*.py --help)")
    p.set_defaults(run=run_bench)


def find_bench_script():
    here = os.path.dirname(os.path.abspath(__file__))
    cand = os.path.join(os.path.dirname(here), "benchmarks", "run.py")
    return cand if os.path.isfile(cand) else None


def run_bench(args) -> int:
    script = find_bench_script()
    if script is None:
        raise CliError("the benchmarks live in the source checkout (benchmarks/run.py), which this installed "
                       "copy does not have; clone the repository and run `make bench` or `python -m econ_fast "
                       "bench` from it")
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    root = os.path.dirname(os.path.dirname(script))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    rest = []
    for opt in ("suite", "repeats", "json", "only"):
        if getattr(args, opt) is not None:
            rest += [f"--{opt}", str(getattr(args, opt))]
    if args.smoke:
        rest.append("--smoke")
    r = subprocess.run([sys.executable, script, *rest], env=env)
    return r.returncode
