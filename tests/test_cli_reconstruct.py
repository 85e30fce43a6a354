# SPDX-License-Identifier: Apache-2.0
"""`econ_fast reconstruct / evaluate / bench`: every input path (PNG 8/16-bit, .npy, OBJ/PLY, ECON's
BNI file, SMPL-X through a tiny fake model file, image + a small normal-network checkpoint with
ECON's key layout) and the bad-input contract (one line, exit 2, nothing left behind)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import pipecases
from econ_fast import cli, gltf, io

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 128
FAST = ["--poisson-depth", "6", "--faces", "4000"]
needs_poisson = pytest.mark.skipif(__import__("econ_fast.pipeline").pipeline.poisson_backend() is None,
                                   reason="no screened-Poisson backend (native econ_fast.poisson or open3d)")

SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15, 20, 25, 26,
                 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21,
                 52, 53]


def enc16(n, mask):
    e = np.clip((n + 1) / 2 * 65535 + 0.5, 0, 65535).astype(np.uint16)
    e[~mask] = 32768
    return e


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    c = pipecases.person(SIZE, seed=2)
    io.write_png(d / "front.png", enc16(c["normals"][0], c["mask"]))
    io.write_png(d / "back.png", enc16(c["normals"][1], c["mask"]))
    io.write_png(d / "front8.png", (np.clip((c["normals"][0] + 1) / 2 * 255 + 0.5, 0, 255)).astype(np.uint8))
    io.write_png(d / "mask.png", c["mask"])
    np.save(d / "front.npy", c["normals"][0])
    np.save(d / "back.npy", c["normals"][1])
    io.write_obj(d / "body.obj", c["body"])
    io.write_ply(d / "body.ply", c["body"])
    io.write_obj(d / "gt.obj", c["gt"])
    c["dir"] = d
    return c


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def leftovers(parent):
    return [p for p in os.listdir(parent) if p.startswith(".econ_fast-")]


def check_failed(rc, err, out_dir, *fragments):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], lines[0]
    assert "Traceback" not in err
    assert not os.path.exists(out_dir) or not os.listdir(out_dir)
    assert not leftovers(os.path.dirname(os.path.abspath(out_dir)))


@needs_poisson
def test_reconstruct_png_body_mask_in_a_subprocess(case, tmp_path):
    d = case["dir"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "econ_fast", "reconstruct", "--front", d / "front.png", "--back",
                        d / "back.png", "--body", d / "body.obj", "--mask", d / "mask.png", "--out", out, *FAST],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                                # no progress bar on a pipe
    rep = json.loads((out / "report.json").read_text())
    for f in rep["files"]:
        assert (out / f).is_file() and str(out / f) in r.stdout
    for f in ("mesh.obj", "mesh.ply", "mesh.glb", "front.obj", "back.obj", "side.obj", "depth.npy",
              "depth_front.png", "depth_back.png", "preview.png", "report.json"):
        assert f in rep["files"]
    assert "poisson" in r.stdout and "total" in r.stdout
    assert rep["parameters"]["poisson_depth"] == 6 and rep["parameters"]["k"] == 4.0
    assert rep["parameters"]["poisson_density_groups"] is True
    assert rep["iterations"]["dbini_iterations"] >= 1 and rep["closed"]
    assert set(rep["timings_s"]) >= {"render body", "d-BiNI", "poisson", "decimate", "total"}
    mesh = io.read_obj(out / "mesh.obj")
    g = gltf.read_glb(out / "mesh.glb")
    np.testing.assert_allclose(g.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(g.faces, mesh.faces)
    assert io.read_ply(out / "mesh.ply").n_faces == mesh.n_faces
    img = io.read_png(out / "preview.png")
    assert (img != 255).any(-1).mean() > 0.05
    assert np.load(out / "depth.npy").shape == (2, SIZE, SIZE)
    assert not leftovers(tmp_path)
    # evaluate the result against the ground truth
    r = subprocess.run([sys.executable, "-m", "econ_fast", "evaluate", out / "mesh.obj", d / "gt.obj", "--json",
                        "--samples", "2000"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["chamfer"] < 2.0 and m["normal_consistency"] > 0.85 and m["unit"] == "cm"


@needs_poisson
def test_reconstruct_npy_8bit_and_ply(case, tmp_path, capsys):
    d = case["dir"]
    rc, out, err = run(["reconstruct", "--front", d / "front.npy", "--back", d / "back.npy", "--body",
                        d / "body.ply", "--out", tmp_path / "a", *FAST, "--no-density-groups"], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "a" / "report.json").read_text())["parameters"]["poisson_density_groups"] is False
    # black background (other estimators' habit) is background too, without a mask
    black = (np.clip((case["normals"][1] + 1) / 2 * 255 + 0.5, 0, 255)).astype(np.uint8)
    black[~case["mask"]] = 0
    io.write_png(tmp_path / "back_black.png", black)
    rc, out, err = run(["reconstruct", "--front", d / "front.png", "--back", tmp_path / "back_black.png",
                        "--body", d / "body.obj", "--out", tmp_path / "k", "--no-poisson"], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "k" / "report.json").read_text())["mask_pixels"] == case["mask"].sum()
    rc, out, err = run(["reconstruct", "--front", d / "front8.png", "--back", d / "back.png", "--body",
                        d / "body.obj", "--mask", d / "mask.png", "--out", tmp_path / "b", "--no-poisson"], capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["parameters"]["poisson"] is False and not rep["closed"]
    # existing non-empty output: refused, then replaced with --overwrite
    rc, out, err = run(["reconstruct", "--front", d / "front.npy", "--back", d / "back.npy", "--body",
                        d / "body.obj", "--out", tmp_path / "b", "--no-poisson"], capsys)
    assert rc == 2 and "--overwrite" in err
    rc, out, err = run(["reconstruct", "--front", d / "front.npy", "--back", d / "back.npy", "--body",
                        d / "body.obj", "--out", tmp_path / "b", "--no-poisson", "--no-side", "--overwrite"], capsys)
    assert rc == 0, err
    assert not (tmp_path / "b" / "side.obj").exists() and not leftovers(tmp_path)


@needs_poisson
def test_reconstruct_from_econ_file(case, tmp_path, capsys):
    from econ_fast import pipeline

    prior, _, _ = pipeline.render_body(case["body"], SIZE, SIZE)
    bni = {"normal_F": case["normals"][0], "normal_B": case["normals"][1], "mask": case["mask"],
           "depth_F": np.nan_to_num(prior[0], nan=-1.0), "depth_B": np.nan_to_num(prior[1], nan=-1.0),
           "depth_mask": np.isfinite(prior[0])}
    f = tmp_path / "img_0.npy"
    np.save(f, bni, allow_pickle=True)
    rc, out, err = run(["reconstruct", "--econ-file", f, "--out", tmp_path / "a", *FAST], capsys)
    assert rc == 0, err
    assert "side completion and hand replacement skipped" in out
    rc, out, err = run(["reconstruct", "--econ-file", f, "--body", case["dir"] / "body.obj", "--out",
                        tmp_path / "b", *FAST], capsys)
    assert rc == 0, err
    assert (tmp_path / "b" / "side.obj").exists()
    del bni["depth_mask"]
    np.save(f, bni, allow_pickle=True)
    rc, out, err = run(["reconstruct", "--econ-file", f, "--out", tmp_path / "c"], capsys)
    check_failed(rc, err, tmp_path / "c", "missing keys", "depth_mask")


def fake_smplx_model(path, body, hand_vertices):
    """SMPLX_NEUTRAL.npz with the key layout smplx 0.1.28 reads (DATA.md section 3), filled from our test
    body: V = 10475 (smplx indexes vertices up to 9929), the extra vertices unreferenced; zero
    blend shapes (V = the body's vertex count when larger); every vertex skinned to the pelvis except the hand vertices (wrist joints)."""
    nb = body.n_vertices
    V, J = max(10475, nb), 55
    v = np.zeros((V, 3), np.float32)
    v[:nb] = body.vertices * np.array([1, -1, -1])    # ECON flips y and z after SMPL-X
    v[nb:] = v[0]
    w = np.zeros((V, J), np.float32)
    w[:, 0] = 1
    w[:nb][hand_vertices] = 0
    w[:nb][hand_vertices, 20] = 1
    eyes = np.flatnonzero(body.vertices[:, 1] > 0.86)           # a stand-in eyeball: the crown, joint 23
    w[eyes] = 0
    w[eyes, 23] = 1
    jr = np.zeros((J, V), np.float32)
    jr[:, 0] = 1
    np.savez_compressed(
        path, v_template=v, f=body.faces.astype(np.int64), shapedirs=np.zeros((V, 3, 20), np.float32),
        posedirs=np.zeros((V, 3, 486), np.float32), J_regressor=jr,
        kintree_table=np.array([[4294967295] + SMPLX_PARENTS[1:], list(range(J))], np.int64),
        weights=w, hands_componentsl=np.eye(45, dtype=np.float32), hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=np.zeros(45, np.float32), hands_meanr=np.zeros(45, np.float32),
        lmk_faces_idx=np.zeros(51, np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32))


@pytest.fixture(scope="module")
def smplx_files(case, tmp_path_factory):
    pytest.importorskip("smplx")
    d = tmp_path_factory.mktemp("smplx")
    os.makedirs(d / "models" / "smplx")
    fake_smplx_model(d / "models" / "smplx" / "SMPLX_NEUTRAL.npz", case["body"], case["hand_vertices"])
    np.savez(d / "params.npz", global_orient=np.zeros((1, 3)), body_pose=np.zeros((1, 21, 3)),
             betas=np.zeros((1, 10)), transl=np.zeros((1, 3)), scale=np.ones(1), expression=np.zeros((1, 10)),
             left_hand_pose=np.zeros((1, 45)), right_hand_pose=np.zeros((15, 3)))
    return d


@needs_poisson
def test_reconstruct_with_smplx(case, smplx_files, tmp_path, capsys):
    d = case["dir"]
    rc, out, err = run(["reconstruct", "--front", d / "front.png", "--back", d / "back.png", "--smplx",
                        smplx_files / "params.npz", "--smplx-model", smplx_files / "models", "--out", tmp_path / "a",
                        *FAST], capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert "hands.obj" in rep["files"] and "body.obj" in rep["files"] and rep["iterations"]["hand_faces"] > 0
    body = io.read_obj(tmp_path / "a" / "body.obj")
    np.testing.assert_allclose(body.vertices[:case["body"].n_vertices], case["body"].vertices, atol=1e-5)
    eyes = case["body"].vertices[:, 1] > 0.86
    assert eyes.any()
    full = np.zeros(max(10475, case["body"].n_vertices), bool)
    full[:case["body"].n_vertices] = eyes
    assert not full[body.faces].all(1).any()                   # eyeball faces are gone
    assert len(body.faces) == (~eyes[case["body"].faces].all(1)).sum()
    # ECON's pickled dict format works too, with CPU torch tensors in it (rebuilt by torch's weights-only loader)
    import torch

    z = {k: torch.from_numpy(v) for k, v in np.load(smplx_files / "params.npz").items()}
    np.save(tmp_path / "p.npy", z, allow_pickle=True)
    rc, out, err = run(["reconstruct", "--front", d / "front.png", "--back", d / "back.png", "--smplx",
                        tmp_path / "p.npy", "--smplx-model", smplx_files / "models" / "smplx", "--out",
                        tmp_path / "b", "--no-poisson"], capsys)
    assert rc == 0, err


@pytest.mark.parametrize("key,shape", [("body_pose", (1, 60)), ("global_orient", (2, 3)),
                                       ("left_hand_pose", (1, 12)), ("betas", (1, 400))])
def test_smplx_params_of_the_wrong_shape(case, smplx_files, tmp_path, capsys, key, shape):
    z = dict(np.load(smplx_files / "params.npz"))
    z[key] = np.zeros(shape)
    np.savez(tmp_path / "bad.npz", **z)
    d = case["dir"]
    rc, out, err = run(["reconstruct", "--front", d / "front.png", "--back", d / "back.png", "--smplx",
                        tmp_path / "bad.npz", "--smplx-model", smplx_files / "models", "--out", tmp_path / "o"],
                       capsys)
    check_failed(rc, err, tmp_path / "o", key, "numbers")


def test_smplx_missing_model_and_missing_package(case, smplx_files, tmp_path, capsys, monkeypatch):
    d = case["dir"]
    base = ["reconstruct", "--front", d / "front.png", "--back", d / "back.png", "--smplx", smplx_files / "params.npz"]
    rc, out, err = run(base + ["--smplx-model", tmp_path, "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "SMPLX_NEUTRAL.npz")
    monkeypatch.setitem(sys.modules, "smplx", None)            # as if not installed
    rc, out, err = run(base + ["--smplx-model", smplx_files / "models", "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "pip install smplx")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from econ_fast import normalnet

    torch.manual_seed(0)
    net = normalnet.NormalNet(6, 2)                             # ECON's layout at ngf = 2
    state = {"netG." + k: v for k, v in net.state_dict().items()}
    state["netD.model.0.weight"] = torch.zeros(1)            # extra keys are ignored, as in ECON
    d = tmp_path_factory.mktemp("ckpt")
    torch.save({"state_dict": state, "epoch": 3}, d / "normal.ckpt")
    return d, state


@needs_poisson
def test_reconstruct_from_image_and_normal_network(case, ckpt, tmp_path, capsys):
    d, _ = ckpt
    img = np.zeros((SIZE, SIZE, 4), np.uint8)
    img[..., :3] = 180
    img[..., 3] = case["mask"] * 255
    io.write_png(tmp_path / "img.png", img)
    rc, out, err = run(["reconstruct", "--image", tmp_path / "img.png", "--normal-ckpt", d / "normal.ckpt", "--body",
                        case["dir"] / "body.obj", "--out", tmp_path / "a", *FAST], capsys)
    assert rc == 0, err
    for f in ("normal_front.png", "normal_back.png", "normals.npy", "mesh.obj"):
        assert (tmp_path / "a" / f).is_file()
    n = np.load(tmp_path / "a" / "normals.npy")
    np.testing.assert_allclose(np.linalg.norm(n[:, case["mask"]], axis=-1), 1.0, atol=1e-4)


def test_normal_network_matches_the_layer_list():
    torch = pytest.importorskip("torch")
    from econ_fast import normalnet

    keys = normalnet.expected_keys(6, 64)
    assert sum(int(np.prod(s)) for s in keys.values()) == 2 * 182_452_675     # ECON_SPEC 5.1
    assert keys["netG.netF.model.1.weight"] == (64, 6, 7, 7)
    assert keys["netG.netB.model.16.conv_block.5.bias"] == (1024,)
    assert keys["netG.netF.model.25.weight"] == (1024, 512, 3, 3)             # ConvTranspose: (in, out, k, k)
    assert keys["netG.netF.model.38.weight"] == (3, 64, 7, 7)
    net = normalnet.NormalNet(6, 2)
    y = net.netF(torch.zeros(1, 6, 32, 48))
    assert y.shape == (1, 3, 32, 48)


def test_checkpoint_with_missing_or_mismatched_keys(case, ckpt, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    d, state = ckpt
    io.write_png(tmp_path / "img.png", np.full((SIZE, SIZE, 3), 100, np.uint8))
    base = ["reconstruct", "--image", tmp_path / "img.png", "--body", case["dir"] / "body.obj"]
    bad = dict(state)
    del bad["netG.netB.model.16.conv_block.5.weight"]
    torch.save({"state_dict": bad}, tmp_path / "missing.ckpt")
    rc, out, err = run(base + ["--normal-ckpt", tmp_path / "missing.ckpt", "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "missing keys", "netG.netB.model.16.conv_block.5.weight")
    bad = dict(state)
    bad["netG.netF.model.38.bias"] = torch.zeros(4)
    torch.save({"state_dict": bad}, tmp_path / "shape.ckpt")
    rc, out, err = run(base + ["--normal-ckpt", tmp_path / "shape.ckpt", "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "mismatched", "netG.netF.model.38.bias")
    torch.save({"state_dict": {"other.weight": torch.zeros(2)}}, tmp_path / "other.ckpt")
    rc, out, err = run(base + ["--normal-ckpt", tmp_path / "other.ckpt", "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "netG.netF.model.1.weight")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    rc, out, err = run(base + ["--normal-ckpt", tmp_path / "junk.ckpt", "--out", tmp_path / "o"], capsys)
    check_failed(rc, err, tmp_path / "o", "junk.ckpt")


@needs_poisson
def test_bad_inputs_are_one_line_and_leave_nothing(case, tmp_path, capsys):
    d = case["dir"]
    o = tmp_path / "o"
    good = ["--front", d / "front.png", "--back", d / "back.png", "--body", d / "body.obj"]

    def fails(argv, *frag):
        rc, out, err = run(["reconstruct", *FAST, *argv, "--out", o], capsys)
        check_failed(rc, err, o, *frag)

    fails(["--front", d / "nope.png", "--back", d / "back.png", "--body", d / "body.obj"], "nope.png", "no such file")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    fails(["--front", tmp_path / "corrupt.png", "--back", d / "back.png", "--body", d / "body.obj"], "corrupt.png")
    io.write_png(tmp_path / "small.png", np.zeros((64, 64, 3), np.uint16))
    fails(["--front", tmp_path / "small.png", "--back", d / "back.png", "--body", d / "body.obj"], "same size")
    io.write_png(tmp_path / "m64.png", np.ones((64, 64), bool))
    fails(good + ["--mask", tmp_path / "m64.png"], "--mask", "64x64")
    rng = np.random.default_rng(0)
    io.write_png(tmp_path / "photo.png", rng.integers(0, 255, (SIZE, SIZE, 3)).astype(np.uint8))
    fails(["--front", tmp_path / "photo.png", "--back", d / "back.png", "--body", d / "body.obj"],
          "does not look like a normal map")
    np.save(tmp_path / "big.npy", case["normals"][0] * 3)
    fails(["--front", tmp_path / "big.npy", "--back", d / "back.png", "--body", d / "body.obj"], "[-1, 1]")
    fails(["--front", d / "back.png", "--back", d / "front.png", "--body", d / "body.obj"], "swapped")
    far = case["body"].vertices + [3.0, 0, 0]
    from econ_fast.mesh import Mesh

    io.write_obj(tmp_path / "far.obj", Mesh(far, case["body"].faces))
    fails(["--front", d / "front.png", "--back", d / "back.png", "--body", tmp_path / "far.obj"],
          "does not overlap the mask")
    (tmp_path / "bad.obj").write_text("v 0 0 0\nf 1 2 3\n")
    fails(["--front", d / "front.png", "--back", d / "back.png", "--body", tmp_path / "bad.obj"], "bad.obj")
    fails(["--front", d / "front.png", "--body", d / "body.obj"], "--front and --back go together")
    fails(good + ["--smplx", d / "x.npz"], "not both")
    fails(["--front", d / "front.png", "--back", d / "back.png"], "a body is needed")
    fails(good + ["--poisson-depth", "0"], "poisson-depth")
    fails(good + ["--perspective", "1,2"], "--perspective")
    fails([], "give the normal maps")


def test_progress_bar_only_on_a_terminal():
    import io as pyio

    from econ_fast.cli_pipeline import _Progress

    class Tty(pyio.StringIO):
        def isatty(self):
            return True

    s = Tty()
    p = _Progress(s)
    p("d-BiNI", 1, 8)
    p("done", 8, 8)
    assert "d-BiNI" in s.getvalue() and s.getvalue().endswith("\n")
    q = pyio.StringIO()
    _Progress(q)("d-BiNI", 1, 8)
    assert q.getvalue() == ""


def test_evaluate_and_bench_errors(case, tmp_path, capsys, monkeypatch):
    d = case["dir"]
    rc, out, err = run(["evaluate", d / "gt.obj", d / "gt.obj", "--samples", "500", "--no-normal-images"], capsys)
    assert rc == 0 and "chamfer" in out and "0.0000 cm" in out
    rc, out, err = run(["evaluate", d / "gt.obj", tmp_path / "none.obj"], capsys)
    assert rc == 2 and "none.obj" in err and len(err.strip().splitlines()) == 1
    rc, out, err = run(["evaluate", d / "gt.obj", d / "gt.obj", "--scale", "-1"], capsys)
    assert rc == 2 and "scale" in err
    from econ_fast import cli_pipeline

    assert cli_pipeline.find_bench_script() == str(ROOT / "benchmarks" / "run.py")
    monkeypatch.setattr(cli_pipeline, "find_bench_script", lambda: None)
    rc, out, err = run(["bench"], capsys)
    assert rc == 2 and "source checkout" in err


@needs_poisson
def test_reconstruct_perspective(case, tmp_path, capsys):
    from econ_fast import pipeline
    from econ_fast.mesh import Mesh

    flip = np.array([1.0, -1.0, -1.0])                    # crop frame -> OpenCV camera frame, 3 units away
    gt = Mesh(case["gt"].vertices * flip + [0, 0, 3.0], case["gt"].faces)
    body = Mesh(case["body"].vertices * flip + [0, 0, 3.0], case["body"].faces)
    K = np.array([[SIZE, 0, (SIZE - 1) / 2], [0, SIZE, (SIZE - 1) / 2], [0, 0, 1.0]])
    _, nrm, cov = pipeline.render_body(gt, SIZE, SIZE, K=K, thickness=0.0)
    m = cov.all(0)
    for s, name in ((0, "f"), (1, "b")):
        np.save(tmp_path / f"{name}.npy", np.where(m[..., None], np.nan_to_num(nrm[s]), 0.0))
    io.write_obj(tmp_path / "body.obj", body)
    np.savetxt(tmp_path / "K.txt", K)
    rc, out, err = run(["reconstruct", "--front", tmp_path / "f.npy", "--back", tmp_path / "b.npy", "--body",
                        tmp_path / "body.obj", "--perspective", tmp_path / "K.txt", "--out", tmp_path / "o", *FAST],
                       capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["intrinsics"] == K.tolist() and "OpenCV" in rep["frame"]
    mesh = io.read_obj(tmp_path / "o" / "mesh.obj")
    assert abs(np.median(mesh.vertices[:, 2]) - 3.0) < 0.3          # in front of the camera, where the body is
    rc, out, err = run(["reconstruct", "--front", tmp_path / "f.npy", "--back", tmp_path / "b.npy", "--body",
                        tmp_path / "body.obj", "--perspective", f"{SIZE},{SIZE},63.5,63.5", "--out", tmp_path / "p",
                        "--no-poisson", "--pixel-center"], capsys)
    assert rc == 0, err


def test_pickled_files_cannot_run_code(tmp_path):
    from econ_fast import inputs

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    np.save(tmp_path / "evil.npy", np.array({"normal_F": Evil()}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="refusing to load"):
        inputs.load_econ_bni(tmp_path / "evil.npy")
    assert not (tmp_path / "pwned").exists()
    np.save(tmp_path / "plain.npy", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="expected a dict"):
        inputs.load_econ_bni(tmp_path / "plain.npy")


def test_glb_round_trip_and_trimesh_reads_it(tmp_path):
    from econ_fast.mesh import Mesh

    import meshcases

    m = Mesh(*meshcases.bumpy_sphere(2, seed=1))
    gltf.write_glb(tmp_path / "m.glb", m)
    data = (tmp_path / "m.glb").read_bytes()
    assert data[:4] == b"glTF" and len(data) % 4 == 0
    back = gltf.read_glb(tmp_path / "m.glb")
    np.testing.assert_allclose(back.vertices, m.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, m.faces)
    np.testing.assert_allclose(np.linalg.norm(back.normals, axis=1), 1.0, atol=1e-6)
    trimesh = pytest.importorskip("trimesh")
    t = trimesh.load(tmp_path / "m.glb", force="mesh", process=False)
    np.testing.assert_allclose(t.vertices, m.vertices, atol=1e-6)
    with pytest.raises(ValueError, match="empty mesh"):
        gltf.encode_glb(Mesh(np.zeros((0, 3)), np.zeros((0, 3), int)))


@needs_poisson
def test_demo_closes_the_sheets(tmp_path, capsys):
    rc, out, err = run(["demo", "--sample", "dbini", "--out", tmp_path / "d", "--poisson-depth", "7",
                        "--preview-size", "96"], capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "d" / "report.json").read_text())
    assert "mesh.obj" in rep["files"] and rep["backends"]["poisson"] in ("econ_fast.poisson", "open3d")
    mesh = io.read_obj(tmp_path / "d" / "mesh.obj")
    assert len(mesh.boundary_edges()) == 0 and mesh.n_faces == rep["meshes"]["mesh"]["faces"]
    assert gltf.read_glb(tmp_path / "d" / "mesh.glb").n_faces == mesh.n_faces
    rc, out, err = run(["demo", "--sample", "dbini", "--out", tmp_path / "e", "--no-poisson", "--preview-size", "96"],
                       capsys)
    assert rc == 0 and not (tmp_path / "e" / "mesh.obj").exists()
