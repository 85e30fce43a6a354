# SPDX-License-Identifier: Apache-2.0
"""Tests of the numpy/scipy d-BiNI oracle (econ_fast/reference/dbini_ref.py) against closed forms.

The oracle must be right before the native solver is compared to it, so these tests check it
against ground truth (tests/cases.py), an independent closed-form assembly of the system
(ECON_SPEC 2.5), and its own contracts (energy, symmetry, gauge, units). Tolerances are the
measured errors with a margin (measured values in comments, 2-core CPU, scipy 1.17).
"""
import importlib
import importlib.util
import pathlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.ndimage import binary_erosion

import cases

try:
    R = importlib.import_module("econ_fast.reference.dbini_ref")
except ImportError:
    # econ_fast/__init__.py imports the native extension; the oracle is pure Python and must be
    # testable without a build, so load the file directly when the package import fails.
    _path = pathlib.Path(__file__).resolve().parents[1] / "econ_fast" / "reference" / "dbini_ref.py"
    _spec = importlib.util.spec_from_file_location("_econ_fast_dbini_ref", _path)
    R = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = R
    _spec.loader.exec_module(R)


# --------------------------------------------------------------------------------------------
# Ground-truth recovery
# --------------------------------------------------------------------------------------------

def test_plane_recovers_depth():
    c = cases.plane(48, 40, slope=(0.3, -0.2))
    out = R.solve_ref(c["normals"])
    assert out["depth"].shape == (48, 40)
    assert np.array_equal(out["mask"], c["mask"])
    err = cases.depth_error(out["depth"], c["depth_gt"])
    assert err < 2e-3, err                       # measured 2.3e-4 (64x64)
    assert out["converged"]


def test_sphere_cap_recovers_depth():
    c = cases.sphere_cap(64, 64)
    out = R.solve_ref(c["normals"], mask=c["mask"])
    err = cases.depth_error(out["depth"], c["depth_gt"], c["mask"])
    assert err < 0.03, err                       # measured 0.0106 px
    assert np.all(np.isnan(out["depth"][~c["mask"]]))


def test_default_mask_is_finite_nonzero_normals():
    c = cases.sphere_cap(32, 32)
    n = c["normals"].copy()
    n[0, 0] = np.nan                             # outside the disk anyway
    out = R.solve_ref(n)
    assert np.array_equal(out["mask"], c["mask"])


def _region_error(depth, c):
    """Mean abs error with a free offset per planar region, excluding a 1-px band at the jumps."""
    errs = []
    e = depth - c["depth_gt"]
    for lab in np.unique(c["labels"]):
        core = binary_erosion(c["labels"] == lab, iterations=1, border_value=1)
        errs.append(np.abs(e[core] - np.median(e[core])))
    a = np.concatenate(errs)
    return a.mean(), (a < 0.5).mean()


def test_steps_keep_discontinuities():
    # From normals alone the height of a jump that separates two regions is undetermined, so the
    # error is measured per region (free offset each). k = 0 is plain least squares (w = 0.5).
    c = cases.steps(64, 64)
    bini = R.solve_ref(c["normals"], k=4.0)
    ls = R.solve_ref(c["normals"], k=0.0)
    e_bini, good_bini = _region_error(bini["depth"], c)
    e_ls, good_ls = _region_error(ls["depth"], c)
    # measured: d-BiNI 0.157 px (92% of pixels within 0.5 px), least squares 1.73 px (18%)
    assert e_bini < 0.3, e_bini
    assert e_bini < 0.25 * e_ls, (e_bini, e_ls)
    assert good_bini > 0.85 and good_ls < 0.4, (good_bini, good_ls)


def test_perspective_sphere_up_to_scale():
    c = cases.sphere_perspective(64, 64)
    out = R.solve_ref(c["normals"], mask=c["mask"], K=c["K"])
    d = out["depth"]
    assert np.all(d[c["mask"]] > 0)
    rel = cases.depth_error(d, c["depth_gt"], align="scale") / np.nanmean(c["depth_gt"])
    assert rel < 2e-3, rel                       # measured 3.5e-4
    # no prior: gauge = mean front log-depth 0
    assert abs(np.mean(np.log(d[c["mask"]]))) < 1e-9


def test_perspective_prior_fixes_scale_and_depth_scale():
    c = cases.sphere_perspective(48, 48)
    gt = c["depth_gt"]
    prior = np.where(np.arange(48)[None, :] < 30, gt, np.nan)     # prior on part of the mask
    out = R.solve_ref(c["normals"], prior, c["mask"], K=c["K"])
    rel = cases.depth_error(out["depth"], gt, align="none") / np.nanmean(gt)
    assert rel < 2e-3, rel
    out2 = R.solve_ref(c["normals"], prior * 1e-3, c["mask"], K=c["K"], depth_scale=1e3)
    np.testing.assert_allclose(out2["depth"] * 1e3, out["depth"], rtol=1e-7)


def test_two_sided_with_prior():
    c = cases.two_sided(96, 96)
    out = R.solve_ref(c["normals"], c["body_depth"], c["mask"])
    d, gt, p, m = out["depth"], c["depth_gt"], c["body_depth"], c["mask"]
    assert d.shape == (2, 96, 96)
    shape_err = cases.depth_error(d, gt)
    assert np.all(shape_err < 0.2), shape_err    # measured 0.096 px per side
    for s in range(2):
        # with the shape fixed by the normals, the prior sets the offset to mean_M(prior - gt)
        M = m & np.isfinite(p[s])
        expected = np.mean((p[s] - gt[s])[M])
        got = np.median((d[s] - gt[s])[m])
        assert abs(got - expected) < 0.1, (s, got, expected)   # measured 0.004 px apart
        assert np.mean(np.abs(d[s] - gt[s])[m]) < 5.0          # body 0-4 px inside: measured 3.97
    interior = m & ~R.boundary_mask(m)
    assert np.all(d[0][interior] < d[1][interior])
    assert out["converged"]


def test_depth_scale_round_trip_two_sided():
    c = cases.two_sided(48, 48)
    a = R.solve_ref(c["normals"], c["body_depth"], c["mask"])
    b = R.solve_ref(c["normals"], c["body_depth"] / 256.0, c["mask"], depth_scale=256.0)
    np.testing.assert_allclose(b["depth"] * 256.0, a["depth"], atol=1e-6)
    assert a["iterations"] == b["iterations"]


def test_no_prior_gauge_two_sided():
    c = cases.random_mask(32, 32, seed=3, two_sided=True)
    out = R.solve_ref(c["normals"], None, c["mask"])
    assert abs(np.mean(out["depth"][0][c["mask"]])) < 1e-9


# --------------------------------------------------------------------------------------------
# IRLS / CG contracts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["steps", "two_sided", "random"])
def test_energy_does_not_increase(name):
    if name == "steps":
        c = cases.steps(48, 48)
        out = R.solve_ref(c["normals"])
    elif name == "two_sided":
        c = cases.two_sided(64, 64)
        out = R.solve_ref(c["normals"], c["body_depth"], c["mask"], k=2.0)
    else:
        c = cases.random_mask(40, 40, seed=1, two_sided=True)
        out = R.solve_ref(c["normals"], c["body_depth"], c["mask"])
    E = np.asarray(out["energy"])
    assert len(E) == out["iterations"] + 1
    assert E[1] < E[0]
    # after the first iteration: non-increasing up to rounding (measured worst +1.6e-10 relative)
    assert np.all(np.diff(E[1:]) <= 1e-8 * E[1:-1]), np.diff(E[1:]) / E[1:-1]
    assert out["cg_iterations"] == sum(out["cg_per_iter"]) > 0
    assert out["cg_per_iter"][0] > 0
    assert len(out["cg_per_iter"]) == out["iterations"]


def _jacobi_pcg(A, b, x, rtol, maxiter):
    """Plain Jacobi PCG with scipy's stopping rule (||r|| < rtol ||b||, checked before a step)."""
    dinv = 1.0 / np.maximum(A.diagonal(), 1e-5)
    r = b - A @ x
    steps, p, rho_old = 0, None, None
    while steps < maxiter and np.linalg.norm(r) >= rtol * np.linalg.norm(b):
        zr = dinv * r
        rho = r @ zr
        p = zr if p is None else zr + (rho / rho_old) * p
        q = A @ p
        alpha = rho / (p @ q)
        x = x + alpha * p
        r = r - alpha * q
        rho_old = rho
        steps += 1
    return x, steps


def test_first_solve_is_jacobi_pcg_from_zero():
    c = cases.sphere_cap(40, 40)
    m = c["mask"]
    out = R.solve_ref(c["normals"], mask=m, max_iter=1)
    prob = R.setup_problem(c["normals"], mask=m)
    S, rhs = R.build_system(prob, np.full((1, prob.n), 0.5), np.full((1, prob.n), 0.5))
    x, steps = _jacobi_pcg(S, rhs, np.zeros(prob.n), 1e-3, 5000)
    assert abs(out["cg_per_iter"][0] - steps) <= 1, (out["cg_per_iter"], steps)
    np.testing.assert_allclose(out["depth"][m], x - x.mean(), atol=1e-8)


def test_initial_energy_includes_empty_rows_and_prior():
    c = cases.random_mask(24, 24, seed=2, two_sided=True)
    out = R.solve_ref(c["normals"], c["body_depth"], c["mask"], max_iter=1)
    m = c["mask"]
    E0 = 0.0
    for s in range(2):
        n = c["normals"][s][m].astype(np.float64)
        # E(z=0, W=0.5): every one of the 4N rows contributes 0.5*b^2, empty or not
        E0 += 0.5 * (2 * np.sum(n[:, 1] ** 2) + 2 * np.sum(n[:, 0] ** 2))
        p = c["body_depth"][s][m]
        E0 += 1e-4 * np.sum(p[np.isfinite(p)] ** 2)
    assert out["energy"][0] == pytest.approx(E0, rel=1e-12)
    assert out["iterations"] == 1 and len(out["energy"]) == 2


def test_max_iter_and_tol_semantics():
    c = cases.sphere_cap(32, 32)
    out = R.solve_ref(c["normals"], max_iter=2, tol=0.0)
    assert out["iterations"] == 2 and not out["converged"]
    out = R.solve_ref(c["normals"], max_iter=150, tol=1e-4)
    assert out["converged"] and out["iterations"] < 150
    E = out["energy"]
    assert abs(E[-1] - E[-2]) / E[-2] < 1e-4


# --------------------------------------------------------------------------------------------
# Operators and system assembly
# --------------------------------------------------------------------------------------------

def test_boundary_mask_small_cases():
    m = np.zeros((7, 8), dtype=bool)
    m[1:6, 1:6] = True        # 5x5 block: interior = 3x3 centre
    m[3, 7] = True            # isolated pixel touching the right border
    bd = R.boundary_mask(m)
    expect = m.copy()
    expect[2:5, 2:5] = False
    assert np.array_equal(bd, expect)
    # a plus shape: its centre has all four neighbours but no interior neighbour -> boundary
    p = np.zeros((5, 5), dtype=bool)
    p[2, 1:4] = True
    p[1:4, 2] = True
    assert np.array_equal(R.boundary_mask(p), p)
    # full image: pixels on the image border count as boundary
    f = np.ones((4, 5), dtype=bool)
    bf = R.boundary_mask(f)
    assert bf[0].all() and bf[-1].all() and bf[:, 0].all() and bf[:, -1].all()
    assert not bf[1:-1, 1:-1].any()


def test_operators_match_central_differences():
    # (forward + backward)/2 is a central difference: on a smooth surface the rows must match the
    # targets to O(h^2); a swapped axis or sign gives errors of the size of the slopes.
    c = cases.sphere_cap(64, 64)
    m = c["mask"]
    z = c["depth_gt"][m]
    cu, cv, bu, bv = R.normal_coefficients(c["normals"], m)
    A1, A2, A3, A4 = R.difference_operators(m, cu, cv)
    t, b, l, r = (h[m] for h in R.neighbour_masks(m))
    both_u, both_v = t & b, l & r
    eu = ((A1 @ z + A2 @ z) / 2 - bu)[both_u]
    ev = ((A3 @ z + A4 @ z) / 2 - bv)[both_v]
    assert np.abs(eu).max() < 1e-2 and np.abs(ev).max() < 1e-2   # measured 2.2e-3
    assert np.abs(bu[both_u]).max() > 0.5        # the test is not vacuous
    # empty rows where the neighbour is missing
    assert np.all((A1 @ np.ones(m.sum()))[~t] == 0) and A1[[np.flatnonzero(~t)[0]]].nnz == 0


def test_back_side_and_perspective_conventions():
    # back maps: same formula, pixel-aligned with the front, depth away from the front camera
    c = cases.two_sided(96, 96)
    m = c["mask"]
    inner = binary_erosion(m, iterations=12)
    for s in range(2):
        z = c["depth_gt"][s][m]
        cu, cv, bu, bv = R.normal_coefficients(c["normals"][s], m)
        A1, A2, A3, A4 = R.difference_operators(m, cu, cv)
        sel = inner[m]
        assert np.abs(((A1 @ z + A2 @ z) / 2 - bu)[sel]).max() < 0.01
        assert np.abs(((A3 @ z + A4 @ z) / 2 - bv)[sel]).max() < 0.01
    # perspective: unknown is log-depth (fy != fx so that swapped coefficients are caught)
    c = cases.sphere_perspective(64, 64, aspect=1.3)
    m = binary_erosion(c["mask"], iterations=3)
    t = np.log(c["depth_gt"][m])
    cu, cv, bu, bv = R.normal_coefficients(c["normals"], m, c["K"])
    A1, A2, A3, A4 = R.difference_operators(m, cu, cv)
    tb, bb, lb, rb = (h[m] for h in R.neighbour_masks(m))
    assert np.abs(((A1 @ t + A2 @ t) / 2 - bu)[tb & bb]).max() < 0.01
    assert np.abs(((A3 @ t + A4 @ t) / 2 - bv)[lb & rb]).max() < 0.01


def _closed_form_system(normals, body_depth, mask, wu, wv, lam_d, lam_b):
    """Independent dense assembly from ECON_SPEC 2.5 (per half-edge contributions), orthographic,
    coefficients taken straight from the world-frame normals."""
    H, W = mask.shape
    idx = np.full((H, W), -1)
    idx[mask] = np.arange(mask.sum())
    N = int(mask.sum())
    Kd = np.zeros((2 * N, 2 * N))
    rhs = np.zeros(2 * N)
    for s in range(2):
        o = s * N
        for i, j in zip(*np.nonzero(mask)):
            p = idx[i, j]
            nx, ny, nz = normals[s, i, j].astype(np.float64)
            c = -nz                                             # n_z in ECON's camera frame
            rows = [(-1, 0, True, wu[s, p], -ny),               # A1 top,    beta = -n_x^cam
                    (1, 0, False, 1 - wu[s, p], -ny),           # A2 bottom
                    (0, 1, True, wv[s, p], -nx),                # A3 right,  beta = -n_y^cam
                    (0, -1, False, 1 - wv[s, p], -nx)]          # A4 left
            for di, dj, forward, w, beta in rows:
                ii, jj = i + di, j + dj
                if not (0 <= ii < H and 0 <= jj < W and mask[ii, jj]):
                    continue
                q = idx[ii, jj]
                Kd[o + p, o + p] += w * c * c
                Kd[o + q, o + q] += w * c * c
                Kd[o + p, o + q] -= w * c * c
                Kd[o + q, o + p] -= w * c * c
                sgn = 1.0 if forward else -1.0
                rhs[o + q] += sgn * w * c * beta
                rhs[o + p] -= sgn * w * c * beta
            if np.isfinite(body_depth[s, i, j]):
                Kd[o + p, o + p] += lam_d
                rhs[o + p] += lam_d * body_depth[s, i, j]
    for p in idx[R.boundary_mask(mask)]:
        Kd[p, p] += lam_b
        Kd[N + p, N + p] += lam_b
        Kd[p, N + p] -= lam_b
        Kd[N + p, p] -= lam_b
    return Kd, rhs


def test_system_matches_closed_form_and_is_symmetric():
    c = cases.random_mask(14, 13, seed=5, two_sided=True)
    prob = R.setup_problem(c["normals"], c["body_depth"], c["mask"])
    rng = np.random.default_rng(0)
    wu = rng.uniform(0, 1, (2, prob.n))
    wv = rng.uniform(0, 1, (2, prob.n))
    S, rhs = R.build_system(prob, wu, wv, 1e-4, 0.3)
    assert sp.issparse(S) and S.shape == (2 * prob.n, 2 * prob.n)
    Sd = S.toarray()
    assert np.array_equal(Sd, Sd.T)                         # symmetric, bit for bit
    Kd, r = _closed_form_system(c["normals"], c["body_depth"], c["mask"], wu, wv, 1e-4, 0.3)
    np.testing.assert_allclose(Sd, Kd, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rhs, r, rtol=1e-12, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(Sd) > -1e-12)          # positive semi-definite


def test_energy_is_the_quadratic_of_the_system():
    # E(z) = z^T K z - 2 rhs^T z + E(0), E(0) = sum over all 4N rows of w b^2 + lambda_d sum p^2
    c = cases.random_mask(12, 15, seed=7, two_sided=True)
    prob = R.setup_problem(c["normals"], c["body_depth"], c["mask"])
    rng = np.random.default_rng(1)
    wu = rng.uniform(0, 1, (2, prob.n))
    wv = rng.uniform(0, 1, (2, prob.n))
    z = rng.normal(0.0, 3.0, 2 * prob.n)
    lam_d, lam_b = 1e-2, 0.7
    Kd, r = _closed_form_system(c["normals"], c["body_depth"], c["mask"], wu, wv, lam_d, lam_b)
    m = c["mask"]
    E0 = 0.0
    for s in range(2):
        n = c["normals"][s][m].astype(np.float64)
        E0 += np.sum((wu[s] + (1 - wu[s])) * n[:, 1] ** 2 + (wv[s] + (1 - wv[s])) * n[:, 0] ** 2)
        p = c["body_depth"][s][m]
        E0 += lam_d * np.sum(p[np.isfinite(p)] ** 2)
    expect = z @ Kd @ z - 2 * r @ z + E0
    got = R.energy(prob, z, wu, wv, lam_d, lam_b)
    assert got == pytest.approx(expect, rel=1e-10)


def test_human_pair_system_symmetric_and_solves():
    c = cases.human_pair(64, 64, seed=0)
    prob = R.setup_problem(c["normals"], c["body_depth"], c["mask"])
    S, _ = R.build_system(prob, np.full((2, prob.n), 0.5), np.full((2, prob.n), 0.5))
    assert (abs(S - S.T)).max() == 0
    out = R.solve_ref(c["normals"], c["body_depth"], c["mask"])
    assert out["converged"] and out["cg_iterations"] > 0
    assert np.isfinite(out["depth"][:, c["mask"]]).all()


def test_weights_pinned_next_to_missing_neighbours():
    c = cases.random_mask(40, 40, seed=0)
    m = c["mask"]
    t, b, l, r = R.neighbour_masks(m)
    out = R.solve_ref(c["normals"], mask=m, max_iter=3)
    assert np.all(out["wu"][m & ~(t & b)] == 0.5)
    assert np.all(out["wv"][m & ~(l & r)] == 0.5)
    assert np.all(np.isnan(out["wu"][~m]))
    free = R.solve_ref(c["normals"], mask=m, max_iter=3, pin_boundary_weights=False)
    assert np.any(free["wu"][m & ~(t & b)] != 0.5)


# --------------------------------------------------------------------------------------------
# Input validation and the cases themselves
# --------------------------------------------------------------------------------------------

def test_bad_shapes_raise():
    c = cases.sphere_cap(16, 16)
    n = c["normals"]
    with pytest.raises(ValueError, match="normals"):
        R.solve_ref(n[..., :2])
    with pytest.raises(ValueError, match="normals"):
        R.solve_ref(np.stack([n, n, n]))
    with pytest.raises(ValueError, match="mask"):
        R.solve_ref(n, mask=np.ones((16, 15), bool))
    with pytest.raises(ValueError, match="body_depth"):
        R.solve_ref(n, body_depth=np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="K"):
        R.solve_ref(n, K=np.eye(2))
    with pytest.raises(ValueError, match="depth_scale"):
        R.solve_ref(n, depth_scale=0.0)
    bad = n.copy()
    bad[8, 8] = np.nan
    with pytest.raises(ValueError, match="finite"):
        R.solve_ref(bad, mask=c["mask"])
    with pytest.raises(ValueError, match="positive"):
        R.solve_ref(n, body_depth=np.full((16, 16), -1.0), K=np.diag([16.0, 16.0, 1.0]))


def test_human_pair_case_properties():
    c = cases.human_pair(128, 128, seed=1, noise=0.02)
    m, g, n = c["mask"], c["depth_gt"], c["normals"]
    assert n.shape == (2, 128, 128, 3) and n.dtype == np.float32
    assert np.all(n[:, ~m] == 0)
    assert np.all(n[0][m][:, 2] > 0) and np.all(n[1][m][:, 2] < 0)
    assert np.all(g[0][m] < g[1][m]) and np.all(np.isnan(g[:, ~m]))
    bm = c["body_mask"]
    assert np.all(m[bm]) and bm.sum() < m.sum()
    assert np.all(c["body_depth"][0][bm] > g[0][bm]) and np.all(c["body_depth"][1][bm] < g[1][bm])
    rows = np.flatnonzero(m.any(1))
    assert 0.85 * 128 <= rows[-1] - rows[0] + 1 <= 0.95 * 128


def test_random_mask_is_awkward():
    from scipy import ndimage
    c = cases.random_mask(32, 32, seed=0)
    m = c["mask"]
    lab, n = ndimage.label(m)
    sizes = ndimage.sum(m, lab, range(1, n + 1))
    assert np.any(sizes == 1)                                  # one-pixel islands
    assert ndimage.label(~m)[1] > 1                            # holes
    assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()
    out = R.solve_ref(c["normals"], mask=m)                   # islands and lines do not break it
    assert np.isfinite(out["depth"][m]).all()
