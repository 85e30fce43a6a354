import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
import exp
from econ_fast import poisson as PP
for i in map(int, sys.argv[1].split(",")):
    d = load(i); P = parts(d, "ours"); pts, nrm, src = exp.soup_of(P)
    r = PP.reconstruct(pts, nrm, depth=10, point_weight=1.5, samples_per_node=2.5, scale=1.1, _debug=True)
    lev = np.asarray(r.frame["sample_level"])
    h = lambda m: np.bincount(lev[m], minlength=11)[5:]
    print(i, os.environ.get("EF_LFAC"), "faces", r.mesh.n_faces, "finest", r.finest_level, "sheet lv", h(src < 2), "side lv", h(src == 2))
