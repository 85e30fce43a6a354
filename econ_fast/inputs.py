# SPDX-License-Identifier: Apache-2.0
"""Readers for the pipeline's inputs, each checking what it reads and saying what is wrong.

* normal maps: 8/16-bit PNG encoding (n + 1) / 2 (ECON's and BiNI's files), or ``.npy`` (float in
  [-1, 1], or uint8/uint16 encoded like the PNGs); :func:`read_normal_pair` checks that the pair
  looks like ECON-convention normals;
* masks: PNG (gray, RGB or the alpha channel of RGBA; > half of full scale is inside) or ``.npy``;
* meshes: OBJ or PLY (:mod:`econ_fast.io`);
* ECON's per-image d-BiNI file ``BNI/<name>_<idx>.npy`` (ECON_SPEC 2.1) and SMPL-X parameter files
  (``.npz``, or ECON's ``obj/<name>_smpl_<idx>.npy`` dict): both are pickled numpy dicts, read
  with an unpickler that only rebuilds numpy arrays and plain containers (no code runs);
* SMPL-X bodies through the optional ``smplx`` package (MPI non-commercial licence: imported only
  when asked for).

Every failure is a ``ValueError`` (or ``FileNotFoundError``) whose message names the file.
"""
from __future__ import annotations

import os
import pickle
from typing import Optional

import numpy as np

from .mesh import Mesh

__all__ = ["read_normal_map", "read_normal_pair", "read_mask", "read_mesh", "load_econ_bni",
           "load_smplx_params", "smplx_body", "load_pickled_npy", "SMPLX_PARAM_SIZES"]


def _exists(path, what):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{what} {path}: is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {path}: not readable (permission denied)")


def _ext(path):
    return os.path.splitext(str(path))[1].lower()


def _load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise ValueError(f"{what} {path}: holds Python objects, expected a plain numeric array") from None
        raise ValueError(f"{what} {path}: not a readable .npy file ({e})") from None
    except Exception as e:  # noqa: BLE001 - numpy raises many kinds on corrupt files
        raise ValueError(f"{what} {path}: not a readable .npy file ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------------------------
# Normal maps and masks
# --------------------------------------------------------------------------------------------

def read_normal_map(path, what: str = "normal map") -> np.ndarray:
    """(H, W, 3) float32 normals in [-1, 1] from a PNG ((n + 1) / 2, 8 or 16 bit, RGB or RGBA; an
    alpha channel of 0 marks background, set to the zero vector) or a ``.npy``."""
    from . import io

    _exists(path, what)
    alpha = None
    if _ext(path) == ".npy":
        a = _load_npy(path, what)
    else:
        try:
            a = io.read_png(path)
        except ValueError as e:
            raise ValueError(f"{what}: {e} (normal maps are 8/16-bit RGB PNG or .npy)") from None
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"{what} {path}: expected an RGB image (H, W, 3), got shape {a.shape}")
    if a.shape[2] == 4:
        alpha, a = a[..., 3], a[..., :3]
    if a.dtype == np.uint8 or a.dtype == np.uint16:
        full = 255.0 if a.dtype == np.uint8 else 65535.0
        n = a.astype(np.float32) / full * 2.0 - 1.0
        if alpha is not None:
            n[alpha < full / 2] = 0.0
    elif a.dtype.kind == "f":
        n = a.astype(np.float32)
        if not np.isfinite(n).all():
            n = np.nan_to_num(n, nan=0.0, posinf=0.0, neginf=0.0)
        if n.min() < -1.01 or n.max() > 1.01:
            raise ValueError(f"{what} {path}: float normals must lie in [-1, 1], got values in "
                             f"[{n.min():.3g}, {n.max():.3g}]")
    else:
        raise ValueError(f"{what} {path}: unsupported dtype {a.dtype} (use uint8/uint16 (n+1)/2 or float in [-1, 1])")
    return n


def read_normal_pair(front_path, back_path, mask: Optional[np.ndarray] = None):
    """Front and back maps as (2, H, W, 3) float32, checked: same size, unit length inside the
    person, front facing the camera (n_z > 0) and back facing away (n_z < 0)."""
    f = read_normal_map(front_path, "--front")
    b = read_normal_map(back_path, "--back")
    if f.shape != b.shape:
        raise ValueError(f"--front {front_path} is {f.shape[1]}x{f.shape[0]} but --back {back_path} is "
                         f"{b.shape[1]}x{b.shape[0]}; the maps must have the same size")
    n = np.stack([f, b])
    check_normals(n, mask, names=(str(front_path), str(back_path)))
    return n


def check_normals(n: np.ndarray, mask=None, names=("front", "back")):
    """Encoding checks of a (2, H, W, 3) pair (see :func:`read_normal_pair`)."""
    ln = np.linalg.norm(n, axis=-1)
    fg = ((ln > 0.5) & (ln < 1.5)).all(0) if mask is None else np.asarray(mask, bool)
    if fg.sum() < 16:
        raise ValueError(f"{names[0]}: fewer than 16 pixels hold a normal (0.5 < |n| < 1.5 on both maps); "
                         "the background must be gray (the zero vector), black or white, or given by --mask")
    for s, name in enumerate(names):
        med = float(np.median(ln[s][fg]))
        unit = float((np.abs(ln[s][fg] - 1.0) < 0.1).mean())
        if not 0.85 <= med <= 1.15 or unit < 0.8:
            raise ValueError(f"{name}: does not look like a normal map encoded as (n+1)/2: inside the person "
                             f"the median |n| is {med:.2f} and {100 * unit:.0f}% of the pixels have |n| within 0.1 "
                             "of 1 (expected: nearly all)")
        nz = float(np.median(n[s][fg][:, 2]))
        if (s == 0 and nz <= 0) or (s == 1 and nz >= 0):
            raise ValueError(f"{name}: the {'front' if s == 0 else 'back'} map has median n_z {nz:+.2f}; ECON's "
                             "convention has x right, y up, z toward the front camera (front n_z > 0, back "
                             "n_z < 0): are front and back swapped, or is the map in another convention "
                             "(e.g. OpenCV y down, z forward)?")


def read_mask(path, shape) -> np.ndarray:
    """(H, W) bool mask: PNG gray / RGB (any channel above half of full scale) / RGBA (alpha) or .npy."""
    from . import io

    _exists(path, "--mask")
    if _ext(path) == ".npy":
        a = _load_npy(path, "--mask")
        full = 1 if a.dtype == bool or a.dtype.kind == "f" else (255 if a.dtype == np.uint8 else 65535)
    else:
        try:
            a = io.read_png(path)
        except ValueError as e:
            raise ValueError(f"--mask: {e}") from None
        full = 255 if a.dtype == np.uint8 else 65535
    if a.ndim == 3:
        a = a[..., 3] if a.shape[2] in (2, 4) else a.max(-1)
    if a.ndim != 2:
        raise ValueError(f"--mask {path}: expected a single-channel image, got shape {a.shape}")
    if a.shape != tuple(shape):
        raise ValueError(f"--mask {path} is {a.shape[1]}x{a.shape[0]} but the normal maps are "
                         f"{shape[1]}x{shape[0]}")
    m = a.astype(np.float64) > full / 2
    if not m.any():
        raise ValueError(f"--mask {path}: the mask is empty")
    return m


def read_mesh(path, what: str = "--body") -> Mesh:
    from . import io

    _exists(path, what)
    ext = _ext(path)
    try:
        if ext == ".obj":
            m = io.read_obj(path)
        elif ext == ".ply":
            m = io.read_ply(path)
        else:
            raise ValueError(f"{what} {path}: unknown mesh format {ext!r} (use .obj or .ply)")
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(what) else f"{what}: {msg}") from None
    if m.n_faces == 0:
        raise ValueError(f"{what} {path}: the mesh has no faces")
    if not np.isfinite(m.vertices).all():
        raise ValueError(f"{what} {path}: the mesh has non-finite vertex coordinates")
    return m


# --------------------------------------------------------------------------------------------
# Pickled numpy dicts (ECON's files), read without running code
# --------------------------------------------------------------------------------------------

_SAFE = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"),
    ("collections", "OrderedDict"), ("builtins", "bytearray"), ("_codecs", "encode"),
}


def _torch_storage_from_bytes(b):
    """What a plainly pickled torch tensor's storage calls, but through torch's weights-only loader."""
    import io as _bio

    import torch

    return torch.load(_bio.BytesIO(b), weights_only=True)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE:
            return super().find_class(module, name)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):       # ECON's dicts may hold CPU tensors
            return super().find_class(module, name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _torch_storage_from_bytes
        hint = "; save torch tensors as numpy arrays (e.g. np.savez with .cpu().numpy())" \
            if module.split(".")[0] == "torch" else ""
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays and plain containers "
                                     f"are read from pickled files){hint}")


def load_pickled_npy(path, what: str):
    """The object of a ``np.save``-d object array (ECON saves dicts that way), unpickled with only
    numpy arrays and plain containers allowed."""
    _exists(path, what)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"{what} {path}: not a .npy file ({e})") from None
        if dtype.hasobject:
            try:
                obj = _SafeUnpickler(fh).load()
            except pickle.UnpicklingError as e:
                raise ValueError(f"{what} {path}: {e}") from None
            except Exception as e:  # noqa: BLE001
                raise ValueError(f"{what} {path}: corrupt pickled data ({type(e).__name__}: {e})") from None
            if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
                obj = obj.item()
            return obj
    return _load_npy(path, what)


def _as_dict(obj, path, what):
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
        obj = obj.reshape(()).item()
    if not isinstance(obj, dict):
        raise ValueError(f"{what} {path}: expected a dict of arrays, got {type(obj).__name__}")
    return obj


def load_econ_bni(path) -> dict:
    """ECON's ``BNI/<name>_<idx>.npy`` (ECON_SPEC 2.1): returns ``normals`` (2,H,W,3) float32,
    ``mask`` (H,W) bool and ``body_depth`` (2,H,W) float32 in the pipeline's convention (world
    units ``-z -/+ t``, thickness already applied by ECON, NaN outside ``depth_mask``)."""
    d = _as_dict(load_pickled_npy(path, "--econ-file"), path, "--econ-file")
    need = ("normal_F", "normal_B", "mask", "depth_F", "depth_B", "depth_mask")
    missing = [k for k in need if k not in d]
    if missing:
        raise ValueError(f"--econ-file {path}: missing keys {missing} (ECON's BNI/<name>_<idx>.npy has {list(need)})")
    arr = {k: np.asarray(d[k]) for k in need}
    nF, nB = arr["normal_F"], arr["normal_B"]
    if nF.ndim != 3 or nF.shape[2] != 3 or nF.shape != nB.shape:
        raise ValueError(f"--econ-file {path}: normal_F/normal_B must be (H, W, 3) of one size, got "
                         f"{nF.shape} and {nB.shape}")
    H, W = nF.shape[:2]
    for k in ("mask", "depth_F", "depth_B", "depth_mask"):
        if arr[k].shape != (H, W):
            raise ValueError(f"--econ-file {path}: {k} must have shape {(H, W)}, got {arr[k].shape}")
    mask = arr["mask"].astype(bool)
    dm = arr["depth_mask"].astype(bool)
    prior = np.stack([np.where(dm, arr["depth_F"], np.nan), np.where(dm, arr["depth_B"], np.nan)]).astype(np.float32)
    normals = np.stack([nF, nB]).astype(np.float32)
    normals = np.where(mask[None, ..., None], np.nan_to_num(normals), 0.0).astype(np.float32)
    return {"normals": normals, "mask": mask, "body_depth": prior}


# --------------------------------------------------------------------------------------------
# SMPL-X
# --------------------------------------------------------------------------------------------

# name -> (numbers per person, required?) ; betas/expression: up to that many
SMPLX_PARAM_SIZES = {
    "global_orient": (3, True), "body_pose": (63, True), "jaw_pose": (3, False), "leye_pose": (3, False),
    "reye_pose": (3, False), "left_hand_pose": (45, False), "right_hand_pose": (45, False),
    "betas": (300, False), "expression": (100, False), "transl": (3, False), "scale": (1, False),
}
_VARIABLE = ("betas", "expression")


def load_smplx_params(path) -> dict:
    """SMPL-X parameters of one person from ``.npz`` or ECON's pickled ``.npy`` dict, as float32
    (1, n) arrays. Poses are axis-angle ((21, 3) or (63,) for the body); rotation matrices
    (..., 3, 3) are converted. Missing optional keys are zero (``scale`` one)."""
    _exists(path, "--smplx")
    if _ext(path) == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"--smplx {path}: not a readable .npz of arrays ({type(e).__name__}: {e})") from None
    else:
        d = _as_dict(load_pickled_npy(path, "--smplx"), path, "--smplx")
    out = {}
    for k, (size, required) in SMPLX_PARAM_SIZES.items():
        if k not in d:
            if required:
                raise ValueError(f"--smplx {path}: missing parameter {k!r} ({size} numbers); keys found: {sorted(d)}")
            continue
        a = d[k]
        if type(a).__module__.split(".")[0] == "torch":
            a = a.detach().cpu().numpy()
        a = np.asarray(a)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"--smplx {path}: parameter {k!r} must be numeric, got dtype {a.dtype}")
        a = a.astype(np.float64)
        if k.endswith("pose") or k == "global_orient":
            if a.ndim >= 2 and a.shape[-2:] == (3, 3):
                from scipy.spatial.transform import Rotation

                a = Rotation.from_matrix(a.reshape(-1, 3, 3)).as_rotvec()
        flat = a.reshape(-1)
        if k in _VARIABLE:
            if flat.size < 1 or flat.size > size:
                raise ValueError(f"--smplx {path}: parameter {k!r} must hold 1..{size} numbers, got shape {a.shape}")
        elif flat.size != size:
            what = {"body_pose": " (21 joints x 3, axis-angle)", "left_hand_pose": " (15 joints x 3, axis-angle, "
                    "no PCA)", "right_hand_pose": " (15 joints x 3, axis-angle, no PCA)"}.get(k, "")
            raise ValueError(f"--smplx {path}: parameter {k!r} must hold {size} numbers{what} for one person, "
                             f"got shape {np.asarray(d[k]).shape}")
        if not np.isfinite(flat).all():
            raise ValueError(f"--smplx {path}: parameter {k!r} is not finite")
        out[k] = flat.reshape(1, -1).astype(np.float32)
    return out


# SMPL-X joints of the hands: wrists 20, 21 and the 30 finger joints 25..54 (standard SMPL-X order).
HAND_JOINTS = np.array([20, 21] + list(range(25, 55)))
EYE_JOINTS = np.array([23, 24])


def _import_smplx():
    try:
        import smplx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        raise ImportError(f"SMPL-X bodies need the optional 'smplx' package and torch ({e}); install them with "
                          "`pip install smplx torch` (smplx is under the MPI non-commercial licence)") from None
    return smplx


def smplx_body(params: dict, model_dir, *, gender: str = "neutral"):
    """The SMPL-X body of ``params`` (see :func:`load_smplx_params`) in ECON's crop frame
    (``(v + transl) * scale`` with y and z flipped, ECON ``apps/infer.py``), without the eyeball
    faces (ECON removes them too), and the (V,) bool mask of hand vertices (those whose largest
    skinning weight belongs to a wrist or finger joint; ECON uses its hand segmentation file, which
    is not redistributable). ECON runs PIXIE's own SMPL-X layer; the ``smplx`` package implements
    the same model."""
    smplx = _import_smplx()
    import torch

    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--smplx-model {model_dir}: no such directory (the folder holding "
                                "smplx/SMPLX_NEUTRAL.npz or SMPLX_NEUTRAL.npz)")
    g = gender.upper()
    cands = [os.path.join(model_dir, f"SMPLX_{g}.npz"), os.path.join(model_dir, "smplx", f"SMPLX_{g}.npz")]
    model_file = next((c for c in cands if os.path.isfile(c)), None)
    if model_file is None:
        raise FileNotFoundError(f"--smplx-model {model_dir}: no SMPLX_{g}.npz in it or in its smplx/ folder")
    nb = params["betas"].shape[1] if "betas" in params else 10
    ne = params["expression"].shape[1] if "expression" in params else 10
    try:
        model = smplx.create(model_file, model_type="smplx", gender=gender, use_pca=False, num_betas=nb,
                             num_expression_coeffs=ne, ext="npz", flat_hand_mean=True)
    except Exception as e:  # noqa: BLE001 - smplx asserts / KeyErrors on bad files
        raise ValueError(f"--smplx-model {model_file}: could not build the SMPL-X model "
                         f"({type(e).__name__}: {e})") from None
    kw = {k: torch.from_numpy(v) for k, v in params.items() if k not in ("transl", "scale")}
    with torch.no_grad():
        out = model(return_verts=True, **kw)
    v = out.vertices[0].numpy().astype(np.float64)
    t = params.get("transl", np.zeros((1, 3), np.float32)).reshape(3)
    s = float(params.get("scale", np.ones((1, 1), np.float32)).reshape(-1)[0])
    v = (v + t) * s * np.array([1.0, -1.0, -1.0])
    faces = np.asarray(model.faces, np.int64)
    w = model.lbs_weights.detach().numpy()
    if w.shape[1] <= HAND_JOINTS.max():
        return Mesh(v, faces), np.zeros(len(v), bool)
    top = np.argmax(w, axis=1)
    # ECON drops the eyeballs (separate closed shells inside the head) from the completion mesh;
    # their vertices are the ones driven by the eye joints 23 and 24. Their faces go, the vertices
    # stay (unreferenced) so vertex indices keep SMPL-X's numbering.
    eye = np.isin(top, EYE_JOINTS)
    faces = faces[~eye[faces].all(1)]
    return Mesh(v, faces), np.isin(top, HAND_JOINTS)
