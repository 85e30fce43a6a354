# SPDX-License-Identifier: Apache-2.0
"""Small, dependency-free readers and writers: OBJ, PLY (meshes) and PNG (images).

    from econ_fast import io
    io.write_obj("front.obj", mesh)            # mesh.normals, when present, become `vn` lines
    mesh = io.read_obj("front.obj")            # polygons are fan-triangulated
    io.write_ply("sheets.ply", mesh)           # binary little-endian (ascii=True for text)
    io.write_png("preview.png", rgb_uint8)     # gray / gray+alpha / RGB / RGBA, 8 or 16 bit
    img = io.read_png("preview.png")

Readers never trust the file: any malformed, truncated or unsupported input raises ``ValueError``
naming the file and what is wrong (not an IndexError, a MemoryError or a hang); sizes declared in
headers are checked against the bytes actually present before anything is allocated.
"""
from __future__ import annotations

import os
import re
import struct
import zlib
from typing import Optional, Union

import numpy as np

from .mesh import Mesh, to_numpy

__all__ = ["write_obj", "read_obj", "write_ply", "read_ply", "write_png", "read_png"]

PathLike = Union[str, "os.PathLike[str]"]


def _as_mesh(mesh, name="mesh") -> Mesh:
    if isinstance(mesh, Mesh):
        return mesh
    if isinstance(mesh, (tuple, list)) and len(mesh) in (2, 3):
        return Mesh(*mesh)
    raise TypeError(f"{name} must be a Mesh or a (vertices, faces) pair, got {type(mesh).__name__}")


def _read_bytes(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a file") from None


def _normals_arg(mesh: Mesh, normals):
    """normals=None: the mesh's own normals if any; False: none; True: computed; array: given."""
    if normals is None:
        return mesh.normals
    if normals is False:
        return None
    if normals is True:
        return mesh.normals if mesh.normals is not None else mesh.vertex_normals()
    n = to_numpy(normals, "normals")
    if n.shape != (mesh.n_vertices, 3):
        raise ValueError(f"normals must have shape ({mesh.n_vertices}, 3), got {n.shape}")
    return n


# --------------------------------------------------------------------------------------------
# OBJ
# --------------------------------------------------------------------------------------------

def write_obj(path: PathLike, mesh, *, normals=None, precision: int = 8, header: Optional[str] = None) -> None:
    """Write a triangle mesh as Wavefront OBJ (``v``, optional ``vn``, ``f`` with 1-based indices).

    normals: None (write ``mesh.normals`` when present), False (none), True (``mesh.normals`` or
    else angle-weighted vertex normals), or a (V, 3) array. ``precision``: significant digits
    (8 keeps float32 coordinates to within one unit in the last place). ``header`` is written as
    ``#`` comments.
    """
    mesh = _as_mesh(mesh)
    n = _normals_arg(mesh, normals)
    p = int(precision)
    parts = []
    if header:
        parts.append("".join(f"# {line}\n" for line in str(header).splitlines()))
    if mesh.n_vertices:
        parts.append(_format_rows("v", mesh.vertices, p))
    if n is not None and mesh.n_vertices:
        parts.append(_format_rows("vn", n, p))
    if mesh.n_faces:
        f = mesh.faces.astype(np.int64) + 1
        if n is not None:
            parts.append(("f %d//%d %d//%d %d//%d\n" * len(f)) % tuple(np.repeat(f, 2, axis=1).ravel()))
        else:
            parts.append(("f %d %d %d\n" * len(f)) % tuple(f.ravel()))
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(parts))


def _format_rows(tag, arr, p):
    arr = np.asarray(arr, dtype=np.float64)
    fmt = f"{tag} %.{p}g %.{p}g %.{p}g\n"
    return (fmt * len(arr)) % tuple(arr.ravel())


def read_obj(path: PathLike) -> Mesh:
    """Read a Wavefront OBJ: ``v`` (extra components such as colours are ignored), ``vn`` and
    ``f`` (``v``, ``v/vt``, ``v//vn``, ``v/vt/vn``, negative indices allowed); polygons are
    fan-triangulated (v0, vi, vi+1). Lines, points, groups, materials and texture coordinates are
    ignored. Vertex normals are returned as ``Mesh.normals`` when every face corner names a ``vn``
    and every vertex is named by some corner (the last one wins), else ``normals`` is None.
    """
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text OBJ file (byte {e.start} is not UTF-8)") from None
    if "\x00" in text:
        raise ValueError(f"{path}: not a text OBJ file (contains NUL bytes)")
    verts, vnorms = [], []
    face_lines = []          # (line number, vertices defined so far, normals so far, text)
    for lineno, raw in enumerate(text.splitlines(), 1):
        parts = raw.split(None, 1)
        if len(parts) < 2:
            if parts and parts[0] == "f":
                face_lines.append((lineno, len(verts), len(vnorms), ""))
            elif parts and parts[0] in ("v", "vn"):
                (verts if parts[0] == "v" else vnorms).append((lineno, ""))
            continue
        tag, rest = parts
        if "#" in rest:
            rest = rest.split("#", 1)[0]
        if tag == "v":
            verts.append((lineno, rest))
        elif tag == "vn":
            vnorms.append((lineno, rest))
        elif tag == "f":
            face_lines.append((lineno, len(verts), len(vnorms), rest))
    V = _parse_vec3(path, verts, "vertex")
    N = _parse_vec3(path, vnorms, "normal") if vnorms else None
    F, corner_n = _obj_faces(path, face_lines, len(V), 0 if N is None else len(N))
    normals = None
    if N is not None and corner_n is not None and len(V):
        acc = np.full((len(V), 3), np.nan)
        acc[corner_n[0]] = N[corner_n[1]]
        if np.isfinite(acc).all():
            normals = acc
    return Mesh(V, F.astype(np.int32), normals)


def _obj_faces(path, face_lines, nv, nn):
    """Fan-triangulated faces (T, 3) and, when every corner names a normal, (vertex ids,
    normal ids) of all corners."""
    if not face_lines:
        return np.zeros((0, 3), np.int64), None
    toks = [fl[3].split() for fl in face_lines]
    counts = np.fromiter((len(t) for t in toks), dtype=np.int64, count=len(toks))
    if counts.min() < 3:
        k = int(np.argmax(counts < 3))
        raise ValueError(f"{path}: line {face_lines[k][0]}: a face needs at least 3 vertices, got {counts[k]}")
    flat = [t for ts in toks for t in ts]
    ntok = len(flat)
    joined = " ".join(flat)
    nslash = joined.count("/")
    vi = ni = None
    try:
        if nslash == 0:
            vi = np.array(joined.split(), dtype=np.int64)
        elif joined.count("//") == ntok and nslash == 2 * ntok:            # v//vn
            a = np.array(joined.replace("//", " ").split(), dtype=np.int64).reshape(ntok, 2)
            vi, ni = a[:, 0], a[:, 1]
        elif nslash == ntok and "//" not in joined:                           # v/vt
            a = np.array(joined.replace("/", " ").split(), dtype=np.int64).reshape(ntok, 2)
            vi = a[:, 0]
        elif nslash == 2 * ntok and "//" not in joined:                       # v/vt/vn
            a = np.array(joined.replace("/", " ").split(), dtype=np.int64).reshape(ntok, 3)
            vi, ni = a[:, 0], a[:, 2]
    except ValueError:
        vi = ni = None
    if vi is None:
        # Mixed or malformed: token by token, to name the offending line.
        vi = np.empty(ntok, np.int64)
        ni = np.zeros(ntok, np.int64)
        k = 0
        for (lineno, _, _, _), ts in zip(face_lines, toks):
            for t in ts:
                fields = t.split("/")
                if len(fields) > 3:
                    raise ValueError(f"{path}: line {lineno}: bad face vertex {t!r}")
                try:
                    vi[k] = int(fields[0])
                    ni[k] = int(fields[2]) if len(fields) == 3 and fields[2] != "" else 0
                except ValueError:
                    raise ValueError(f"{path}: line {lineno}: bad face vertex {t!r}") from None
                k += 1
    line_of = np.repeat(np.arange(len(face_lines)), counts)
    vbase = np.array([fl[1] for fl in face_lines], np.int64)[line_of]
    vi = _resolve(path, vi, vbase, nv, face_lines, line_of, "vertex")
    if ni is not None:
        named = ni != 0                      # 0: this corner names no normal (slow path only)
        if named.any():
            if nn == 0:
                k = int(np.argmax(named))
                raise ValueError(f"{path}: line {face_lines[line_of[k]][0]}: face references normal "
                                 f"{int(ni[k])} but the file has no 'vn'")
            nbase = np.array([fl[2] for fl in face_lines], np.int64)[line_of]
            ni[named] = _resolve(path, ni[named], nbase[named], nn, face_lines, line_of[named], "normal")
        ni = ni if named.all() else None
    # Fan triangulation: (v0, vj, vj+1), j = 1..k-2 per polygon.
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ntri = counts - 2
    tri_line = np.repeat(np.arange(len(counts)), ntri)
    j = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri) + 1
    s0 = start[tri_line]
    F = np.stack([vi[s0], vi[s0 + j], vi[s0 + j + 1]], axis=1)
    return F, (None if ni is None else (vi, ni))


def _resolve(path, idx, base, n, face_lines, line_of, what):
    """OBJ indices (1-based, or negative = relative to the elements defined so far) -> 0-based."""
    out = np.where(idx < 0, base + idx, idx - 1)
    bad = (idx == 0) | (out < 0) | (out >= n)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{path}: line {face_lines[line_of[k]][0]}: {what} index {int(idx[k])} out of range "
                         f"(the file has {n} {what}s)")
    return out


def _parse_vec3(path, items, what):
    if not items:
        return np.zeros((0, 3))
    rows = [rest.split() for _, rest in items]
    lens = {len(r) for r in rows}
    if lens == {3}:
        try:
            return np.array(" ".join(rest for _, rest in items).split(), dtype=np.float64).reshape(-1, 3)
        except ValueError:
            pass                     # find the offending line below
    out = np.empty((len(rows), 3))
    for k, ((lineno, _), r) in enumerate(zip(items, rows)):
        if len(r) < 3:
            raise ValueError(f"{path}: line {lineno}: a {what} needs 3 coordinates, got {len(r)}")
        try:
            out[k] = [float(x) for x in r[:3]]
        except ValueError:
            raise ValueError(f"{path}: line {lineno}: bad {what} coordinates {' '.join(r[:3])!r}") from None
    return out


# --------------------------------------------------------------------------------------------
# PLY
# --------------------------------------------------------------------------------------------

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def write_ply(path: PathLike, mesh, *, normals=None, ascii: bool = False, double: bool = False) -> None:
    """Write a triangle mesh as PLY: binary little-endian (default) or ``ascii``.

    Vertices ``x y z`` as float32 (``double=True``: float64), optional ``nx ny nz`` (``normals`` as
    in :func:`write_obj`), faces as ``list uchar int vertex_indices``.
    """
    mesh = _as_mesh(mesh)
    n = _normals_arg(mesh, normals)
    ft = "f8" if double else "f4"
    tname = "double" if double else "float"
    props = ["x", "y", "z"] + (["nx", "ny", "nz"] if n is not None else [])
    head = ["ply", f"format {'ascii' if ascii else 'binary_little_endian'} 1.0", "comment written by econ_fast",
            f"element vertex {mesh.n_vertices}"]
    head += [f"property {tname} {p}" for p in props]
    head += [f"element face {mesh.n_faces}", "property list uchar int vertex_indices", "end_header"]
    header = ("\n".join(head) + "\n").encode("ascii")
    vcols = mesh.vertices if n is None else np.concatenate([mesh.vertices, np.asarray(n)], axis=1)
    with open(path, "wb") as fh:
        fh.write(header)
        if ascii:
            if mesh.n_vertices:
                fmt = " ".join(["%.9g"] * len(props)) + "\n"
                fh.write(((fmt * mesh.n_vertices) % tuple(np.asarray(vcols, np.float64).ravel())).encode("ascii"))
            if mesh.n_faces:
                fh.write((("3 %d %d %d\n" * mesh.n_faces) % tuple(mesh.faces.ravel())).encode("ascii"))
            return
        vrec = np.empty(mesh.n_vertices, dtype=[(p, "<" + ft) for p in props])
        for k, p in enumerate(props):
            vrec[p] = vcols[:, k]
        fh.write(vrec.tobytes())
        frec = np.empty(mesh.n_faces, dtype=[("n", "u1"), ("i", "<i4", (3,))])
        frec["n"] = 3
        frec["i"] = mesh.faces
        fh.write(frec.tobytes())


def read_ply(path: PathLike) -> Mesh:
    """Read a PLY mesh (``ascii``, ``binary_little_endian`` or ``binary_big_endian``).

    Uses the ``vertex`` element's ``x y z`` (and ``nx ny nz`` when all three are present, as
    ``Mesh.normals``) and the ``face`` element's ``vertex_indices`` (or ``vertex_index``) list;
    polygons are fan-triangulated. Other elements and properties are read past and ignored.
    """
    data = _read_bytes(path)
    fmt, elements, body_start = _ply_header(path, data)
    values = {}
    if fmt == "ascii":
        _ply_ascii(path, data[body_start:], elements, values)
    else:
        _ply_binary(path, data, body_start, "<" if fmt == "binary_little_endian" else ">", elements, values)
    if "vertex" not in values:
        raise ValueError(f"{path}: no 'vertex' element")
    vx = values["vertex"]
    for p in ("x", "y", "z"):
        if p not in vx:
            raise ValueError(f"{path}: the vertex element has no '{p}' property")
    V = np.stack([np.asarray(vx[p], np.float64) for p in ("x", "y", "z")], axis=1)
    N = None
    if all(p in vx for p in ("nx", "ny", "nz")):
        N = np.stack([np.asarray(vx[p], np.float64) for p in ("nx", "ny", "nz")], axis=1)
    faces = np.zeros((0, 3), np.int64)
    if "face" in values:
        fx = values["face"]
        key = "vertex_indices" if "vertex_indices" in fx else ("vertex_index" if "vertex_index" in fx else None)
        if key is None:
            raise ValueError(f"{path}: the face element has no 'vertex_indices' list")
        faces = _fan(path, fx[key])
    if faces.size and (faces.min() < 0 or faces.max() >= len(V)):
        raise ValueError(f"{path}: face index out of range [0, {len(V)}): min {faces.min()}, max {faces.max()}")
    return Mesh(V, faces.astype(np.int32), N)


def _ply_header(path, data):
    if not data.startswith(b"ply"):
        raise ValueError(f"{path}: not a PLY file (does not start with 'ply')")
    m = re.search(rb"end_header[ \t]*\r?\n", data[:1 << 20])
    if not m:
        raise ValueError(f"{path}: PLY header has no 'end_header' line (truncated or not a PLY file)")
    try:
        lines = data[:m.start()].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: PLY header is not ASCII") from None
    fmt = None
    elements = []      # [name, count, [(prop name, dtype | (count dtype, item dtype))]]
    for k, line in enumerate(lines[1:], 2):
        tok = line.split()
        if not tok or tok[0] in ("comment", "obj_info"):
            continue
        if tok[0] == "format":
            if len(tok) != 3 or tok[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise ValueError(f"{path}: header line {k}: unsupported PLY format {line.strip()!r}")
            fmt = tok[1]
        elif tok[0] == "element":
            if len(tok) != 3 or not tok[2].isdigit():
                raise ValueError(f"{path}: header line {k}: bad element line {line.strip()!r}")
            elements.append([tok[1], int(tok[2]), []])
        elif tok[0] == "property":
            if not elements:
                raise ValueError(f"{path}: header line {k}: property before any element")
            if len(tok) == 5 and tok[1] == "list":
                if tok[2] not in _PLY_TYPES or tok[3] not in _PLY_TYPES:
                    raise ValueError(f"{path}: header line {k}: unknown list types in {line.strip()!r}")
                if _PLY_TYPES[tok[2]][0] == "f":
                    raise ValueError(f"{path}: header line {k}: list count type must be an integer")
                elements[-1][2].append((tok[4], (_PLY_TYPES[tok[2]], _PLY_TYPES[tok[3]])))
            elif len(tok) == 3 and tok[1] in _PLY_TYPES:
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]]))
            else:
                raise ValueError(f"{path}: header line {k}: bad property line {line.strip()!r}")
        else:
            raise ValueError(f"{path}: header line {k}: unknown keyword {tok[0]!r}")
    if fmt is None:
        raise ValueError(f"{path}: PLY header has no 'format' line")
    return fmt, elements, m.end()


def _ply_ascii(path, body, elements, values):
    try:
        toks = body.decode("ascii").split()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: ascii PLY body contains non-ASCII bytes") from None
    pos = 0
    nt = len(toks)
    for name, count, props in elements:
        out = {p: [] for p, _ in props}
        if count == 0:
            values[name] = {p: np.zeros(0) for p, _ in props}
            continue
        if all(not isinstance(t, tuple) for _, t in props):
            k = len(props)
            if pos + count * k > nt:
                raise ValueError(f"{path}: truncated: element '{name}' needs {count * k} values, "
                                 f"{nt - pos} left")
            try:
                arr = np.array(toks[pos:pos + count * k], dtype=np.float64).reshape(count, k)
            except ValueError:
                raise ValueError(f"{path}: element '{name}': non-numeric value") from None
            pos += count * k
            values[name] = {p: arr[:, j] for j, (p, _) in enumerate(props)}
            continue
        fast = _ply_ascii_uniform(toks, pos, count, props)
        if fast is not None:
            values[name], pos = fast
            continue
        for r in range(count):
            for p, t in props:
                if pos >= nt:
                    raise ValueError(f"{path}: truncated: element '{name}' record {r} of {count}")
                if isinstance(t, tuple):
                    c = _ply_int(path, toks[pos], name)
                    if c < 0 or pos + 1 + c > nt:
                        raise ValueError(f"{path}: truncated or bad list of length {c} in element '{name}' record {r}")
                    try:
                        out[p].append([int(x) if t[1][0] in "iu" else float(x) for x in toks[pos + 1:pos + 1 + c]])
                    except ValueError:
                        raise ValueError(f"{path}: element '{name}' record {r}: bad list value") from None
                    pos += 1 + c
                else:
                    try:
                        out[p].append(float(toks[pos]))
                    except ValueError:
                        raise ValueError(f"{path}: element '{name}' record {r}: bad value {toks[pos]!r}") from None
                    pos += 1
        values[name] = out


def _ply_ascii_uniform(toks, pos, count, props):
    """Vectorised ascii records when every list has its first record's length (and all values
    are numbers); None otherwise (the caller then walks the records one by one)."""
    layout = []                   # (prop, offset, list length or None)
    off = 0
    for p, t in props:
        if isinstance(t, tuple):
            if pos + off >= len(toks) or not toks[pos + off].isdigit():
                return None
            c = int(toks[pos + off])
            layout.append((p, off, c))
            off += 1 + c
        else:
            layout.append((p, off, None))
            off += 1
    if off == 0 or pos + count * off > len(toks):
        return None
    try:
        arr = np.array(toks[pos:pos + count * off], dtype=np.float64).reshape(count, off)
    except ValueError:
        return None
    out = {}
    for p, o, c in layout:
        if c is None:
            out[p] = arr[:, o]
        else:
            items = arr[:, o + 1:o + 1 + c]
            if not np.all(arr[:, o] == c) or not np.all(items == np.round(items)):
                return None
            out[p] = items.astype(np.int64)
    return out, pos + count * off


def _ply_int(path, s, name):
    try:
        return int(s)
    except ValueError:
        try:
            f = float(s)
        except ValueError:
            f = None
        if f is not None and f == int(f):
            return int(f)
        raise ValueError(f"{path}: element '{name}': bad list length {s!r}") from None


def _ply_binary(path, data, pos, endian, elements, values):
    size = len(data)
    for name, count, props in elements:
        lists = [j for j, (_, t) in enumerate(props) if isinstance(t, tuple)]
        if not lists:
            dt = np.dtype([(p, endian + t) for p, t in props])
            need = count * dt.itemsize
            if pos + need > size:
                raise ValueError(f"{path}: truncated: element '{name}' needs {need} bytes, {size - pos} left")
            rec = np.frombuffer(data, dtype=dt, count=count, offset=pos)
            pos += need
            values[name] = {p: rec[p] for p, _ in props}
            continue
        # Fast path: every list of the element has the length it has in the first record.
        rec, pos2 = _ply_uniform(data, pos, endian, count, props)
        if rec is not None:
            out = {}
            for p, t in props:
                out[p] = rec[p] if not isinstance(t, tuple) else rec[p + "__items"]
            values[name] = out
            pos = pos2
            continue
        out = {p: [] for p, _ in props}
        for r in range(count):
            for p, t in props:
                if isinstance(t, tuple):
                    cdt = np.dtype(endian + t[0])
                    if pos + cdt.itemsize > size:
                        raise ValueError(f"{path}: truncated: element '{name}' record {r} of {count}")
                    c = int(np.frombuffer(data, cdt, 1, pos)[0])
                    pos += cdt.itemsize
                    idt = np.dtype(endian + t[1])
                    if c < 0 or pos + c * idt.itemsize > size:
                        raise ValueError(f"{path}: truncated: element '{name}' record {r} of {count}")
                    out[p].append(np.frombuffer(data, idt, c, pos).tolist())
                    pos += c * idt.itemsize
                else:
                    sdt = np.dtype(endian + t)
                    if pos + sdt.itemsize > size:
                        raise ValueError(f"{path}: truncated: element '{name}' record {r} of {count}")
                    out[p].append(np.frombuffer(data, sdt, 1, pos)[0])
                    pos += sdt.itemsize
        values[name] = out
    if pos < size and data[pos:].strip(b"\r\n\t \x00"):
        # Trailing bytes are tolerated (some writers pad) only when they are whitespace/NUL.
        raise ValueError(f"{path}: {size - pos} unexpected bytes after the last element")


def _ply_uniform(data, pos, endian, count, props):
    """Records of fixed layout, assuming each list has its first record's length; (None, pos)
    when that does not hold."""
    if count == 0:
        fields = []
        for p, t in props:
            if isinstance(t, tuple):
                fields += [(p, endian + t[0]), (p + "__items", endian + t[1], (0,))]
            else:
                fields.append((p, endian + t))
        return np.zeros(0, dtype=fields), pos
    fields = []
    off = pos
    for p, t in props:
        if isinstance(t, tuple):
            cdt = np.dtype(endian + t[0])
            if off + cdt.itemsize > len(data):
                return None, pos
            c = int(np.frombuffer(data, cdt, 1, off)[0])
            if c < 0 or c > 1 << 16:
                return None, pos
            fields += [(p, endian + t[0]), (p + "__items", endian + t[1], (c,))]
            off += cdt.itemsize + c * np.dtype(t[1]).itemsize
        else:
            fields.append((p, endian + t))
            off += np.dtype(t).itemsize
    dt = np.dtype(fields)
    if pos + count * dt.itemsize > len(data):
        return None, pos
    rec = np.frombuffer(data, dtype=dt, count=count, offset=pos)
    for p, t in props:
        if isinstance(t, tuple) and not np.all(rec[p] == rec[p][0]):
            return None, pos
    return rec, pos + count * dt.itemsize


def _fan(path, lists):
    if isinstance(lists, np.ndarray):
        arr = lists.astype(np.int64)
        if arr.ndim != 2:
            raise ValueError(f"{path}: bad face lists")
        k = arr.shape[1]
        if len(arr) == 0:
            return np.zeros((0, 3), np.int64)
        if k < 3:
            raise ValueError(f"{path}: faces need at least 3 vertices, got {k}")
        return np.concatenate([np.stack([arr[:, 0], arr[:, j], arr[:, j + 1]], 1) for j in range(1, k - 1)]) \
            if k > 3 else arr
    tris = []
    for r, poly in enumerate(lists):
        if len(poly) < 3:
            raise ValueError(f"{path}: face {r} has {len(poly)} vertices (need at least 3)")
        for j in range(1, len(poly) - 1):
            tris.append((poly[0], poly[j], poly[j + 1]))
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


# --------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_COLOR_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}          # gray, RGB, gray+alpha, RGBA
_CHANNELS_COLOR = {1: 0, 3: 2, 2: 4, 4: 6}


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)


def encode_png(array, *, level: int = 6) -> bytes:
    """PNG bytes of an image: (H, W) or (H, W, 1) gray, (H, W, 2) gray+alpha, (H, W, 3) RGB,
    (H, W, 4) RGBA; uint8 (8-bit), uint16 (16-bit) or bool (stored as 0/255)."""
    a = to_numpy(array, "array")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG images must be uint8, uint16 or bool, got dtype {a.dtype} "
                        "(convert floats with e.g. (np.clip(x, 0, 1) * 255).astype(np.uint8))")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _CHANNELS_COLOR:
        raise ValueError(f"PNG images must have shape (H, W) or (H, W, C) with C in 1..4, got {a.shape}")
    H, W, C = a.shape
    if H < 1 or W < 1 or H >= 2 ** 31 or W >= 2 ** 31:
        raise ValueError(f"PNG images must have 1 <= H, W < 2^31, got shape {a.shape}")
    depth = 16 if a.dtype == np.uint16 else 8
    raw = np.ascontiguousarray(a.astype(">u2") if depth == 16 else a).view(np.uint8).reshape(H, -1)
    bpp = C * depth // 8
    # Per row, choose among None (0), Sub (1) and Up (2) by the smallest sum of |signed residual|
    # (the usual heuristic); all three vectorise, and decoding them vectorises too.
    sub = raw.copy()
    sub[:, bpp:] -= raw[:, :-bpp]                                 # uint8 arithmetic wraps mod 256
    up = raw.copy()
    up[1:] -= raw[:-1]
    score = np.stack([_png_cost(raw), _png_cost(sub), _png_cost(up)])
    choice = np.argmin(score, axis=0)
    scan = np.empty((H, raw.shape[1] + 1), np.uint8)
    scan[:, 0] = choice
    for k, cand in enumerate((raw, sub, up)):
        rows = choice == k
        scan[rows, 1:] = cand[rows]
    ihdr = struct.pack(">IIBBBBB", W, H, depth, _CHANNELS_COLOR[C], 0, 0, 0)
    return (_PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(scan.tobytes(), level))
            + _chunk(b"IEND", b""))


def _png_cost(rows: np.ndarray) -> np.ndarray:
    """Sum of |byte as signed| per row (abs(-128) wraps to -128, which reads back as 128: right)."""
    return np.abs(rows.view(np.int8)).view(np.uint8).sum(axis=1, dtype=np.uint64)


def write_png(path: PathLike, array, *, level: int = 6) -> None:
    """Write an image as PNG (see :func:`encode_png` for the accepted arrays)."""
    data = encode_png(array, level=level)
    with open(path, "wb") as fh:
        fh.write(data)


def read_png(path: PathLike) -> np.ndarray:
    """Read a non-interlaced 8- or 16-bit gray, gray+alpha, RGB or RGBA PNG.

    Returns uint8 or uint16 (H, W) for gray, else (H, W, C). Palette images, bit depths below 8 and
    interlaced files raise ValueError (unsupported), as do corrupt files (bad signature, CRC,
    truncated data, wrong decompressed size, bad filter type).
    """
    return decode_png(_read_bytes(path), name=str(path))


def decode_png(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Decode PNG bytes (see :func:`read_png`)."""
    if not data.startswith(_PNG_SIG):
        raise ValueError(f"{name}: not a PNG file (bad signature)")
    pos = len(_PNG_SIG)
    ihdr = None
    idat = []
    seen_end = False
    n = len(data)
    while pos < n:
        if pos + 8 > n:
            raise ValueError(f"{name}: truncated PNG (incomplete chunk header at byte {pos})")
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        if length > 2 ** 31 - 1 or pos + 12 + length > n:
            raise ValueError(f"{name}: truncated PNG (chunk {tag!r} of {length} bytes at byte {pos} runs past the end)")
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(tag + payload) & 0xFFFFFFFF != crc:
            raise ValueError(f"{name}: corrupt PNG (CRC mismatch in chunk {tag!r} at byte {pos})")
        pos += 12 + length
        if ihdr is None and tag != b"IHDR":
            raise ValueError(f"{name}: corrupt PNG (first chunk is {tag!r}, not IHDR)")
        if tag == b"IHDR":
            if ihdr is not None or length != 13:
                raise ValueError(f"{name}: corrupt PNG (bad IHDR chunk)")
            ihdr = struct.unpack(">IIBBBBB", payload)
        elif tag == b"IDAT":
            idat.append(payload)
        elif tag == b"IEND":
            seen_end = True
            break
        elif tag == b"PLTE":
            pass                         # allowed (suggested palette) for truecolour; type 3 is refused below
        elif not (tag[0] & 0x20):        # critical chunk we do not know
            raise ValueError(f"{name}: unsupported PNG (unknown critical chunk {tag!r})")
    if ihdr is None:
        raise ValueError(f"{name}: corrupt PNG (no IHDR chunk)")
    if not seen_end:
        raise ValueError(f"{name}: truncated PNG (no IEND chunk)")
    W, H, depth, color, comp, filt_method, interlace = ihdr
    if W == 0 or H == 0 or W >= 2 ** 31 or H >= 2 ** 31:
        raise ValueError(f"{name}: corrupt PNG (image size {W}x{H})")
    if color == 3:
        raise ValueError(f"{name}: unsupported PNG (palette colour type 3; only gray, gray+alpha, RGB, RGBA)")
    if color not in _COLOR_CHANNELS:
        raise ValueError(f"{name}: corrupt PNG (colour type {color})")
    if depth not in (8, 16):
        raise ValueError(f"{name}: unsupported PNG bit depth {depth} (only 8 and 16)")
    if comp != 0 or filt_method != 0:
        raise ValueError(f"{name}: corrupt PNG (compression {comp}, filter method {filt_method})")
    if interlace != 0:
        raise ValueError(f"{name}: unsupported PNG (Adam7 interlaced; only non-interlaced)")
    if not idat:
        raise ValueError(f"{name}: corrupt PNG (no IDAT chunk)")
    C = _COLOR_CHANNELS[color]
    bpp = C * depth // 8
    stride = W * bpp
    expected = H * (stride + 1)
    if expected > 2 ** 33:
        raise ValueError(f"{name}: PNG too large ({W}x{H})")
    d = zlib.decompressobj()
    try:
        raw = d.decompress(b"".join(idat), expected + 1)
    except zlib.error as e:
        raise ValueError(f"{name}: corrupt PNG (image data does not decompress: {e})") from None
    if len(raw) != expected:
        raise ValueError(f"{name}: corrupt PNG (image data is {len(raw)}{'+' if len(raw) > expected else ''} "
                         f"bytes, expected {expected} for {W}x{H})")
    scan = np.frombuffer(raw, dtype=np.uint8).reshape(H, stride + 1)
    ftype = scan[:, 0]
    if ftype.max() > 4:
        r = int(np.argmax(ftype > 4))
        raise ValueError(f"{name}: corrupt PNG (row {r} has filter type {int(ftype[r])})")
    img = _unfilter(scan[:, 1:], ftype, bpp)
    if depth == 16:
        img = img.reshape(H, -1).view(">u2").astype(np.uint16)
    out = img.reshape(H, W, C)
    return out[:, :, 0] if C == 1 else out


def _unfilter(f: np.ndarray, ftype: np.ndarray, bpp: int) -> np.ndarray:
    H, stride = f.shape
    if np.all(ftype == 2) or (np.all(ftype[1:] == 2) and ftype[0] in (0, 2)):
        return np.cumsum(f, axis=0, dtype=np.uint8)           # all "Up": a column-wise running sum
    if np.any(ftype >= 3):
        return _unfilter_wavefront(f, ftype, bpp)
    out = np.empty_like(f)
    prev = np.zeros(stride, np.uint8)
    for r in range(H):
        t = ftype[r]
        row = f[r]
        if t == 0:
            cur = row.copy()
        elif t == 2:
            cur = row + prev
        else:  # Sub: running sum along the row, per byte of the pixel
            cur = np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        out[r] = cur
        prev = cur
    return out


def _unfilter_wavefront(f: np.ndarray, ftype: np.ndarray, bpp: int) -> np.ndarray:
    """General unfiltering (Average and Paeth included). A pixel depends on its left, upper and
    upper-left neighbours, so all pixels on one anti-diagonal (row + column = t) are independent:
    H + W - 1 vectorised steps instead of H * W scalar ones."""
    H, stride = f.shape
    W = stride // bpp
    F = f.reshape(H, W, bpp).astype(np.int32)
    R = np.zeros((H + 1, W + 1, bpp), np.int32)     # padded: row 0 and column 0 are zero
    ft = ftype.astype(np.int32)
    for t in range(H + W - 1):
        y0, y1 = max(0, t - W + 1), min(H, t + 1)
        ys = np.arange(y0, y1)
        xs = t - ys
        a = R[ys + 1, xs]          # left
        b = R[ys, xs + 1]          # up
        c = R[ys, xs]              # upper-left
        k = ft[ys][:, None]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        pred = np.select([k == 0, k == 1, k == 2, k == 3], [0, a, b, (a + b) >> 1], paeth)
        R[ys + 1, xs + 1] = (F[ys, xs] + pred) & 0xFF
    return R[1:, 1:].astype(np.uint8).reshape(H, stride)
