# SPDX-License-Identifier: Apache-2.0
"""econ_fast.render: shapes, dtypes, colours, and silhouettes of known shapes."""
import numpy as np
import pytest

import cases
from econ_fast import dbini, render
from econ_fast.mesh import Mesh


def uv_sphere(r=0.7, centre=(0.1, -0.2, 0.3), n_lat=48, n_lon=96):
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(T) * np.cos(P), np.cos(T), np.sin(T) * np.sin(P)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 1, 0]], v, [[0, -1, 0]]]) * r + np.asarray(centre)
    idx = 1 + np.arange(len(th) * n_lon).reshape(len(th), n_lon)
    nxt = np.roll(idx, -1, axis=1)
    f = [np.stack([np.zeros(n_lon, int), nxt[0], idx[0]], 1)]
    f.append(np.stack([idx[:-1], nxt[:-1], nxt[1:]], -1).reshape(-1, 3))
    f.append(np.stack([idx[:-1], nxt[1:], idx[1:]], -1).reshape(-1, 3))
    f.append(np.stack([np.full(n_lon, len(v) - 1), idx[-1], nxt[-1]], 1))
    m = Mesh(v, np.concatenate(f))
    if np.mean((m.face_normals() * (m.vertices[m.faces].mean(1) - centre)).sum(1)) < 0:
        m = Mesh(v, m.faces[:, ::-1])
    return m


def test_shade_normals():
    n = np.zeros((4, 5, 3), np.float32)
    n[..., 2] = 1
    n[0, 0] = 0                                  # invalid -> background
    n[0, 1] = np.nan
    n[1, 1] = (-1, 0, 0)
    img = render.shade_normals(n)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[2, 2], [128, 128, 255])
    np.testing.assert_array_equal(img[1, 1], [0, 128, 128])
    np.testing.assert_array_equal(img[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(img[0, 1], [255, 255, 255])
    img = render.shade_normals(n, mask=np.zeros((4, 5), bool), background=(1, 2, 3))
    assert np.all(img == [1, 2, 3])
    with pytest.raises(ValueError):
        render.shade_normals(np.zeros((4, 5)))


def test_shade_depth_plane_and_background():
    d = np.zeros((10, 12))
    d[:, :3] = np.nan
    img = render.shade_depth(d, light=(0, 0, 1), color=(200, 100, 50), ambient=0.0)
    assert img.shape == (10, 12, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[:, 3:].reshape(-1, 3), np.tile([200, 100, 50], (10 * 9, 1)))
    assert np.all(img[:, :3] == 255)
    # a slope facing left (depth grows to the right: n ~ (+1, 0, 1)) is lit by a light on the right
    ramp = np.tile(np.arange(12.0), (10, 1))
    lit = render.shade_depth(ramp, light=(1, 0, 1)).astype(int)
    dark = render.shade_depth(ramp, light=(-1, 0, 1)).astype(int)
    assert np.all(lit > dark)
    n = render.depth_normals(ramp)
    np.testing.assert_allclose(n[5, 5], [1 / np.sqrt(2), 0, 1 / np.sqrt(2)])
    # the back side is seen from behind: its relief flips
    nb = render.depth_normals(ramp, side="back")
    np.testing.assert_allclose(nb[5, 5], [-1 / np.sqrt(2), 0, 1 / np.sqrt(2)])


def test_shade_depth_sphere_cap_normals():
    c = cases.sphere_cap(64, 64)
    n = render.depth_normals(c["depth_gt"])
    m = c["mask"]
    inner = m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
    dots = (n[inner] * c["normals"][inner]).sum(-1)
    assert dots.min() > 0.995
    assert np.all(np.isnan(n[~m]))


def test_text_and_contact_sheet():
    t = render.text_mask("Ab1 ._:-", 2)
    assert t.shape == (14, (6 * 8 - 1) * 2) and t.dtype == bool
    assert t.any()
    np.testing.assert_array_equal(render.text_mask("~", 1), render.text_mask("?", 1))
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-":
        assert render.text_mask(ch).any()
    a = np.zeros((20, 30, 3), np.uint8)
    b = np.full((10, 10), 128, np.uint8)
    c = np.zeros((15, 15, 4), np.uint8)                          # fully transparent -> white
    d = np.ones((5, 5), np.float32) * 0.5
    sheet = render.contact_sheet([a, b, c, d], ["one", "two", "three", "four"], cols=2, pad=4, font_scale=1)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    lab_h = 7 + 4
    assert sheet.shape == (4 + 2 * (lab_h + 20 + 4), 4 + 2 * (30 + 4), 3)
    # first cell: black image under the label, at the right place
    y0 = 4 + lab_h
    assert np.all(sheet[y0:y0 + 20, 4:34] == 0)
    assert (sheet[4:4 + 7, 4:34] == 0).any()                      # some label pixels
    # transparent RGBA composites onto white
    r, cc = 1, 0
    y = 4 + r * (lab_h + 20 + 4) + lab_h + (20 - 15) // 2
    x = 4 + cc * (30 + 4) + (30 - 15) // 2
    assert np.all(sheet[y:y + 15, x:x + 15] == 255)
    with pytest.raises(ValueError):
        render.contact_sheet([a, b], ["only one"])
    with pytest.raises(ValueError):
        render.contact_sheet([])
    assert render.contact_sheet([a]).shape == (20 + 16, 30 + 16, 3)


@pytest.mark.parametrize("shading", ["smooth", "flat"])
def test_sphere_renders_disk_of_right_radius(shading):
    size = 200
    s = uv_sphere()
    imgs = render.render_mesh_preview(s, size=size, views=("front", "back", "side", "top"), shading=shading)
    assert len(imgs) == 4
    R = 0.9 * size / 2                      # the bounding box (2r) fills 90 % of the image
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for img in imgs:
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        fg = np.any(img != 255, axis=-1)
        r = np.hypot(xx - size / 2, yy - size / 2)
        assert fg[r < R - 2].all()                                  # disk interior covered
        assert not fg[r > R + 1].any()                               # nothing outside
        area_r = np.sqrt(fg.sum() / np.pi)
        assert abs(area_r - R) < 1.0, (area_r, R)
        # lit from the upper left: upper-left of the disk brighter than lower-right
        g = img.astype(int).sum(-1)
        assert g[int(size / 2 - R / 2), int(size / 2 - R / 2)] > g[int(size / 2 + R / 2), int(size / 2 + R / 2)]


def test_preview_of_depth_sheets_and_options():
    c = cases.two_sided(64, 64)
    pair = dbini.depth_to_mesh(c["depth_gt"])
    both = Mesh.concatenate(pair)
    f, b, side = render.render_mesh_preview(both, size=96)
    for img in (f, b):
        fg = np.any(img != 255, -1)
        assert 0.3 < fg.mean() < 0.9
    # back view is the mirror of the front view for a left-right symmetric shape
    assert (np.any(f != 255, -1) == np.any(b != 255, -1)[:, ::-1]).mean() > 0.97
    # the side view of the ellipsoid is narrower (depth axis 0.22 W vs width 0.36 W)
    assert np.any(side != 255, -1).sum() < np.any(f != 255, -1).sum()
    # pixel-frame meshes with frame="opencv" give the same front image
    pp = Mesh.concatenate(dbini.depth_to_mesh(c["depth_gt"], frame="pixel"))
    f2 = render.render_mesh_preview(pp, size=96, views="front", frame="opencv")[0]
    assert (np.any(f2 != 255, -1) == np.any(f != 255, -1)).mean() > 0.99
    empty = render.render_mesh_preview(Mesh(np.zeros((0, 3)), np.zeros((0, 3), int)), size=16)
    assert len(empty) == 3 and np.all(empty[0] == 255)
    with pytest.raises(ValueError):
        render.render_mesh_preview(both, views=("front", "under"))
    with pytest.raises(ValueError):
        render.render_mesh_preview(both, shading="toon")
