import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
import exp
from econ_fast import io
def bin_img(pts, val, yaw, size=256, ext=1.0):
    t = np.deg2rad(yaw)
    R = np.array([[np.cos(t), 0, -np.sin(t)], [0, 1, 0], [np.sin(t), 0, np.cos(t)]])
    q = pts @ R.T
    u = ((q[:, 0] / ext + 1) * 0.5 * size).astype(int); v = ((1 - q[:, 1] / ext) * 0.5 * size).astype(int)
    # keep only front-most layer: per pixel, the max z; accept samples within 1.5cm of it
    ok = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    idx = v * size + u
    zmax = np.full(size * size, -np.inf); np.maximum.at(zmax, idx[ok], q[ok, 2])
    ok &= q[:, 2] > zmax[np.clip(idx, 0, size*size-1)] - 0.015
    s = np.bincount(idx[ok], val[ok], size * size); c = np.bincount(idx[ok], None, size * size)
    return s.reshape(size, size), c.reshape(size, size)
i = int(sys.argv[1]); N = 400000
d = load(i); g = gt(d)
fs = [exp.VARIANTS[v] for v in (sys.argv[2:4] if len(sys.argv) > 3 else ("base", "o3d"))]
views = []
for f in fs:
    m = f(d)
    (ps, cp, dp), _ = per_point(m, g, N)
    loss = 1 - cp
    views.append([bin_img(ps, loss, y) for y in (0, 90, 180, 270)])
tiles = []
for k in range(4):
    (s1, c1), (s2, c2) = views[0][k], views[1][k]
    # 2x2 block pooling
    def pool(a): return a.reshape(128, 2, 128, 2).sum((1, 3))
    s1, c1, s2, c2 = map(pool, (s1, c1, s2, c2))
    m1 = s1 / np.maximum(c1, 1); m2 = s2 / np.maximum(c2, 1)
    cov = (c1 > 0) | (c2 > 0)
    dd = np.clip((m1 - m2) / 0.1, -1, 1)   # + : first worse
    img = np.full((128, 128, 3), 255, np.uint8)
    img[cov] = 128
    r = dd > 0
    img[cov & r] = np.stack([np.full((cov & r).sum(), 255), 255 * (1 - dd[cov & r]), 255 * (1 - dd[cov & r])], 1)
    b = dd < 0
    img[cov & b] = np.stack([255 * (1 + dd[cov & b]), 255 * (1 + dd[cov & b]), np.full((cov & b).sum(), 255)], 1)
    tiles.append(np.kron(img, np.ones((3, 3, 1), np.uint8)))
io.write_png(os.environ.get("NC_OUT", "/tmp") + f"/diff{i}.png", np.concatenate(tiles, 1))
