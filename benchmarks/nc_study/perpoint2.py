import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from scipy.spatial import cKDTree
i = int(sys.argv[1]); N = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
d = load(i); g = gt(d)
P = parts(d, "ours")
sheets = Mesh.concatenate(P[:2]); side = P[2]
qs = MeshQuery(sheets.vertices, sheets.faces); qside = MeshQuery(side.vertices, side.faces)
res = {}
for be in ("native", "open3d"):
    m = close(P, be)
    (ps, cp, dp), (gs, cg, dg) = per_point(m, g, N)
    res[be] = (ps, cp, dp, gs, cg, dg)
    print(be, "nc %.5f pred->gt %.5f gt->pred %.5f" % (0.5*(cp.mean()+cg.mean()), cp.mean(), cg.mean()))
def cat(x):
    ds = np.asarray(qs.distance(x.astype(np.float32))); dd = np.asarray(qside.distance(x.astype(np.float32)))
    c = np.where(ds < 0.01, 0, np.where(dd < 0.01, 1, 2))
    return c
names = ["near sheet", "near side", "far both"]
for k, lab in ((3, "gt->pred"), (0, "pred->gt")):
    for be in ("native", "open3d"):
        x = res[be][k]; cc = res[be][k+1]; c = cat(x)
        print(lab, be, " ".join(f"{names[j]}: frac {np.mean(c==j):.3f} mean {cc[c==j].mean():.4f} loss {np.sum(1-cc[c==j])/len(cc):.5f} |" for j in range(3)))
