import os, sys, time
os.environ["OPENBLAS_NUM_THREADS"] = "1"
_R = os.environ.get("EF_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))); sys.path.insert(0, _R); sys.path.insert(0, _R + "/benchmarks")
import numpy as np
from econ_fast import synthetic, pipeline
from econ_fast.mesh import Mesh
import bm_pipeline as bm

lo, hi = int(sys.argv[1]), int(sys.argv[2])
cfg = pipeline.PipelineConfig().replace(poisson=False)
for i, s in enumerate(synthetic.make_set(hi)):
    if i < lo: continue
    fn = os.path.join(os.environ.get("NC_DATA", "/tmp/nc/data"), f"p{i}.npz")
    if os.path.exists(fn): continue
    t0 = time.time()
    gt = s.outer_surface()
    c = (f"{i}", s.normals, s.mask[0], s.body, gt)
    d = dict(normals=s.normals, mask=s.mask[0], body_v=s.body.vertices, body_f=s.body.faces,
             gt_v=gt.vertices, gt_f=gt.faces, garment=s.params["garment"])
    for lab, fn_ in (("ours", bm.run_ours), ("ref", lambda c, cfg: bm._RefSolve().__enter__() and None)):
        pass
    r = bm.run_ours(c, cfg)
    with bm._RefSolve():
        rr = bm.run_ours(c, cfg)
    for lab, res in (("ours", r), ("ref", rr)):
        for part in ("front", "back"):
            m = getattr(res.sheets, part)
            d[f"{lab}_{part}_v"] = m.vertices; d[f"{lab}_{part}_f"] = m.faces
        d[f"{lab}_side_v"] = res.side.vertices; d[f"{lab}_side_f"] = res.side.faces
        d[f"{lab}_depth"] = res.depth
    np.savez(fn, **d)
    print(i, s.params["garment"], f"{time.time()-t0:.1f}s", flush=True)
