import os
# 2x2: soup (ours fast d-BiNI / ref scipy d-BiNI) x Poisson (native / open3d), + decimation on/off
import sys, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
ids = [int(x) for x in sys.argv[1].split(",")] if "," in sys.argv[1] else list(range(*map(int, sys.argv[1].split(":"))))
out = open(sys.argv[2], "a")
for i in ids:
    d = load(i); g = gt(d)
    for soup in ("ours", "ref"):
        for be in ("native", "open3d"):
            for dec in (True, False):
                m = close(parts(d, soup), be, decimate=dec)
                r = ev(m, g)
                rec = dict(i=i, g=str(d["garment"]), soup=soup, be=be, dec=dec, cd=r[0], p2s=r[1], nc=r[2])
                out.write(json.dumps(rec) + "\n"); out.flush()
    print(i, flush=True)
