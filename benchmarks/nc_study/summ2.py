import os
import json, sys
import numpy as np
rows = [json.loads(l) for l in open(sys.argv[1])]
base = sys.argv[2] if len(sys.argv) > 2 else "base"
vs = []
for r in rows:
    k = r["v"] + (("@" + r["build"]) if r.get("build") else "")
    r["k"] = k
    if k not in vs: vs.append(k)
byk = {k: {r["i"]: r for r in rows if r["k"] == k} for k in vs}
b = byk.get(base, {})
for k in vs:
    ids = sorted(byk[k]); a = np.array([[byk[k][i]["cd"], byk[k][i]["p2s"], byk[k][i]["nc"]] for i in ids])
    s = f"{k:30s} n={len(ids):2d} cd {a[:,0].mean():.4f} p2s {a[:,1].mean():.4f} nc {a[:,2].mean():.5f}"
    com = [i for i in ids if i in b]
    if com and k != base:
        dd = np.array([[byk[k][i][m] - b[i][m] for m in ("cd", "p2s", "nc")] for i in com])
        s += f"  | vs {base} on {len(com)}: dcd {dd[:,0].mean():+.4f} dp2s {dd[:,1].mean():+.4f} dnc {dd[:,2].mean():+.5f} (nc up on {(dd[:,2]>0).sum()})"
    print(s)
