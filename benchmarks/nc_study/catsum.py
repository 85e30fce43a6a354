import os
import json, sys, numpy as np
rows = [json.loads(l) for l in open(sys.argv[1])]
a, b = sys.argv[2].split(",")
A = {r["i"]: r for r in rows if r["v"] == a}; B = {r["i"]: r for r in rows if r["v"] == b}
ids = sorted(set(A) & set(B))
ks = [k for k in A[ids[0]] if k.endswith("_loss")]
print("n", len(ids), f"nc {a} {np.mean([A[i]['nc'] for i in ids]):.5f} {b} {np.mean([B[i]['nc'] for i in ids]):.5f}")
for k in ks:
    d = np.array([A[i][k] - B[i][k] for i in ids]) * 0.5   # contribution to NC deficit (a worse => +)
    print(f"{k:14s} {a}-{b} NC-loss contrib mean {d.mean():+.5f}  (a worse on {(d>0).sum()}/{len(d)})")
