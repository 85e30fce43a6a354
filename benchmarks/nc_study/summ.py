import os
import json, sys, collections
import numpy as np
rows = [json.loads(l) for l in open(sys.argv[1])]
ids = sorted(set(r["i"] for r in rows))
keys = sorted(set((r["soup"], r["be"], r["dec"]) for r in rows))
print("n people", len(ids))
for k in keys:
    a = np.array([[r["cd"], r["p2s"], r["nc"]] for r in rows if (r["soup"], r["be"], r["dec"]) == k])
    print(k, "cd %.4f p2s %.4f nc %.5f" % tuple(a.mean(0)))
# per person nc table
print("person", *[f"{k[0][:3]}-{k[1][:3]}-{int(k[2])}" for k in keys])
for i in ids:
    print(i, [r["g"] for r in rows if r["i"] == i][0][:5], *["%.4f" % [r["nc"] for r in rows if r["i"] == i and (r["soup"], r["be"], r["dec"]) == k][0] for k in keys])
