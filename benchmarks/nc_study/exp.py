import os
# run variants on cached people; variants defined in VARIANTS; results appended to jsonl
import sys, json, importlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from econ_fast import poisson as P
from econ_fast.meshops import keep_largest, decimate

def soup_of(parts_):
    soup = Mesh.concatenate([Mesh(p.vertices.astype(np.float64), p.faces) for p in parts_ if p.n_faces])
    n = soup.vertex_normals("angle")
    src = np.concatenate([np.full(p.n_vertices, k) for k, p in enumerate(parts_) if p.n_faces])
    ok = np.linalg.norm(n, axis=1) > 0
    return soup.vertices[ok], n[ok], src[ok]

def finish(m, dec=True):
    m = keep_largest(m)
    if dec and m.n_faces > 50000:
        m = decimate(m, 50000, backend="native")
    return m

def native(pts, nrm, conf=None, pw=1.5, spn=2.5, **kw):
    return P.reconstruct(pts, nrm, depth=10, point_weight=pw, samples_per_node=spn, scale=1.1, confidence=conf, **kw).mesh

def run(variant, ids, out, n=10000, extra=None):
    f = VARIANTS[variant]
    for i in ids:
        d = load(i); g = gt(d)
        m = f(d)
        r = ev(m, g, n)
        rec = dict(i=i, g=str(d["garment"]), v=variant, cd=r[0], p2s=r[1], nc=r[2], n=n)
        if extra: rec.update(extra)
        with open(out, "a") as fh: fh.write(json.dumps(rec) + "\n")

def v_base(d):
    pts, nrm, src = soup_of(parts(d, "ours")); return finish(native(pts, nrm))
def v_o3d(d):
    return close(parts(d, "ours"), "open3d")
def mk_sideconf(c):
    def f(d):
        pts, nrm, src = soup_of(parts(d, "ours"))
        conf = np.where(src == 2, c, 1.0)
        return finish(native(pts, nrm, conf))
    return f
VARIANTS = {"base": v_base, "o3d": v_o3d, "ref": lambda d: close(parts(d, "ref"), "open3d")}
# The pipeline as it is now (one Poisson density group per soup part, PipelineConfig.poisson_density_groups)
# and the same without the groups; "base" above calls the Poisson directly, without groups.
VARIANTS["groups"] = lambda d: close(parts(d, "ours"), "native")
VARIANTS["nogroups"] = lambda d: close(parts(d, "ours"), "native", poisson_density_groups=False)
def mk_groups_pw(pw, spn):
    return lambda d: close(parts(d, "ours"), "native", point_weight=pw, samples_per_node=spn)
for pw, spn in ((2.0, 2.5), (1.5, 2.0), (2.0, 2.0), (1.0, 2.5), (1.5, 3.0), (2.0, 1.5)):
    VARIANTS[f"groups_pw{pw}_spn{spn}"] = mk_groups_pw(pw, spn)
VARIANTS["sidenob"] = mk_sideconf(0.999)
def mk_side(mode, be="native"):
    def f(d):
        from side import side_of
        P = parts(d, "ours"); P[2] = side_of(d, mode)
        if be == "open3d": return close(P, "open3d")
        pts, nrm, src = soup_of(P); return finish(native(pts, nrm))
    return f
def mk_hid(margin, rule="any", be="native"):
    def f(d):
        from side import hidden_cull
        P = parts(d, "ours"); P[2] = hidden_cull(P[2], P[0], P[1], margin, rule)
        if be == "open3d": return close(P, "open3d")
        pts, nrm, src = soup_of(P); return finish(native(pts, nrm))
    return f
for mg in (0.0, 0.01, 0.02):
    for rule in ("any", "all"):
        VARIANTS[f"hid{mg}{rule}"] = mk_hid(mg, rule)
        VARIANTS[f"o3dhid{mg}{rule}"] = mk_hid(mg, rule, "open3d")
for mode in ("mid", "none", "phong", "phong0.5", "phong2", "mid2", "ad0.01", "ma0.015", "ad0.015", "ma0.02"):
    VARIANTS["side_" + mode] = mk_side(mode)
    VARIANTS["o3dside_" + mode] = mk_side(mode, "open3d")
def mk_pw(pw, spn):
    def f(d):
        pts, nrm, src = soup_of(parts(d, "ours")); return finish(native(pts, nrm, pw=pw, spn=spn))
    return f
for pw, spn in ((2.0, 1.5), (1.0, 2.5), (1.5, 1.5), (2.0, 2.5), (3.0, 2.5), (3.0, 1.5), (1.5, 3.0), (1.5, 3.75), (1.5, 2.0), (2.0, 2.0), (1.5, 1.67), (2.0, 1.67)):
    VARIANTS[f"pw{pw}_spn{spn}"] = mk_pw(pw, spn)
for c in (0.5, 0.25):
    VARIANTS[f"sideconf{c}"] = mk_sideconf(c)

if __name__ == "__main__":
    ids = list(range(*map(int, sys.argv[2].split(":"))))
    tag = sys.argv[4] if len(sys.argv) > 4 else ""
    for v in sys.argv[1].split(","):
        run(v, ids, sys.argv[3], extra={"build": tag})
        print(v, "done", flush=True)
