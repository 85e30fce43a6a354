# SPDX-License-Identifier: Apache-2.0
"""econ_fast.io: OBJ / PLY / PNG round trips, hand-made files, and corrupt input -> ValueError."""
import struct
import zlib

import numpy as np
import pytest

from econ_fast import io
from econ_fast.mesh import Mesh


def grid_mesh(n=6, seed=0, normals=False):
    rng = np.random.default_rng(seed)
    i, j = np.mgrid[0:n, 0:n]
    v = np.stack([j, i, rng.normal(size=(n, n))], -1).reshape(-1, 3)
    q = (i[:-1, :-1] * n + j[:-1, :-1]).ravel()
    f = np.concatenate([np.stack([q, q + n, q + n + 1], 1), np.stack([q, q + n + 1, q + 1], 1)])
    m = Mesh(v, f)
    if normals:
        m = Mesh(v, f, m.vertex_normals())
    return m


# --------------------------------------------------------------------------------------------
# OBJ
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_normals", [False, True])
def test_obj_round_trip(tmp_path, with_normals):
    m = grid_mesh(normals=with_normals)
    p = tmp_path / "m.obj"
    io.write_obj(p, m, header="two\nlines")
    r = io.read_obj(p)
    np.testing.assert_allclose(r.vertices, m.vertices, rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(r.faces, m.faces)
    if with_normals:
        np.testing.assert_allclose(r.normals, m.normals, atol=1e-7)
    else:
        assert r.normals is None
    assert p.read_text().startswith("# two\n# lines\n")
    # normals=True computes them when the mesh has none
    io.write_obj(p, grid_mesh(), normals=True)
    assert io.read_obj(p).normals is not None


def test_obj_polygons_formats_and_negative_indices(tmp_path):
    p = tmp_path / "poly.obj"
    p.write_text(
        "# comment\n"
        "o thing\n"
        "v 0 0 0\nv 1 0 0\nv 1 1 0 1.0 0.5 0.2\nv 0 1 0   # trailing comment\n"
        "v 2 0 0\n"
        "vt 0 0\nvn 0 0 1\n"
        "g group\nusemtl m\ns off\n"
        "f 1/1/1 2/1/1 3/1/1 4/1/1\n"          # quad -> 2 triangles
        "f -4 -3 -1\n"                          # relative: 2, 3, 5
        "l 1 2\n"
    )
    m = io.read_obj(p)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2], [0, 2, 3], [1, 2, 4]])
    assert m.vertices.shape == (5, 3)
    assert m.normals is None                      # not every corner names a normal
    p.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0.5 1.5 0\nf 1 2 3 5 4\n")
    np.testing.assert_array_equal(io.read_obj(p).faces, [[0, 1, 2], [0, 2, 4], [0, 4, 3]])
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\n")
    np.testing.assert_array_equal(io.read_obj(p).faces, [[0, 1, 2]])
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nvn 1 0 0\nf 1//1 2//2 3//1\n")
    m = io.read_obj(p)
    np.testing.assert_array_equal(m.normals, [[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2/1 3//1\n")     # mixed styles: slow path
    with pytest.raises(ValueError, match="normal"):
        io.read_obj(p)


@pytest.mark.parametrize("text,msg", [
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n", "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n", "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "at least 3"),
    ("v 0 0 0\nv 1 zero 0\nv 0 1 0\nf 1 2 3\n", "line 2"),
    ("v 0 0\nf 1 2 3\n", "3 coordinates"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n", "bad face vertex"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//1 2//1 3//1\n", "no 'vn'"),
])
def test_obj_corrupt(tmp_path, text, msg):
    p = tmp_path / "bad.obj"
    p.write_text(text)
    with pytest.raises(ValueError, match=msg) as e:
        io.read_obj(p)
    assert "bad.obj" in str(e.value)


def test_obj_binary_garbage(tmp_path):
    p = tmp_path / "garbage.obj"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="garbage.obj"):
        io.read_obj(p)
    with pytest.raises(ValueError, match="directory"):
        io.read_obj(tmp_path)


# --------------------------------------------------------------------------------------------
# PLY
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ascii_", [False, True])
@pytest.mark.parametrize("with_normals", [False, True])
def test_ply_round_trip(tmp_path, ascii_, with_normals):
    m = grid_mesh(normals=with_normals)
    p = tmp_path / "m.ply"
    io.write_ply(p, m, ascii=ascii_)
    r = io.read_ply(p)
    np.testing.assert_allclose(r.vertices, m.vertices, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(r.faces, m.faces)
    assert (r.normals is None) == (not with_normals)
    if with_normals:
        np.testing.assert_allclose(r.normals, m.normals, atol=1e-6)
    io.write_ply(p, m, double=True)
    np.testing.assert_array_equal(io.read_ply(p).vertices, m.vertices)


def test_ply_binary_layout(tmp_path):
    m = grid_mesh(3)
    p = tmp_path / "m.ply"
    io.write_ply(p, m)
    data = p.read_bytes()
    head, body = data.split(b"end_header\n", 1)
    assert b"format binary_little_endian 1.0" in head
    assert b"property list uchar int vertex_indices" in head
    assert len(body) == m.n_vertices * 12 + m.n_faces * 13
    v = np.frombuffer(body[:m.n_vertices * 12], "<f4").reshape(-1, 3)
    np.testing.assert_allclose(v, m.vertices, rtol=1e-6)


def _ply(header_lines, body: bytes) -> bytes:
    return ("\n".join(["ply"] + header_lines + ["end_header"]) + "\n").encode() + body


def test_ply_hand_made_variants(tmp_path):
    p = tmp_path / "h.ply"
    # ascii, quads + a triangle, extra properties and elements, vertex_index spelling
    p.write_bytes(_ply(
        ["format ascii 1.0", "comment hi", "element vertex 5", "property float x", "property float y",
         "property float z", "property uchar red", "element face 2", "property list uchar int vertex_index",
         "property uchar flag", "element edge 1", "property int vertex1", "property int vertex2"],
        b"0 0 0 1\n1 0 0 2\n1 1 0 3\n0 1 0 4\n2 2 2 5\n4 0 1 2 3 7\n3 1 4 2 8\n0 1\n"))
    m = io.read_ply(p)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    # binary big-endian with double coordinates, nx ny nz and mixed polygon sizes (slow path)
    vrec = np.array([(0, 0, 0, 0, 0, 1), (1, 0, 0, 0, 0, 1), (1, 1, 0, 0, 0, 1), (0, 1, 0, 0, 0, 1)],
                    dtype=[(k, ">f8") for k in ("x", "y", "z", "nx", "ny", "nz")])
    faces = struct.pack(">B4i", 4, 0, 1, 2, 3) + struct.pack(">B3i", 3, 0, 2, 3)
    p.write_bytes(_ply(["format binary_big_endian 1.0", "element vertex 4"]
                       + [f"property double {k}" for k in ("x", "y", "z", "nx", "ny", "nz")]
                       + ["element face 2", "property list uchar int vertex_indices"], vrec.tobytes() + faces))
    m = io.read_ply(p)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    np.testing.assert_array_equal(m.normals[:, 2], 1)
    # point cloud without faces
    p.write_bytes(_ply(["format binary_little_endian 1.0", "element vertex 2", "property float x",
                        "property float y", "property float z"], np.arange(6, dtype="<f4").tobytes()))
    m = io.read_ply(p)
    assert m.n_vertices == 2 and m.n_faces == 0


def _good_ply(tmp_path):
    p = tmp_path / "good.ply"
    io.write_ply(p, grid_mesh(4))
    return p.read_bytes()


@pytest.mark.parametrize("mutate,msg", [
    (lambda b: b[:-7], "truncated"),
    (lambda b: b[:len(b) // 2], "truncated"),
    (lambda b: b.replace(b"end_header", b"end_hxader"), "end_header"),
    (lambda b: b"plx" + b[3:], "not a PLY"),
    (lambda b: b.replace(b"binary_little_endian", b"binary_middle_endian"), "format"),
    (lambda b: b.replace(b"element vertex 16", b"element vertex 99999999999"), "truncated"),
    (lambda b: b.replace(b"property float x", b"property float32x x"), "property"),
    (lambda b: b.replace(b"element face 18", b"element face 1"), "unexpected bytes"),
    (lambda b: b + b"junk", "unexpected bytes"),
])
def test_ply_corrupt(tmp_path, mutate, msg):
    p = tmp_path / "bad.ply"
    p.write_bytes(mutate(_good_ply(tmp_path)))
    with pytest.raises(ValueError, match=msg) as e:
        io.read_ply(p)
    assert "bad.ply" in str(e.value)


def test_ply_bad_indices_and_ascii_errors(tmp_path):
    p = tmp_path / "bad.ply"
    hdr = ["format ascii 1.0", "element vertex 3", "property float x", "property float y", "property float z",
           "element face 1", "property list uchar int vertex_indices"]
    p.write_bytes(_ply(hdr, b"0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n"))
    with pytest.raises(ValueError, match="out of range"):
        io.read_ply(p)
    p.write_bytes(_ply(hdr, b"0 0 0\n1 0 0\n0 1 0\n3 0 1\n"))
    with pytest.raises(ValueError, match="truncated"):
        io.read_ply(p)
    p.write_bytes(_ply(hdr, b"0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n"))
    with pytest.raises(ValueError, match="non-numeric"):
        io.read_ply(p)
    p.write_bytes(_ply(hdr, b"0 0 0\n1 0 0\n0 1 0\n2 0 1\n"))
    with pytest.raises(ValueError, match="at least 3"):
        io.read_ply(p)


# --------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------

def _images():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    rgb[5:15, 5:25] = (10, 200, 30)                      # flat areas make every filter useful
    yield rgb
    yield rgb[..., 0]
    yield rgb[..., :2]
    yield np.dstack([rgb, rgb[..., :1]])
    yield rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    yield rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    yield rng.integers(0, 65536, (4, 5, 4), dtype=np.uint16)
    yield np.zeros((1, 1), np.uint8)
    yield np.full((1, 40, 3), 255, np.uint8)
    yield np.arange(50, dtype=np.uint8).reshape(50, 1)


@pytest.mark.parametrize("k", range(10))
def test_png_round_trip(tmp_path, k):
    img = list(_images())[k]
    p = tmp_path / "a.png"
    io.write_png(p, img)
    out = io.read_png(p)
    assert out.dtype == img.dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def _chunks(data):
    pos, out = 8, []
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        out.append((tag, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def test_png_decodes_with_plain_zlib(tmp_path):
    """Our writer's bytes, decoded here with nothing but zlib and the PNG spec."""
    img = list(_images())[0]
    p = tmp_path / "a.png"
    io.write_png(p, img)
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    ch = _chunks(data)
    assert [t for t, _ in ch] == [b"IHDR", b"IDAT", b"IEND"]
    W, H, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", ch[0][1])
    assert (W, H, depth, color, interlace) == (31, 23, 8, 2, 0)
    raw = zlib.decompress(b"".join(d for t, d in ch if t == b"IDAT"))
    stride = W * 3
    prev = [0] * stride
    rows = []
    for r in range(H):
        ft = raw[r * (stride + 1)]
        line = list(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        assert ft in (0, 1, 2)
        for x in range(stride):
            a = line[x - 3] if x >= 3 else 0
            line[x] = (line[x] + (a if ft == 1 else prev[x] if ft == 2 else 0)) & 255
        rows.append(line)
        prev = line
    np.testing.assert_array_equal(np.array(rows, np.uint8).reshape(H, W, 3), img)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _hand_png(img, filters, color, depth=8, interlace=0):
    """A PNG built byte by byte: each row filtered with the given type (0-4), per the spec."""
    a = np.asarray(img)
    H = a.shape[0]
    raw_rows = [list(a[r].astype(">u2").tobytes() if depth == 16 else a[r].tobytes()) for r in range(H)]
    C = 1 if a.ndim == 2 else a.shape[2]
    bpp = C * depth // 8
    out = bytearray()
    prev = [0] * len(raw_rows[0])
    for r, row in enumerate(raw_rows):
        ft = filters[r % len(filters)]
        enc = []
        for x, v in enumerate(row):
            left = row[x - bpp] if x >= bpp else 0
            up = prev[x]
            ul = prev[x - bpp] if x >= bpp else 0
            pred = [0, left, up, (left + up) // 2, _paeth(left, up, ul)][ft]
            enc.append((v - pred) & 255)
        out += bytes([ft]) + bytes(enc)
        prev = row

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    W = a.shape[1]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, color, 0, 0, interlace))
            + chunk(b"tEXt", b"Comment\x00hand made") + chunk(b"IDAT", zlib.compress(bytes(out))[:7])
            + chunk(b"IDAT", zlib.compress(bytes(out))[7:]) + chunk(b"IEND", b""))


@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0], [3, 0, 4]])
def test_png_hand_made_all_filters(tmp_path, filters):
    rng = np.random.default_rng(len(filters) * 7 + filters[0])
    for img, color, depth in [(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), 2, 8),
                              (rng.integers(0, 256, (5, 4, 4), dtype=np.uint8), 6, 8),
                              (rng.integers(0, 256, (4, 7), dtype=np.uint8), 0, 8),
                              (rng.integers(0, 256, (3, 3, 2), dtype=np.uint8), 4, 8),
                              (rng.integers(0, 65536, (5, 3, 3), dtype=np.uint16), 2, 16)]:
        p = tmp_path / "h.png"
        p.write_bytes(_hand_png(img, filters, color, depth))
        np.testing.assert_array_equal(io.read_png(p), img)


def test_png_tiny_literal_file(tmp_path):
    """A 2x2 8-bit gray image written out by hand (Sub then Up filtered rows)."""
    scan = bytes([1, 10, 5, 2, 3, 251])           # row 0: Sub (10, 15); row 1: Up (13, 10)
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n"
            + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            + struct.pack(">I", len(zlib.compress(scan))) + b"IDAT" + zlib.compress(scan)
            + struct.pack(">I", zlib.crc32(b"IDAT" + zlib.compress(scan)))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
    p = tmp_path / "tiny.png"
    p.write_bytes(data)
    np.testing.assert_array_equal(io.read_png(p), [[10, 15], [13, 10]])


def _mutations():
    img = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    good = _hand_png(img, [4, 1], 2)

    def flip(b, i):
        b = bytearray(b)
        b[i] ^= 0x40
        return bytes(b)

    yield good[:-20], "truncated"
    yield good[:40], "truncated"
    yield good[:8], "no IHDR"
    yield b"\x89PNG\r\n\x1b\n" + good[8:], "signature"
    yield flip(good, 20), "CRC"
    yield flip(good, len(good) - 30), "CRC"
    yield _hand_png(img, [0], 2, interlace=1), "interlaced"
    yield _hand_png(img[..., 0], [0], 3), "palette"
    yield _hand_png(img[..., 0], [0], 0).replace(b"IHDR\x00\x00\x00\x09\x00\x00\x00\x08\x08", b"IHDR"), "CRC"


@pytest.mark.parametrize("k", range(9))
def test_png_corrupt(tmp_path, k):
    data, msg = list(_mutations())[k]
    p = tmp_path / "bad.png"
    p.write_bytes(data)
    with pytest.raises(ValueError, match=msg) as e:
        io.read_png(p)
    assert "bad.png" in str(e.value)


def _png_from_parts(ihdr_fields, scan, extra=b""):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", *ihdr_fields)) + extra
            + chunk(b"IDAT", zlib.compress(scan)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("ihdr,scan,msg", [
    ((2, 2, 4, 0, 0, 0, 0), bytes(4), "bit depth"),
    ((2, 2, 8, 0, 0, 0, 0), bytes([0, 1, 2, 7, 1, 2]), "filter type"),
    ((2, 2, 8, 0, 0, 0, 0), bytes([0, 1, 2]), "expected 6"),
    ((2, 2, 8, 0, 0, 0, 0), bytes(60), "expected 6"),
    ((2, 2, 8, 5, 0, 0, 0), bytes(6), "colour type"),
    ((0, 2, 8, 0, 0, 0, 0), bytes(6), "size"),
    ((60000, 60000, 16, 6, 0, 0, 0), bytes(100), "too large|expected"),   # no huge allocation
    ((30000, 30000, 8, 2, 0, 0, 0), bytes(100), "expected"),
])
def test_png_bad_headers(tmp_path, ihdr, scan, msg):
    p = tmp_path / "bad.png"
    p.write_bytes(_png_from_parts(ihdr, scan))
    with pytest.raises(ValueError, match=msg):
        io.read_png(p)


def test_png_unknown_critical_chunk_and_garbage_idat(tmp_path):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    p = tmp_path / "bad.png"
    p.write_bytes(_png_from_parts((1, 1, 8, 0, 0, 0, 0), bytes(2), extra=chunk(b"ZZZZ", b"x")))
    with pytest.raises(ValueError, match="critical"):
        io.read_png(p)
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
                  + chunk(b"IDAT", b"not zlib at all") + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match="decompress"):
        io.read_png(p)


def test_write_png_rejects_bad_arrays(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        io.write_png(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        io.write_png(tmp_path / "x.png", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        io.write_png(tmp_path / "x.png", np.zeros((0, 4), np.uint8))
    io.write_png(tmp_path / "b.png", np.eye(3, dtype=bool))
    np.testing.assert_array_equal(io.read_png(tmp_path / "b.png"), np.eye(3) * 255)


@pytest.mark.parametrize("fmt", ["png", "ply", "ply-ascii", "obj"])
def test_random_corruption_only_raises_value_error(tmp_path, fmt):
    """Truncations and byte flips anywhere: the readers either succeed or raise ValueError."""
    p = tmp_path / f"good.{fmt[:3]}"
    m = grid_mesh(5, normals=True)
    if fmt == "png":
        io.write_png(p, np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8))
        read = io.read_png
    elif fmt == "ply":
        io.write_ply(p, m)
        read = io.read_ply
    elif fmt == "ply-ascii":
        io.write_ply(p, m, ascii=True)
        read = io.read_ply
    else:
        io.write_obj(p, m)
        read = io.read_obj
    good = p.read_bytes()
    rng = np.random.default_rng(1)
    bad = tmp_path / f"bad.{fmt[:3]}"
    for trial in range(150):
        b = bytearray(good)
        if trial % 3 == 0:
            b = b[:rng.integers(0, len(b))]
        else:
            for _ in range(rng.integers(1, 4)):
                b[rng.integers(0, len(b))] = rng.integers(0, 256)
        bad.write_bytes(bytes(b))
        try:
            read(bad)
        except ValueError as e:
            assert "bad." in str(e)
