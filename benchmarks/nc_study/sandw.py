import sys, os
sys.path.insert(0, os.environ["EF_ROOT"]); sys.path.insert(0, os.environ["EF_ROOT"] + "/benchmarks")
import numpy as np
import poisson_cases as pc
from econ_fast import poisson as PP
c = pc.make_case("sandwich")
ns = c.info["sheet_points"]
r = PP.reconstruct(c.points, c.normals, depth=10, point_weight=2.0, samples_per_node=1.5, scale=1.1, _debug=True)
lev = np.asarray(r.frame["sample_level"])
print(os.environ.get("EF_LMODE"), "sheet", np.bincount(lev[:ns], minlength=11)[5:], "side", np.bincount(lev[ns:], minlength=11)[5:], "faces", r.mesh.n_faces)
ch = pc.chamfer(r.mesh.vertices, r.mesh.faces, c)
print(ch)
