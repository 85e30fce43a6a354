import os, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.environ.get("EF_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
import numpy as np
from econ_fast import pipeline, metrics
from econ_fast.mesh import Mesh
from econ_fast.meshquery import MeshQuery

def load(i):
    return dict(np.load(os.path.join(os.environ.get("NC_DATA", "/tmp/nc/data"), f"p{i}.npz"), allow_pickle=False))

def parts(d, lab):
    return [Mesh(d[f"{lab}_{p}_v"], d[f"{lab}_{p}_f"]) for p in ("front", "back", "side")]

def gt(d):
    return Mesh(d["gt_v"], d["gt_f"])

def close(parts_, backend="native", **kw):
    cfg = pipeline.PipelineConfig().replace(poisson_backend=backend, **kw)
    mesh, soup = pipeline.close_surface([p for p in parts_ if p is not None and p.n_faces], cfg)
    return mesh

def ev(mesh, g, n=10000):
    m = metrics.evaluate(mesh, g, n_samples=n, normal_images=False)
    return np.array([m.chamfer, m.p2s, m.normal_consistency])

def per_point(pred, g, n=10000, seed=0):
    """per-sample |cos| and distance, both directions, with positions"""
    qp = MeshQuery(pred.vertices, pred.faces); qg = MeshQuery(g.vertices, g.faces)
    ps, _, pn = metrics.sample_surface(pred, n, seed)
    gs, _, gn = metrics.sample_surface(g, n, seed + 1)
    d_pg, n_pg = metrics._closest_face_normals(ps, g, qg)
    d_gp, n_gp = metrics._closest_face_normals(gs, pred, qp)
    return (ps, np.abs((pn * n_pg).sum(1)), d_pg), (gs, np.abs((gn * n_gp).sum(1)), d_gp)
