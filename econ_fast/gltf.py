# SPDX-License-Identifier: Apache-2.0
"""A minimal glTF 2.0 binary (.glb) writer and reader for triangle meshes (positions, optional
normals, uint32 indices), written from the Khronos glTF 2.0 specification (section "GLB File
Format": 12-byte header, a JSON chunk padded with spaces, a BIN chunk padded with zeros, all
little-endian, 4-byte aligned). Coordinates are written as given: glTF is y up, right-handed,
which ECON's crop frame is too (x right, y up, z toward the viewer)."""
from __future__ import annotations

import json
import struct

import numpy as np

from .mesh import Mesh

__all__ = ["encode_glb", "write_glb", "read_glb"]

_MAGIC = 0x46546C67          # b"glTF"
_JSON = 0x4E4F534A           # b"JSON"
_BIN = 0x004E4942            # b"BIN\0"
_FLOAT, _UINT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def _pad(b: bytes, fill: bytes) -> bytes:
    return b + fill * (-len(b) % 4)


def encode_glb(mesh: Mesh, *, normals=True, generator: str = "econ_fast") -> bytes:
    """GLB bytes of ``mesh``. ``normals``: True (the mesh's own normals, else angle-weighted vertex
    normals), False (none), or a (V, 3) array."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a Mesh, got {type(mesh).__name__}")
    if mesh.n_vertices == 0 or mesh.n_faces == 0:
        raise ValueError("cannot write an empty mesh as glTF (it needs vertices and faces)")
    pos = np.ascontiguousarray(mesh.vertices, dtype="<f4")
    if normals is True:
        nrm = mesh.normals if mesh.normals is not None else mesh.vertex_normals("angle")
    elif normals is False or normals is None:
        nrm = None
    else:
        nrm = np.asarray(normals)
        if nrm.shape != pos.shape:
            raise ValueError(f"normals must have shape {pos.shape}, got {nrm.shape}")
    idx = np.ascontiguousarray(mesh.faces, dtype="<u4").reshape(-1)
    blobs, views, accessors = [], [], []
    offset = 0

    def add(data: bytes, target, count, ctype, typ, extra=None):
        nonlocal offset
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), "target": target})
        acc = {"bufferView": len(views) - 1, "componentType": ctype, "count": int(count), "type": typ}
        acc.update(extra or {})
        accessors.append(acc)
        blobs.append(_pad(data, b"\x00"))
        offset += len(blobs[-1])
        return len(accessors) - 1

    attrs = {"POSITION": add(pos.tobytes(), _ARRAY_BUFFER, len(pos), _FLOAT, "VEC3",
                             {"min": pos.min(0).astype(float).tolist(), "max": pos.max(0).astype(float).tolist()})}
    if nrm is not None:
        n = np.nan_to_num(np.asarray(nrm, np.float64))
        ln = np.linalg.norm(n, axis=1, keepdims=True)
        n = np.where(ln > 0, n / np.where(ln > 0, ln, 1), [0.0, 0.0, 1.0])   # glTF requires unit normals
        attrs["NORMAL"] = add(np.ascontiguousarray(n, "<f4").tobytes(), _ARRAY_BUFFER, len(n), _FLOAT, "VEC3")
    ind = add(idx.tobytes(), _ELEMENT_ARRAY_BUFFER, len(idx), _UINT, "SCALAR")
    gltf = {
        "asset": {"version": "2.0", "generator": generator},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": attrs, "indices": ind, "mode": 4}]}],
        "buffers": [{"byteLength": offset}], "bufferViews": views, "accessors": accessors,
    }
    js = _pad(json.dumps(gltf, separators=(",", ":")).encode("utf-8"), b" ")
    bin_ = b"".join(blobs)
    total = 12 + 8 + len(js) + 8 + len(bin_)
    return (struct.pack("<III", _MAGIC, 2, total) + struct.pack("<II", len(js), _JSON) + js
            + struct.pack("<II", len(bin_), _BIN) + bin_)


def write_glb(path, mesh: Mesh, **kw) -> None:
    data = encode_glb(mesh, **kw)
    with open(path, "wb") as fh:
        fh.write(data)


def read_glb(path) -> Mesh:
    """Read back what :func:`encode_glb` writes (first primitive of the first mesh; float32
    positions/normals, uint8/16/32 indices, triangles). For tests and round trips, not a general
    glTF importer."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 20:
        raise ValueError(f"{path}: too short for a GLB file")
    magic, version, total = struct.unpack_from("<III", data, 0)
    if magic != _MAGIC or version != 2 or total != len(data):
        raise ValueError(f"{path}: not a glTF 2.0 binary (magic {magic:#x}, version {version}, length {total})")
    jl, jt = struct.unpack_from("<II", data, 12)
    if jt != _JSON:
        raise ValueError(f"{path}: first chunk is not JSON")
    gltf = json.loads(data[20:20 + jl])
    pos = 20 + jl
    bl, bt = struct.unpack_from("<II", data, pos)
    if bt != _BIN:
        raise ValueError(f"{path}: second chunk is not BIN")
    bin_ = data[pos + 8:pos + 8 + bl]
    prim = gltf["meshes"][0]["primitives"][0]
    if prim.get("mode", 4) != 4:
        raise ValueError(f"{path}: only triangle primitives are supported")

    def acc(i):
        a = gltf["accessors"][i]
        v = gltf["bufferViews"][a["bufferView"]]
        dt = {5126: "<f4", 5125: "<u4", 5123: "<u2", 5121: "u1"}[a["componentType"]]
        k = {"SCALAR": 1, "VEC3": 3}[a["type"]]
        arr = np.frombuffer(bin_, dt, a["count"] * k, v.get("byteOffset", 0) + a.get("byteOffset", 0))
        return arr.reshape(-1, k) if k > 1 else arr

    V = acc(prim["attributes"]["POSITION"]).astype(np.float64)
    N = acc(prim["attributes"]["NORMAL"]).astype(np.float64) if "NORMAL" in prim["attributes"] else None
    F = acc(prim["indices"]).astype(np.int64).reshape(-1, 3)
    return Mesh(V, F, N)
