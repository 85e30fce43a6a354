import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
import exp
i = int(sys.argv[1]); N = 50000
d = load(i); g = gt(d)
P = parts(d, "ours")
sheets = Mesh.concatenate(P[:2]); side = P[2]
qs = MeshQuery(sheets.vertices, sheets.faces); qside = MeshQuery(side.vertices, side.faces)
out = {}
for lab, f in (("native", exp.v_base), ("open3d", exp.v_o3d)):
    m = f(d)
    (ps, cp, dp), (gs, cg, dg) = per_point(m, g, N)
    ds = np.asarray(qs.distance(ps.astype(np.float32))); dd = np.asarray(qside.distance(ps.astype(np.float32)))
    sel = (ds >= 0.01) & (dd < 0.01)
    ang = np.degrees(np.arccos(np.clip(cp[sel], 0, 1)))
    print(lab, "near-side pred samples", sel.sum(), "angle pcts 25/50/75/90/95/99:", np.round(np.percentile(ang, [25,50,75,90,95,99]), 1),
          "frac>30 %.4f >60 %.4f" % (np.mean(ang > 30), np.mean(ang > 60)), "dist mean %.4f" % dp[sel].mean())
    # distance of near-side pred samples to the side points (how far the surface sits from body)
    print("    dist to side pts: pcts", np.round(np.percentile(dd[sel]*100, [25,50,75,90]), 2), "cm;  dist to gt", np.round(np.percentile(dp[sel]*100, [25,50,75,90]), 2))
    out[lab] = (ps, cp, dp, sel)
np.savez(fos.environ.get("NC_OUT", "/tmp") + f"/pp3_{i}.npz", **{f"{k}_{j}": v[j] for k, v in out.items() for j in range(4)})
