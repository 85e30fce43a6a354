# SPDX-License-Identifier: Apache-2.0
"""Quick looks at normal maps, depth maps and meshes, in numpy only (no GL, no Pillow).

    from econ_fast import render, io
    rgb = render.shade_normals(normals[0])               # (H, W, 3) uint8, (n + 1) / 2
    rgb = render.shade_depth(depth[0])                   # Lambertian relief of a depth map
    views = render.render_mesh_preview(mesh)             # front / back / side, CPU z-buffer
    io.write_png("preview.png", render.contact_sheet([rgb, *views], ["depth", "front", "back", "side"]))

Conventions are ECON's (ECON_SPEC 1): normals in the world frame (x right, y up, z toward the
front camera); depth in pixels, growing away from the front camera; meshes in ECON's crop frame
(``frame="econ"``) unless told otherwise. Images are uint8 RGB, row 0 at the top.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .mesh import Mesh, to_numpy, unique_ints

__all__ = ["shade_normals", "shade_depth", "contact_sheet", "render_mesh_preview", "text_mask"]

WHITE = (255, 255, 255)


def _color(c, name) -> np.ndarray:
    a = np.asarray(c, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all((a >= 0) & (a <= 255)):
        raise ValueError(f"{name} must be an RGB triple in 0..255, got {c!r}")
    return a


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


# --------------------------------------------------------------------------------------------
# Normal and depth maps
# --------------------------------------------------------------------------------------------

def shade_normals(normals_map, mask=None, *, background=WHITE) -> np.ndarray:
    """RGB image of a normal map: ``(n + 1) / 2 * 255`` (ECON's visualisation). Pixels outside
    ``mask`` (default: finite, non-zero normals) get ``background``."""
    n = to_numpy(normals_map, "normals_map").astype(np.float64)
    if n.ndim != 3 or n.shape[2] != 3:
        raise ValueError(f"normals_map must have shape (H, W, 3), got {n.shape}")
    bg = _color(background, "background")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(n).all(-1) & ((np.nan_to_num(n) ** 2).sum(-1) > 0)
    if mask is not None:
        valid &= _mask(mask, n.shape[:2])
    rgb = np.clip((np.nan_to_num(n) + 1.0) * 0.5 * 255.0 + 0.5, 0, 255)
    out = np.where(valid[..., None], rgb, bg)
    return out.astype(np.uint8)


def _mask(mask, shape):
    m = to_numpy(mask, "mask")
    if m.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {m.shape}")
    return m != 0


def depth_normals(depth, *, side: str = "front", depth_scale: float = 1.0) -> np.ndarray:
    """(H, W, 3) unit normals of a depth map by finite differences (central where both
    neighbours exist, one-sided at the edge of the surface, zero where neither exists), in the
    world frame for ``side="front"``: n ~ (dz/dcol, -dz/drow, 1) with z = depth * depth_scale in
    pixels. ``side="back"`` flips the depth (the surface seen from behind, still pixel-aligned with
    the front image, i.e. mirrored with respect to a back camera). NaN outside the surface."""
    z = to_numpy(depth, "depth").astype(np.float64) * float(depth_scale)
    if z.ndim != 2:
        raise ValueError(f"depth must have shape (H, W), got {z.shape}")
    if side == "back":
        z = -z
    elif side != "front":
        raise ValueError(f"side must be 'front' or 'back', got {side!r}")
    valid = np.isfinite(z)
    gx = _grad(z, valid, axis=1)
    gy = _grad(z, valid, axis=0)
    n = _unit(np.stack([gx, -gy, np.ones_like(z)], axis=-1))
    n[~valid] = np.nan
    return n


def _grad(z, valid, axis):
    zz = np.where(valid, z, 0.0)
    fwd = np.zeros_like(z)
    bwd = np.zeros_like(z)
    hf = np.zeros_like(valid)
    hb = np.zeros_like(valid)
    sl_a = [slice(None)] * 2
    sl_b = [slice(None)] * 2
    sl_a[axis] = slice(None, -1)
    sl_b[axis] = slice(1, None)
    a, b = tuple(sl_a), tuple(sl_b)
    both = valid[a] & valid[b]
    fwd[a] = np.where(both, zz[b] - zz[a], 0.0)
    hf[a] = both
    bwd[b] = np.where(both, zz[b] - zz[a], 0.0)
    hb[b] = both
    cnt = hf.astype(np.float64) + hb
    return np.divide(fwd + bwd, cnt, out=np.zeros_like(z), where=cnt > 0)


def shade_depth(depth, *, side: str = "front", depth_scale: float = 1.0, light=(-0.4, 0.5, 1.0),
                color=(205, 205, 210), ambient: float = 0.25, background=WHITE) -> np.ndarray:
    """Lambertian-shaded RGB image of a depth map (normals from finite differences, see
    :func:`depth_normals`; a directional light ``light``, x right, y up, z toward the viewer).
    NaN/inf pixels get ``background``. Steep depth jumps show as dark outlines."""
    n = depth_normals(depth, side=side, depth_scale=depth_scale)
    valid = np.isfinite(n).all(-1)
    lv = _unit(np.asarray(light, dtype=np.float64))
    if not np.any(lv):
        raise ValueError(f"light must be a non-zero vector, got {light!r}")
    lam = np.clip(np.nan_to_num(n) @ lv, 0.0, 1.0)
    inten = float(ambient) + (1.0 - float(ambient)) * lam
    rgb = _color(color, "color")[None, None, :] * inten[..., None]
    out = np.where(valid[..., None], rgb, _color(background, "background"))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# A 5x7 bitmap font (drawn for this module) and contact sheets
# --------------------------------------------------------------------------------------------

_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "###.. #..#. #...# #...# #...# #..#. ###..",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... #.##. ##..# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .##.# #..## #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... ..... .#### #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "m": "..... ..... ##.#. #.#.# #.#.# #...# #...#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# ####. #.... #....",
    "q": "..... ..... .#### #...# .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .#### #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    "_": "..... ..... ..... ..... ..... ..... #####",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... .....",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    "/": "....# ....# ...#. ..#.. .#... #.... #....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
}
_FONT = {ch: np.array([[c == "#" for c in row] for row in s.split()], dtype=bool) for ch, s in _GLYPHS.items()}
GLYPH_W, GLYPH_H = 5, 7


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """(7*scale, 6*len(text)*scale - scale) bool image of ``text`` in the built-in 5x7 font
    (letters, digits, space and ``._:-,/()``; other characters are drawn as ``?``)."""
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if not text:
        return np.zeros((GLYPH_H * scale, 0), bool)
    cols = []
    for i, ch in enumerate(str(text)):
        if i:
            cols.append(np.zeros((GLYPH_H, 1), bool))
        cols.append(_FONT.get(ch, _FONT["?"]))
    m = np.concatenate(cols, axis=1)
    return np.repeat(np.repeat(m, scale, axis=0), scale, axis=1)


def _to_rgb(img, name) -> np.ndarray:
    a = to_numpy(img, name)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = np.clip(np.nan_to_num(a) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8, uint16, bool or float in [0, 1], got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C) with C in 1..4, got {a.shape}")
    C = a.shape[2]
    if C in (2, 4):                         # composite alpha over white
        rgb = a[..., :-1].astype(np.float64)
        al = a[..., -1:].astype(np.float64) / 255.0
        a = np.clip(rgb * al + 255.0 * (1 - al) + 0.5, 0, 255).astype(np.uint8)
        C -= 1
    if C == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def contact_sheet(images: Sequence, labels: Optional[Sequence[str]] = None, *, cols: Optional[int] = None,
                  pad: int = 8, font_scale: int = 2, background=WHITE, text_color=(0, 0, 0)) -> np.ndarray:
    """Tile images (uint8/uint16/bool/float-in-[0,1]; gray, gray+alpha, RGB or RGBA) into one RGB
    image, row by row, ``cols`` per row (default: up to 4). Each image is centred in a cell as large
    as the largest image; ``labels`` are drawn above the images with the built-in 5x7 font (scaled by
    ``font_scale``, clipped to the cell width)."""
    imgs = [_to_rgb(im, f"images[{i}]") for i, im in enumerate(images)]
    if not imgs:
        raise ValueError("contact_sheet needs at least one image")
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != len(imgs):
            raise ValueError(f"labels must have one entry per image ({len(imgs)}), got {len(labels)}")
    n = len(imgs)
    cols = min(n, 4) if cols is None else int(cols)
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    rows = -(-n // cols)
    ch = max(im.shape[0] for im in imgs)
    cw = max(im.shape[1] for im in imgs)
    lab_h = (GLYPH_H * font_scale + pad) if labels is not None else 0
    H = pad + rows * (lab_h + ch + pad)
    W = pad + cols * (cw + pad)
    sheet = np.empty((H, W, 3), np.uint8)
    sheet[:] = _color(background, "background").astype(np.uint8)
    tc = _color(text_color, "text_color").astype(np.uint8)
    for k, im in enumerate(imgs):
        r, c = divmod(k, cols)
        y0 = pad + r * (lab_h + ch + pad)
        x0 = pad + c * (cw + pad)
        if labels is not None:
            tm = text_mask(labels[k], font_scale)[:, :cw]
            tx = x0 + (cw - tm.shape[1]) // 2
            region = sheet[y0:y0 + tm.shape[0], tx:tx + tm.shape[1]]
            region[tm] = tc
        iy = y0 + lab_h + (ch - im.shape[0]) // 2
        ix = x0 + (cw - im.shape[1]) // 2
        sheet[iy:iy + im.shape[0], ix:ix + im.shape[1]] = im
    return sheet


# --------------------------------------------------------------------------------------------
# Mesh preview: orthographic CPU z-buffer
# --------------------------------------------------------------------------------------------

# View -> (screen x, screen y, toward the viewer) as rows applied to ECON-frame points.
_VIEWS = {
    "front": np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], float),     # camera at +z
    "back": np.array([[-1, 0, 0], [0, 1, 0], [0, 0, -1]], float),    # camera at -z
    "left": np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float),     # camera at -x (front camera's left)
    "right": np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]], float),    # camera at +x
    "top": np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float),      # camera at +y
}
_VIEWS["side"] = _VIEWS["left"]


def render_mesh_preview(mesh: Mesh, size: int = 512, views=("front", "back", "side"), *,
                        shading: str = "smooth", frame: str = "econ", color=(200, 200, 205),
                        back_color=(150, 170, 215), light=(-0.4, 0.5, 1.0), ambient: float = 0.25,
                        background=WHITE, fill: float = 0.9) -> list:
    """Shaded orthographic renders of a mesh, one ``(size, size, 3)`` uint8 image per view.

    views: any of ``"front"`` (camera on +z, looking at the front sheet), ``"back"`` (camera on
    -z; the image is what a back camera sees, not mirrored), ``"left"`` = ``"side"`` (camera on -x,
    the front camera's left; the front of the body faces image-right), ``"right"``, ``"top"``.
    All views share one scale and centre (the mesh's bounding box fills ``fill`` of the image).
    shading: ``"flat"`` (face normals) or ``"smooth"`` (angle-weighted vertex normals interpolated
    per pixel; ``"gouraud"`` is accepted as an alias). Faces seen from behind (open sheets viewed
    from the side) are lit two-sided and tinted ``back_color``. frame: ``"econ"`` (x right, y up,
    z toward the front camera) or ``"opencv"`` (x right, y down, z forward; also right for
    ``depth_to_mesh(..., frame="pixel")`` meshes). The z-buffer samples pixel centres; ties go to
    either face.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a Mesh, got {type(mesh).__name__}")
    size = int(size)
    if size < 8 or size > 8192:
        raise ValueError(f"size must be in [8, 8192], got {size}")
    if isinstance(views, str):
        views = (views,)
    for v in views:
        if v not in _VIEWS:
            raise ValueError(f"unknown view {v!r}; choose from {sorted(_VIEWS)}")
    if shading == "gouraud":
        shading = "smooth"
    if shading not in ("flat", "smooth"):
        raise ValueError(f"shading must be 'flat' or 'smooth', got {shading!r}")
    if frame not in ("econ", "opencv"):
        raise ValueError(f"frame must be 'econ' or 'opencv', got {frame!r}")
    if not (0 < fill <= 1):
        raise ValueError(f"fill must be in (0, 1], got {fill}")
    bg = _color(background, "background")
    col = _color(color, "color")
    bcol = _color(back_color, "back_color")
    lv = _unit(np.asarray(light, dtype=np.float64))

    V = mesh.vertices.astype(np.float64)
    F = mesh.faces.astype(np.int64)
    flip = np.array([1.0, -1.0, -1.0]) if frame == "opencv" else np.ones(3)
    V = V * flip
    ok = np.isfinite(V).all(1)
    if len(F):
        F = F[ok[F].all(1)]
    images = []
    if len(F) == 0:
        return [np.tile(bg.astype(np.uint8), (size, size, 1)) for _ in views]
    used = V[unique_ints(F)]
    lo, hi = used.min(0), used.max(0)
    centre = 0.5 * (lo + hi)
    extent = float(np.max(hi - lo))
    scale = fill * size / extent if extent > 0 else 1.0
    fn_world = Mesh(V, F.astype(np.int32)).face_normals() if shading == "flat" else None
    vn_world = Mesh(V, F.astype(np.int32)).vertex_normals("angle") if shading == "smooth" else None
    for name in views:
        R = _VIEWS[name]
        P = (V - centre) @ R.T
        xs = P[:, 0] * scale + size / 2.0
        ys = size / 2.0 - P[:, 1] * scale
        zs = P[:, 2]
        face, bary = _rasterize(xs, ys, zs, F, size)
        hit = face >= 0
        fid = face[hit]
        # geometric facing in this view: screen-space orientation (y flipped) gives the sign of n_z
        tri = F[fid]
        ax, ay = xs[tri[:, 0]], ys[tri[:, 0]]
        e1x, e1y = xs[tri[:, 1]] - ax, ys[tri[:, 1]] - ay
        e2x, e2y = xs[tri[:, 2]] - ax, ys[tri[:, 2]] - ay
        facing = (e1x * e2y - e1y * e2x) < 0            # CCW in y-up view space <=> CW in image rows
        if shading == "flat":
            n = fn_world[fid] @ R.T
        else:
            b = bary[hit]
            n = (vn_world[tri] * b[:, :, None]).sum(1) @ R.T
            n = _unit(n)
        n = np.where(facing[:, None], n, -n)             # two-sided lighting
        lam = np.clip(n @ lv, 0.0, 1.0)
        inten = ambient + (1.0 - ambient) * lam
        base = np.where(facing[:, None], col, bcol)
        img = np.tile(bg, (size * size, 1))
        img[np.flatnonzero(hit)] = base * inten[:, None]
        images.append(np.clip(img + 0.5, 0, 255).astype(np.uint8).reshape(size, size, 3))
    return images


def _rasterize(xs, ys, zs, F, size, budget: int = 1 << 22):
    """Z-buffer (larger z wins) of triangles with screen coordinates (xs, ys) (pixel (i, j) covers
    [j, j+1) x [i, i+1), sampled at its centre). Returns (face id per pixel (-1: none),
    barycentrics (size*size, 3))."""
    N = size * size
    zbuf = np.full(N, -np.inf)
    face = np.full(N, -1, np.int64)
    bary = np.zeros((N, 3))
    tx, ty, tz = xs[F], ys[F], zs[F]
    x0 = np.clip(np.ceil(tx.min(1) - 0.5), 0, size).astype(np.int64)
    x1 = np.clip(np.floor(tx.max(1) - 0.5), -1, size - 1).astype(np.int64)
    y0 = np.clip(np.ceil(ty.min(1) - 0.5), 0, size).astype(np.int64)
    y1 = np.clip(np.floor(ty.max(1) - 0.5), -1, size - 1).astype(np.int64)
    w = np.maximum(x1 - x0 + 1, 0)
    h = np.maximum(y1 - y0 + 1, 0)
    area = (tx[:, 1] - tx[:, 0]) * (ty[:, 2] - ty[:, 0]) - (tx[:, 2] - tx[:, 0]) * (ty[:, 1] - ty[:, 0])
    cnt = w * h
    live = np.flatnonzero((cnt > 0) & (np.abs(area) > 1e-12))
    if len(live) == 0:
        return face, bary
    csum = np.cumsum(cnt[live])
    # chunks of at most ~budget candidate pixels (a single huge triangle is its own chunk)
    starts = [0]
    while starts[-1] < len(live):
        base = csum[starts[-1] - 1] if starts[-1] else 0
        nxt = int(np.searchsorted(csum, base + budget, side="right"))
        starts.append(max(nxt, starts[-1] + 1))
    for a, b in zip(starts[:-1], starts[1:]):
        ids = live[a:b]
        n = cnt[ids]
        tot = int(n.sum())
        t = np.repeat(np.arange(len(ids)), n)
        local = np.arange(tot) - np.repeat(np.cumsum(n) - n, n)
        ww = w[ids][t]
        px = x0[ids][t] + local % ww
        py = y0[ids][t] + local // ww
        cx, cy = px + 0.5, py + 0.5
        X, Y, A = tx[ids][t], ty[ids][t], area[ids][t]
        l0 = ((X[:, 1] - cx) * (Y[:, 2] - cy) - (X[:, 2] - cx) * (Y[:, 1] - cy)) / A
        l1 = ((X[:, 2] - cx) * (Y[:, 0] - cy) - (X[:, 0] - cx) * (Y[:, 2] - cy)) / A
        l2 = 1.0 - l0 - l1
        eps = -1e-9
        inside = (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
        if not inside.any():
            continue
        t, l0, l1, l2 = t[inside], l0[inside], l1[inside], l2[inside]
        pix = py[inside] * size + px[inside]
        Z = tz[ids][t]
        z = l0 * Z[:, 0] + l1 * Z[:, 1] + l2 * Z[:, 2]
        np.maximum.at(zbuf, pix, z)
        win = z >= zbuf[pix]
        face[pix[win]] = ids[t[win]]
        bary[pix[win]] = np.stack([l0[win], l1[win], l2[win]], axis=1)
    return face, bary
