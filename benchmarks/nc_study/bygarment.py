import os
import json, sys
import numpy as np
rows = [json.loads(l) for l in open(sys.argv[1])]
vs = sys.argv[2].split(",")
def key(r): return r["v"] + (("@" + r["build"]) if r.get("build") else "")
by = {v: {r["i"]: r for r in rows if key(r) == v} for v in vs}
ids = sorted(set.intersection(*[set(by[v]) for v in vs]))
for gname in ("tight", "loose", "skirt", "jacket", "shorts", "all"):
    sel = [i for i in ids if gname == "all" or by[vs[0]][i]["g"] == gname]
    print(f"{gname:7s} n={len(sel):2d} " + " | ".join(f"{v}: " + " ".join(f"{np.mean([by[v][i][m] for i in sel]):.4f}" for m in ("cd", "p2s", "nc")) for v in vs))
