import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from econ_fast.pipeline import subdivide

def phong_subdivide(mesh, alpha=1.0):
    """midpoint subdivision, midpoints lifted by Phong tessellation (Boubekeur & Alexa 2008)"""
    out = subdivide(mesh)
    edges, fe, _ = mesh.edges()
    V = mesh.n_vertices
    n = mesh.vertex_normals("angle")
    a = mesh.vertices[edges[:, 0]].astype(np.float64); b = mesh.vertices[edges[:, 1]].astype(np.float64)
    m = 0.5 * (a + b)
    na, nb = n[edges[:, 0]], n[edges[:, 1]]
    pa = m - ((m - a) * na).sum(1, keepdims=True) * na
    pb = m - ((m - b) * nb).sum(1, keepdims=True) * nb
    q = (1 - alpha) * m + alpha * 0.5 * (pa + pb)
    v = out.vertices.copy(); v[V:] = q
    return Mesh(v, out.faces)

def side_of(d, mode="mid", thres=0.02, lab="ours"):
    body = Mesh(d["body_v"], d["body_f"])
    if mode == "mid": sm = subdivide(body)
    elif mode == "none": sm = body
    elif mode.startswith("phong") and mode != "phong2": sm = phong_subdivide(body, float(mode[5:] or 1.0))
    elif mode == "phong2": sm = phong_subdivide(phong_subdivide(body))
    elif mode == "mid2": sm = subdivide(subdivide(body))
    elif mode.startswith("ad"): sm = split_long_edges(body, float(mode[2:]))
    elif mode.startswith("ma"): sm = split_long_edges(subdivide(body), float(mode[2:]))
    sm = sm.remove_unreferenced_vertices()
    P = parts(d, lab)
    target = Mesh.concatenate(P[:2])
    tq = MeshQuery(target.vertices, target.faces)
    near = np.asarray(tq.within(sm.vertices, float(thres)), bool)
    keep = ~near[sm.faces].any(1)
    return sm.submesh(keep)

def hidden_cull(side, front, back, margin=0.0, rule="any"):
    """drop side faces whose vertices are occluded from both cameras by the d-BiNI sheets
    (a front-sheet hit along +z and a back-sheet hit along -z, each beyond margin)"""
    v = side.vertices.astype(np.float32)
    qf = MeshQuery(front.vertices, front.faces); qb = MeshQuery(back.vertices, back.faces)
    up = np.tile(np.array([[0, 0, 1]], np.float32), (len(v), 1))
    hf = np.isfinite(np.asarray(qf.ray_cast(v, up, tmin=margin).t))
    hb = np.isfinite(np.asarray(qb.ray_cast(v, -up, tmin=margin).t))
    hid = hf & hb
    bad = hid[side.faces].any(1) if rule == "any" else hid[side.faces].all(1)
    return side.submesh(~bad)

def split_long_edges(mesh, L, max_iter=8):
    """conforming refinement: split every edge longer than L at its midpoint, repeat"""
    v = mesh.vertices.astype(np.float64); f = mesh.faces.astype(np.int64)
    for _ in range(max_iter):
        m = Mesh(v, f)
        edges, fe, _ = m.edges()
        ln = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
        sp = ln > L
        if not sp.any(): break
        newid = np.full(len(edges), -1, np.int64)
        newid[sp] = len(v) + np.arange(sp.sum())
        v = np.concatenate([v, 0.5 * (v[edges[sp, 0]] + v[edges[sp, 1]])])
        a, b, c = f[:, 0], f[:, 1], f[:, 2]
        mab, mbc, mca = newid[fe[:, 0]], newid[fe[:, 1]], newid[fe[:, 2]]
        pat = (mab >= 0) * 1 + (mbc >= 0) * 2 + (mca >= 0) * 4
        out = []
        def add(sel, *tris):
            for t in tris: out.append(np.stack([x[sel] for x in t], 1))
        add(pat == 0, (a, b, c))
        add(pat == 1, (a, mab, c), (mab, b, c))
        add(pat == 2, (a, b, mbc), (a, mbc, c))
        add(pat == 4, (a, b, mca), (mca, b, c))
        add(pat == 3, (mab, b, mbc), (a, mab, mbc), (a, mbc, c))
        add(pat == 6, (mbc, c, mca), (a, b, mbc), (a, mbc, mca))
        add(pat == 5, (a, mab, mca), (mab, b, c), (mab, c, mca))
        add(pat == 7, (a, mab, mca), (mab, b, mbc), (mca, mbc, c), (mab, mbc, mca))
        f = np.concatenate(out)
    return Mesh(v, f)
