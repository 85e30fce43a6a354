import os
import sys, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
import exp
ids = list(range(*map(int, sys.argv[1].split(":")))); out = sys.argv[2]
vs = sys.argv[3].split(",") if len(sys.argv) > 3 else ["base", "o3d"]
N = 50000
for i in ids:
    d = load(i); g = gt(d)
    P = parts(d, "ours")
    sheets = Mesh.concatenate(P[:2]); side = P[2]
    qs = MeshQuery(sheets.vertices, sheets.faces); qside = MeshQuery(side.vertices, side.faces)
    # sheet boundary vertices
    e, fe, _ = sheets.edges()
    for v in vs:
        m = exp.VARIANTS[v](d)
        (ps, cp, dp), (gs, cg, dg) = per_point(m, g, N)
        rec = dict(i=i, g=str(d["garment"]), v=v, nc=0.5 * (cp.mean() + cg.mean()))
        for lab, x, c in (("p", ps, cp), ("g", gs, cg)):
            ds = np.asarray(qs.distance(x.astype(np.float32))); dd = np.asarray(qside.distance(x.astype(np.float32)))
            cat = np.where(ds < 0.01, 0, np.where(dd < 0.01, 1, 2))
            for j, nm in enumerate(("sheet", "side", "far")):
                rec[f"{lab}_{nm}_loss"] = float(np.sum(1 - c[cat == j]) / len(c))
                rec[f"{lab}_{nm}_frac"] = float(np.mean(cat == j))
        with open(out, "a") as fh: fh.write(json.dumps(rec) + "\n")
    print(i, flush=True)
