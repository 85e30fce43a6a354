# SPDX-License-Identifier: Apache-2.0
"""`python -m econ_fast ...` end to end, in a subprocess (as a user runs it), and the bundled sample."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import cases
from econ_fast import io

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ECON_FAST_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "econ_fast", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


needs_poisson = pytest.mark.skipif(__import__("econ_fast.pipeline").pipeline.poisson_backend() is None,
                                   reason="no screened-Poisson backend (native econ_fast.poisson or open3d)")
SMALL = ["--size", "128", "--poisson-depth", "7", "--samples", "2000", "--preview-size", "96"]


@needs_poisson
def test_demo_runs_the_pipeline_on_the_bundled_person(tmp_path):
    out = tmp_path / "tmp"
    r = run_cli("demo", "--out", str(out), *SMALL, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = ("mesh.obj", "mesh.ply", "mesh.glb", "front.obj", "back.obj", "side.obj", "depth.npy",
             "depth_front.png", "depth_back.png", "gt.obj", "preview.png", "report.json")
    for f in files:
        assert (out / f).is_file(), f
        assert str(out / f) in r.stdout                         # tells the user where the files are
    for stage in ("d-BiNI", "side", "poisson", "decimate", "total"):   # per-stage timing table
        assert stage in r.stdout
    assert "Chamfer" in r.stdout and "P2S" in r.stdout and "normal consistency" in r.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["command"] == "demo" and rep["image_size"] == [128, 128]
    assert rep["parameters"]["poisson_depth"] == 7 and rep["backends"]["poisson"] in ("econ_fast.poisson", "open3d")
    assert rep["iterations"]["dbini_converged"] and rep["closed"]
    acc = rep["accuracy"]
    assert 0 < acc["chamfer"] < 3.0 and 0 < acc["p2s"] < 3.0 and acc["normal_consistency"] > 0.85  # cm at 128 px
    mesh = io.read_obj(out / "mesh.obj")
    assert len(mesh.boundary_edges()) == 0 and mesh.n_faces == rep["meshes"]["mesh"]["faces"]
    img = io.read_png(out / "preview.png")
    assert img.ndim == 3 and img.shape[2] == 3 and (img != 255).any(axis=-1).mean() > 0.05   # not blank
    assert np.load(out / "depth.npy").shape == (2, 128, 128)


def test_demo_with_any_poisson_backend(tmp_path, capsys, monkeypatch):
    """A native Poisson module (here a stand-in returning a sphere) is used when importable; with no
    backend at all the demo still writes the open soup and says so."""
    from types import SimpleNamespace

    import meshcases
    from econ_fast import pipeline
    from econ_fast.cli import main
    from econ_fast.mesh import Mesh

    calls = []

    def fake(points, normals, *, depth, **kw):
        calls.append(depth)
        v, f = meshcases.icosphere(3)
        c = points.mean(0)
        return SimpleNamespace(mesh=Mesh(c + 0.5 * v, f), timings={})

    monkeypatch.setattr(pipeline, "_native_poisson", lambda: SimpleNamespace(reconstruct=fake))
    assert main(["demo", "--out", str(tmp_path / "a"), *SMALL]) == 0
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert calls == [7] and rep["backends"]["poisson"] == "econ_fast.poisson"
    monkeypatch.setattr(pipeline, "_native_poisson", lambda: None)
    monkeypatch.setattr(pipeline, "poisson_backend", lambda: None)
    assert main(["demo", "--out", str(tmp_path / "b"), *SMALL]) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert "no screened-Poisson backend" in out and rep["parameters"]["poisson"] is False
    assert (tmp_path / "b" / "mesh.obj").is_file() and not rep["closed"]


def test_demo_dbini_sample_writes_everything(tmp_path):
    out = tmp_path / "tmp"
    r = run_cli("demo", "--sample", "dbini", "--no-poisson", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for f in ("front.obj", "back.obj", "sheets.ply", "depth.npy", "preview.png", "report.json"):
        assert (out / f).is_file(), f
        assert str(out / f) in r.stdout                         # tells the user where the files are
    assert "total" in r.stdout and "d-BiNI solve" in r.stdout  # per-stage timing table
    img = io.read_png(out / "preview.png")
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert (img != 255).any(axis=-1).mean() > 0.05              # not blank
    rep = json.loads((out / "report.json").read_text())
    assert rep["parameters"]["solve"]["solver"] == "fast"
    assert rep["solver"]["iterations"] >= 1 and rep["solver"]["converged"]
    assert set(rep["timings_s"]) >= {"d-BiNI solve", "depth to mesh", "total"}
    assert rep["depth_error_px"]["front"] < 2.0 and rep["depth_error_px"]["back"] < 2.0
    front, back = io.read_obj(out / "front.obj"), io.read_obj(out / "back.obj")
    assert front.n_faces == rep["meshes"]["front"]["faces"] and back.n_faces == rep["meshes"]["back"]["faces"]
    assert np.all(front.face_normals()[:, 2] > 0) and np.all(back.face_normals()[:, 2] < 0)
    sheets = io.read_ply(out / "sheets.ply")
    assert sheets.n_vertices == front.n_vertices + back.n_vertices and sheets.normals is not None
    depth = np.load(out / "depth.npy")
    assert depth.shape == (2, 512, 512) and depth.dtype == np.float32


def test_demo_bad_options(tmp_path, capsys):
    from econ_fast.cli import main

    for argv, frag in ((["--size", "8"], "--size"), (["--poisson-depth", "0"], "--poisson-depth"),
                       (["--sample", "x"], "--sample")):
        assert main(["demo", "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and frag in err, err
        assert not (tmp_path / "x").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path / "mine"), *SMALL]) == 2
    assert "no earlier econ_fast result" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_bad_solver_is_one_line_exit_2(tmp_path):
    r = run_cli("demo", "--out", str(tmp_path / "x"), "--solver", "nope", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "--solver" in lines[0] and "nope" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_runtime_error_is_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("x")
    r = run_cli("demo", "--out", str(tmp_path / "file"), cwd=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "not a directory" in r.stderr
    r = run_cli("frobnicate", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_info(tmp_path):
    r = run_cli("info", cwd=tmp_path)
    assert r.returncode == 0 and "version" in r.stdout and "cuda" in r.stdout
    r = run_cli("info", "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["version"]


def test_main_in_process(tmp_path, capsys):
    from econ_fast.cli import main

    assert main(["demo", "--solver", "bad"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err


def test_sample_matches_its_generator():
    from econ_fast.data import load_sample, sample_path

    assert os.path.getsize(sample_path()) < 1_000_000
    s = load_sample()
    c = cases.human_pair(512, 512, seed=0)
    np.testing.assert_array_equal(s["mask"], c["mask"])
    np.testing.assert_array_equal(s["body_mask"], c["body_mask"])
    assert np.abs(s["normals"] - c["normals"]).max() < 1e-4
    assert np.nanmax(np.abs(s["body_depth"] - c["body_depth"])) <= 1 / 128 + 1e-12
    assert np.nanmax(np.abs(s["depth_gt"] - c["depth_gt"])) <= 1 / 128 + 1e-12
    np.testing.assert_array_equal(np.isnan(s["body_depth"]), np.isnan(c["body_depth"]))
    assert s["normals"].dtype == np.float32
    assert "human_pair" in s["meta"]["generator"]
