// SPDX-License-Identifier: Apache-2.0
// d-BiNI solver, written once for both backends. Included by dbini_cpu.cpp (thread pool) and
// dbini_cuda.cu (CUDA); everything here lands in namespace ef::cpu or ef::cuda.
//
// Unknowns: z[s * N + p] for side s in {0 = front, 1 = back} and masked pixel p (row-major order).
// Per pixel and side the orthographic half-edge rows are (ECON_SPEC section 2.2)
//   top    (A1):  cu_p (z_top - z_p)    - bu_p      weight  wu_p
//   bottom (A2):  cu_p (z_p - z_bottom) - bu_p      weight  1 - wu_p
//   right  (A3):  cv_p (z_right - z_p)  - bv_p      weight  wv_p
//   left   (A4):  cv_p (z_p - z_left)   - bv_p      weight  1 - wv_p
// with cu = cv = n_z^cam, bu = -n_x^cam, bv = -n_y^cam (orthographic), or the log-depth
// perspective coefficients of Cao et al. 2022 restated for OpenCV intrinsics (see dbini.py).
// The normal equations K z = rhs are never assembled: K is kept as a 5-point stencil per side
// (coupling to the top/bottom/left/right neighbour, diagonal) plus the front/back coupling on
// silhouette pixels, and applied matrix-free. The same stencil form holds on every level of the
// aggregation hierarchy used by the multigrid preconditioner (Galerkin coarsening with
// piecewise-constant prolongation of 2x2 blocks, as in unsmoothed aggregation AMG, e.g.
// Notay's AGMG papers), so one set of kernels serves all levels.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "../csrc/core/error.h"
#include "../csrc/core/parallel.h"
#include "dbini.h"
#include "grid.h"

namespace ef {
namespace EF_BACKEND {
namespace dbini_impl {

using ::ef::dbini::DType;
using ::ef::dbini::Grid;
using ::ef::dbini::Inputs;
using ::ef::dbini::Level;
using ::ef::dbini::Outputs;
using ::ef::dbini::Params;
using ::ef::dbini::Progress;
using ::ef::dbini::Report;
using ::ef::dbini::SolverKind;

// 1 / (1 + exp(-x)) as in the reference; IEEE overflow of exp gives exactly 0 for very negative x.
EF_INLINE double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
// exp in single precision without a library call (the fast solver's weights need ~7 digits; the
// libm call was a quarter of its CPU time): Cody and Waite's range reduction x = n ln2 + r with
// |r| <= ln2/2, a degree-6 Taylor polynomial for exp(r) (relative error < 2e-7), and 2^n built
// from the exponent bits. The input is clamped to [-87, 88], where 2^n stays a normal float.
EF_INLINE float exp_fast(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float y = x * 1.44269504f;
  const float n = (y + 12582912.0f) - 12582912.0f;  // round to nearest integer (|y| < 2^22)
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f + r * (8.33333377e-3f + r * 1.38888892e-3f)))));
  const int32_t bits = ((int32_t)n + 127) * (1 << 23);
  float scale;
  memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}
// Single-precision sigmoid for the fast solver.
EF_INLINE float sigmoid_ff(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
EF_INLINE double sigmoid_f(double x) { return (double)sigmoid_ff((float)x); }
EF_INLINE double sq(double x) { return x * x; }

// ---------------------------------------------------------------- stencil (any level)
// K = per-side 5-point stencil (coupling to top/bottom/left/right cell, diagonal) plus the
// front/back coupling -bnd on silhouette cells. T: coefficient type (double for the CG operator,
// float for the multigrid hierarchy).
template <class T>
struct Stencil {
  int64_t n;  // cells per side
  int S;      // sides
  // "Safe" neighbour indices: a missing neighbour points at the cell itself and has coefficient 0,
  // so applying the stencil needs no branch (0 * finite x adds exactly 0).
  const int32_t *sT, *sB, *sL, *sR;
  const T *cT, *cB, *cL, *cR, *diag;  // S * n
  const T* bnd;                       // n: lambda_boundary * (#silhouette pixels aggregated)

  template <class X>
  EF_FORCE_INLINE T neighbours(const X* x, int64_t i, int64_t p, int64_t base) const {
    return cT[i] * (T)x[base + sT[p]] + cB[i] * (T)x[base + sB[p]] + cL[i] * (T)x[base + sL[p]] +
           cR[i] * (T)x[base + sR[p]];
  }
  // (K x)[i]
  template <class X>
  EF_FORCE_INLINE T apply(const X* x, int64_t i) const {
    const int64_t s = i >= n ? 1 : 0, p = i - s * n, base = s * n;
    T y = diag[i] * (T)x[i] - neighbours(x, i, p, base);
    if (S == 2) y -= bnd[p] * (T)x[s ? p : n + p];
    return y;
  }
  // Neighbour sums of cell p on both sides, indices loaded once.
  template <class X>
  EF_FORCE_INLINE void neighbours_cell(const X* x, int64_t p, T& a0, T& a1) const {
    const int32_t t = sT[p], b = sB[p], l = sL[p], r = sR[p];
    a0 = cT[p] * (T)x[t] + cB[p] * (T)x[b] + cL[p] * (T)x[l] + cR[p] * (T)x[r];
    if (S == 2) {
      const int64_t q = n + p;
      a1 = cT[q] * (T)x[n + t] + cB[q] * (T)x[n + b] + cL[q] * (T)x[n + l] + cR[q] * (T)x[n + r];
    }
  }
  // (K x) at cell p on both sides (y1 untouched for one side): the neighbour indices are loaded
  // once for both sides, which is what makes the per-cell loops cheaper than per-element ones.
  template <class X>
  EF_FORCE_INLINE void apply_cell(const X* x, int64_t p, T& y0, T& y1) const {
    const int32_t t = sT[p], b = sB[p], l = sL[p], r = sR[p];
    const T x0 = (T)x[p];
    y0 = diag[p] * x0 - (cT[p] * (T)x[t] + cB[p] * (T)x[b] + cL[p] * (T)x[l] + cR[p] * (T)x[r]);
    if (S == 2) {
      const int64_t q = n + p;
      const T x1 = (T)x[q];
      y1 = diag[q] * x1 - (cT[q] * (T)x[n + t] + cB[q] * (T)x[n + b] + cL[q] * (T)x[n + l] + cR[q] * (T)x[n + r]);
      y0 -= bnd[p] * x1;
      y1 -= bnd[p] * x0;
    }
  }
};

// ---------------------------------------------------------------- setup
template <class T>
struct GatherOp {
  const T* normals;  // (S, H, W, 3)
  const T* prior;    // (S, H, W) or null
  const int32_t* pix;
  int64_t N, HW;
  int W;
  bool persp;
  double fx, fy, cx, cy, scale;
  // Normal coefficients are stored in float: exact for float32 normals under the orthographic
  // camera (they are the normal components), and they halve the traffic of the IRLS passes.
  float *cu, *cv, *bu, *bv;
  double* pr;
  uint8_t* hp;
  double lambda_depth;
  // Returns what the first iteration needs at z = 0, w = 1/2 (no extra pass): [0] ECON's E_0
  // (each cell's four rows give b_u^2 + b_v^2 whatever w, plus lambda * prior^2), [1 + 2s] the sum
  // of the prior and [2 + 2s] the prior count on side s (the first re-centring).
  EF_HD Sums<5> operator()(int64_t i) const {
    const int64_t s = i >= N ? 1 : 0, p = i - s * N;
    const int64_t q = pix[p];
    const T* nrm = normals + (s * HW + q) * 3;
    const double Nx = (double)nrm[0], Ny = (double)nrm[1], Nz = (double)nrm[2];
    double c_u, c_v;
    if (persp) {
      const double col = (double)(q % W), row = (double)(q / W);
      // n' . d with n' = (Nx, -Ny, -Nz) in the OpenCV camera frame, d = K^-1 [col, row, 1].
      const double sd = Nx * (col - cx) / fx - Ny * (row - cy) / fy - Nz;
      c_u = fy * sd;
      c_v = fx * sd;
    } else {
      c_u = -Nz;
      c_v = -Nz;
    }
    cu[i] = (float)c_u;
    cv[i] = (float)c_v;
    bu[i] = (float)-Ny;
    bv[i] = (float)-Nx;
    double v = 0.0;
    uint8_t has = 0;
    if (prior) {
      const double raw = (double)prior[s * HW + q];
      if (raw == raw && fabs(raw) <= 1.7976931348623157e308) {  // finite
        v = persp ? log(raw * scale) : raw * scale;
        has = 1;
      }
    }
    pr[i] = v;
    hp[i] = has;
    Sums<5> out;
    const double fbu = (double)(float)-Ny, fbv = (double)(float)-Nx;
    out[0] = fbu * fbu + fbv * fbv + (has ? lambda_depth * v * v : 0.0);
    if (has) {
      out[1 + 2 * s] = v;
      out[2 + 2 * s] = 1.0;
    }
    return out;
  }
};

// Counts invalid inputs inside the mask: [0] non-finite normal, [1] zero normal,
// [2] non-positive prior under a perspective camera.
template <class T>
struct CheckOp {
  const T* normals;
  const T* prior;
  const int32_t* pix;
  int64_t N, HW;
  bool persp;
  EF_HD Sums<3> operator()(int64_t i) const {
    Sums<3> r;
    const int64_t s = i >= N ? 1 : 0, p = i - s * N;
    const int64_t q = pix[p];
    const T* nrm = normals + (s * HW + q) * 3;
    const double a = (double)nrm[0], b = (double)nrm[1], c = (double)nrm[2];
    const double ss = a * a + b * b + c * c;
    if (!(ss == ss) || ss > 1.0e300) r[0] = 1.0;
    else if (ss == 0.0) r[1] = 1.0;
    if (prior && persp) {
      const double v = (double)prior[s * HW + q];
      if (v == v && !(v > 0.0)) r[2] = 1.0;
    }
    return r;
  }
};

// Level-0 stencil coefficients and right-hand side from the current weights (spec 2.5 step 1-2,
// in closed form), per cell for both sides. With `mg`, float copies feed the multigrid hierarchy.
struct FineCoefOp {
  int64_t N;
  int S;
  const int32_t *nT, *nB, *nL, *nR;
  const float *cu, *cv, *bu, *bv;
  const double *wu, *wv, *pr;
  const uint8_t* hp;    // prior present: the prior term's weight is lambda_depth there, else 0
  double lambda_depth;
  const double* bnd;
  double off0, off1;  // re-centring offsets added to z (each cell touches only its own z)
  double* z;
  double *cT, *cB, *cL, *cR, *diag, *dinv, *rhs;
  float *fT, *fB, *fL, *fR, *fdiag;  // null unless multigrid
  EF_HD void operator()(int64_t p) const {
    const int32_t qt = nT[p], qb = nB[p], ql = nL[p], qr = nR[p];
    for (int s = 0; s < 2; ++s) {  // bound 2 (not S) lets the compiler unroll
      if (s >= S) break;
      const int64_t base = s * N, i = base + p;
      z[i] += s ? off1 : off0;
      const double wup = wu[i], wvp = wv[i], cup = cu[i], cvp = cv[i], bup = bu[i], bvp = bv[i];
      // (neighbour values below are read as float and promoted)
      double t = 0, b = 0, l = 0, r = 0, f = 0;
      if (qt >= 0) {
        const int64_t j = base + qt;
        t = wup * cup * cup + (1.0 - wu[j]) * cu[j] * cu[j];
        f -= wup * cup * bup + (1.0 - wu[j]) * cu[j] * bu[j];
      }
      if (qb >= 0) {
        const int64_t j = base + qb;
        b = (1.0 - wup) * cup * cup + wu[j] * cu[j] * cu[j];
        f += wu[j] * cu[j] * bu[j] + (1.0 - wup) * cup * bup;
      }
      if (ql >= 0) {
        const int64_t j = base + ql;
        l = (1.0 - wvp) * cvp * cvp + wv[j] * cv[j] * cv[j];
        f += wv[j] * cv[j] * bv[j] + (1.0 - wvp) * cvp * bvp;
      }
      if (qr >= 0) {
        const int64_t j = base + qr;
        r = wvp * cvp * cvp + (1.0 - wv[j]) * cv[j] * cv[j];
        f -= wvp * cvp * bvp + (1.0 - wv[j]) * cv[j] * bv[j];
      }
      const double m = hp[i] ? lambda_depth : 0.0;
      f += m * pr[i];
      const double d = t + b + l + r + m + (S == 2 ? bnd[p] : 0.0);
      cT[i] = t;
      cB[i] = b;
      cL[i] = l;
      cR[i] = r;
      diag[i] = d;
      if (dinv) dinv[i] = 1.0 / (d > 1e-5 ? d : 1e-5);  // ECON's Jacobi preconditioner clip
      rhs[i] = f;
      if (fT) {
        fT[i] = (float)t;
        fB[i] = (float)b;
        fL[i] = (float)l;
        fR[i] = (float)r;
        fdiag[i] = (float)d;
      }
    }
  }
};

// The n_z-scaled one-sided differences A1..A4 z of one cell (0 where the neighbour is missing).
struct Diffs {
  double a1, a2, a3, a4;
};
// Energy of one cell (ECON's, including the constant w * b^2 of rows whose neighbour is missing,
// the prior term and, on the front side, the silhouette term).
EF_INLINE double cell_energy(const Diffs& d, double wu, double wv, double bu, double bv, double mass,
                             double zp, double prior, double bnd_zdiff2) {
  return wu * sq(d.a1 - bu) + (1.0 - wu) * sq(d.a2 - bu) + wv * sq(d.a3 - bv) +
         (1.0 - wv) * sq(d.a4 - bv) + mass * sq(zp - prior) + bnd_zdiff2;
}

// IRLS weight update (Cao et al. 2022, eq. 9) from the n_z-scaled one-sided differences, fused with
// the energy at the new weights (spec 2.5 steps 7-8); per cell, both sides.
struct WeightEnergyOp {
  int64_t N;
  int S;
  const int32_t *sT, *sB, *sL, *sR;  // safe indices: a missing neighbour is the cell itself
  const float *cu, *cv, *bu, *bv;
  const double *z, *pr, *bnd;
  double lambda_depth;
  const uint8_t* hp;
  double k;
  bool pin;
  bool fast_exp;     // single-precision sigmoid (fast solver)
  double *wu, *wv;
  // One-sided differences of cell p on side s. A missing neighbour is the cell itself, so its
  // difference is exactly 0 (ECON's empty row).
  EF_INLINE Diffs diffs_at(int64_t p, int s, int32_t t, int32_t b, int32_t l, int32_t r) const {
    const int64_t base = s * N, i = base + p;
    const double zp = z[i], c_u = cu[i], c_v = cv[i];
    Diffs d;
    d.a1 = c_u * (z[base + t] - zp);
    d.a2 = c_u * (zp - z[base + b]);
    d.a3 = c_v * (z[base + r] - zp);
    d.a4 = c_v * (zp - z[base + l]);
    return d;
  }
  // Sigmoid arguments of the two axes.
  EF_INLINE double arg_u(const Diffs& d) const { return k * (d.a2 * d.a2 - d.a1 * d.a1); }
  EF_INLINE double arg_v(const Diffs& d) const { return k * (d.a4 * d.a4 - d.a3 * d.a3); }
  // Stores the new weights of cell p, side s, and adds its energy and re-centring sums to `out`.
  EF_INLINE void finish(int64_t p, int s, const Diffs& d, double u, double v, Sums<5>& out) const {
    const int64_t i = s * N + p;
    const double zp = z[i];
    wu[i] = u;
    wv[i] = v;
    const double bz = (S == 2 && s == 0) ? bnd[p] * sq(z[N + p] - zp) : 0.0;
    const double h = hp[i] ? 1.0 : 0.0;
    out[0] += cell_energy(d, u, v, bu[i], bv[i], h * lambda_depth, zp, pr[i], bz);
    out[1 + 2 * s] += h * (pr[i] - zp);
    out[2 + 2 * s] += h;
  }

  // [0] energy, [1 + 2s] sum of (prior - z) and [2 + 2s] prior count on side s: the next
  // iteration's re-centring (ECON_SPEC 2.5 step 3) comes for free with this pass.
  EF_HD Sums<5> operator()(int64_t p) const {
    Sums<5> out;
    const int32_t t = sT[p], b = sB[p], l = sL[p], r = sR[p];
    // ECON pins both weights of an axis to 0.5 where a neighbour on that axis is missing.
    const bool pin_u = pin && (t == p || b == p), pin_v = pin && (l == p || r == p);
    for (int s = 0; s < 2; ++s) {
      if (s >= S) break;
      const Diffs d = diffs_at(p, s, t, b, l, r);
      const double xu = arg_u(d), xv = arg_v(d);
      const double u = pin_u ? 0.5 : (fast_exp ? sigmoid_f(xu) : sigmoid(xu));
      const double v = pin_v ? 0.5 : (fast_exp ? sigmoid_f(xv) : sigmoid(xv));
      finish(p, s, d, u, v, out);
    }
    return out;
  }

#if !EF_BACKEND_IS_CUDA
  // CPU launcher for a range of cells (used by Reducer::sum when present): the same element
  // functions in three loops, so that the single-precision sigmoids (most of this pass) run in a
  // loop the compiler vectorises. Results equal operator() summed in cell order.
  Sums<5> chunk(int64_t lo, int64_t hi) const {
    Sums<5> acc;
    if (!fast_exp) {
      for (int64_t p = lo; p < hi; ++p) acc += (*this)(p);
      return acc;
    }
    constexpr int kB = 128;
    float xw[4 * kB], sg[4 * kB];
    for (int64_t c0 = lo; c0 < hi; c0 += kB) {
      const int m = (int)(hi - c0 < kB ? hi - c0 : kB);
      for (int j = 0; j < m; ++j) {
        const int64_t p = c0 + j;
        const int32_t t = sT[p], b = sB[p], l = sL[p], r = sR[p];
        for (int s = 0; s < 2; ++s) {
          if (s >= S) break;
          const Diffs d = diffs_at(p, s, t, b, l, r);
          xw[4 * j + 2 * s] = (float)arg_u(d);
          xw[4 * j + 2 * s + 1] = (float)arg_v(d);
        }
      }
      for (int j = 0; j < 4 * m; ++j) sg[j] = sigmoid_ff(xw[j]);
      for (int j = 0; j < m; ++j) {
        const int64_t p = c0 + j;
        const int32_t t = sT[p], b = sB[p], l = sL[p], r = sR[p];
        const bool pin_u = pin && (t == p || b == p), pin_v = pin && (l == p || r == p);
        Sums<5> out;
        for (int s = 0; s < 2; ++s) {
          if (s >= S) break;
          const Diffs d = diffs_at(p, s, t, b, l, r);
          finish(p, s, d, pin_u ? 0.5 : (double)sg[4 * j + 2 * s], pin_v ? 0.5 : (double)sg[4 * j + 2 * s + 1],
                 out);
        }
        acc += out;
      }
    }
    return acc;
  }
#endif
};

struct AddPerSideOp {
  int64_t N;
  double off0, off1;
  double* z;
  EF_HD void operator()(int64_t i) const { z[i] += i >= N ? off1 : off0; }
};

struct SumOp {
  const double* z;
  EF_HD double operator()(int64_t i) const { return z[i]; }
};

template <class T>
struct FillOp {
  T v;
  T* x;
  EF_HD void operator()(int64_t i) const { x[i] = v; }
};

struct MassOp {  // prior weight per cell and side, for the multigrid hierarchy's Galerkin sums
  float lambda;
  const uint8_t* hp;
  float* mass;
  EF_HD void operator()(int64_t i) const { mass[i] = hp[i] ? lambda : 0.0f; }
};

// ---------------------------------------------------------------- CG pieces
struct InitResidualOp {  // r = b - K x per cell; returns [b.b, r.Dinv.r]
  Stencil<double> A;
  const double *b, *x, *dinv;
  double* r;
  EF_HD Sums<2> operator()(int64_t p) const {
    double y[2] = {0, 0};
    A.apply_cell(x, p, y[0], y[1]);
    Sums<2> o;
    for (int s = 0; s < A.S; ++s) {
      const int64_t i = s * A.n + p;
      const double ri = b[i] - y[s];
      r[i] = ri;
      o[0] += b[i] * b[i];
      if (dinv) o[1] += ri * ri * dinv[i];
    }
    return o;
  }
};

struct UpdateOp {  // x += a p; r -= a q; returns [r.r, r.Dinv.r]
  double alpha;
  const double *p, *q, *dinv;
  double *x, *r;
  EF_HD Sums<2> operator()(int64_t i) const {
    x[i] += alpha * p[i];
    const double ri = r[i] - alpha * q[i];
    r[i] = ri;
    Sums<2> o;
    o[0] = ri * ri;
    if (dinv) o[1] = ri * ri * dinv[i];
    return o;
  }
};

struct MatvecDotOp {  // q = K p per cell; returns p.q
  Stencil<double> A;
  const double* p;
  double* q;
  EF_HD double operator()(int64_t c) const {
    double y0 = 0, y1 = 0;
    A.apply_cell(p, c, y0, y1);
    q[c] = y0;
    double acc = p[c] * y0;
    if (A.S == 2) {
      q[A.n + c] = y1;
      acc += p[A.n + c] * y1;
    }
    return acc;
  }
};

struct JacobiDirOp {  // p = Dinv r + beta p
  double beta;
  const double *dinv, *r;
  double* p;
  EF_HD void operator()(int64_t i) const { p[i] = dinv[i] * r[i] + beta * p[i]; }
};

struct DirOp {  // p = z + beta p
  double beta;
  const float* z;
  double* p;
  EF_HD void operator()(int64_t i) const { p[i] = (double)z[i] + beta * p[i]; }
};

struct DotOp {
  const double* a;
  const float* b;
  EF_HD double operator()(int64_t i) const { return a[i] * (double)b[i]; }
};

EF_INLINE void block_inverse(int S, double d0, double d1, double c, float* i0, float* i1, float* io) {
  if (S == 2) {
    const double det = d0 * d1 - c * c;
    if (det > 1e-30 * (d0 * d1 > 0 ? d0 * d1 : 1.0) && det > 0) {
      *i0 = (float)(d1 / det);
      *i1 = (float)(d0 / det);
      *io = (float)(c / det);
      return;
    }
    *i1 = d1 > 0 ? (float)(1.0 / d1) : 0.0f;
    *io = 0.0f;
  }
  *i0 = d0 > 0 ? (float)(1.0 / d0) : 0.0f;
}

// ---------------------------------------------------------------- multigrid pieces (float)
// Block Gauss-Seidel on one colour; the 2x2 front/back block of a cell is solved exactly, so the
// sweep pair red-black (pre) / black-red (post) makes the V-cycle a symmetric preconditioner, as CG
// needs. `first`: the iterate is zero, neighbours are not read (saves zero-filling).
template <class TF>
struct GaussSeidelOp {
  Stencil<float> A;
  const int32_t* cells;
  const float *idiag, *ioff;  // inverse of the cell's (front, back) diagonal block
  const TF* f;
  float* x;
  bool first;
  EF_HD void operator()(int64_t k) const {
    const int64_t p = cells[k], n = A.n;
    float a0 = 0.0f, a1 = 0.0f;
    if (!first) A.neighbours_cell(x, p, a0, a1);
    const float s0 = (float)f[p] + a0;
    if (A.S == 2) {
      const float s1 = (float)f[n + p] + a1;
      x[p] = idiag[p] * s0 + ioff[p] * s1;
      x[n + p] = ioff[p] * s0 + idiag[n + p] * s1;
    } else {
      x[p] = idiag[p] * s0;
    }
  }
};

// Inverse of each cell's 2x2 (front, back) block [[d0, -c], [-c, d1]] (or 1/d for one side); a
// singular block (isolated cell without prior) gets the pseudo-inverse of its diagonal.
struct BlockInverseOp {
  int64_t n;
  int S;
  const float *diag, *bnd;
  float *idiag, *ioff;
  EF_HD void operator()(int64_t p) const {
    block_inverse(S, diag[p], S == 2 ? diag[n + p] : 0.0, bnd[p], &idiag[p], S == 2 ? &idiag[n + p] : nullptr,
                  &ioff[p]);
  }
};

// Coarse right-hand side = sum over the children of the fine residual f - A x (computed here,
// each child once, so no residual vector is stored). Only red children are visited: the
// pre-smoothing ends with a black half-sweep, after which the residual on black cells is zero
// (each black cell was just solved exactly given its red neighbours). In a 2x2 block the red
// children are always slots 0 and 3 (parity of row + column).
template <class TF>
struct ResidualRestrictOp {
  Stencil<float> A;  // fine
  int64_t nc;
  const int32_t* child;
  const TF* f;
  const float* x;
  float* fc;
  EF_HD void operator()(int64_t a) const {
    const int64_t nf = A.n;
    float acc0 = 0.0f, acc1 = 0.0f;
    for (int c = 0; c < 4; c += 3) {
      const int32_t q = child[4 * a + c];
      if (q >= 0) {
        float y0 = 0, y1 = 0;
        A.apply_cell(x, q, y0, y1);
        acc0 += (float)f[q] - y0;
        if (A.S == 2) acc1 += (float)f[nf + q] - y1;
      }
    }
    fc[a] = acc0;
    if (A.S == 2) fc[nc + a] = acc1;
  }
};

template <class TF>
struct LevelResidualOp {  // res = f - A x, per cell
  Stencil<float> A;
  const TF* f;
  const float* x;
  float* res;
  EF_HD void operator()(int64_t p) const {
    float y0 = 0, y1 = 0;
    A.apply_cell(x, p, y0, y1);
    res[p] = (float)f[p] - y0;
    if (A.S == 2) res[A.n + p] = (float)f[A.n + p] - y1;
  }
};

struct AxpyFloatOp {  // x += y
  const float* y;
  float* x;
  EF_HD void operator()(int64_t i) const { x[i] += y[i]; }
};

// x += omega * xc[parent] on red cells. Black cells need no correction: the post-smoothing starts
// with a black half-sweep, which overwrites them from their (corrected) red neighbours.
struct ProlongOp {
  int64_t nf, nc;
  int S;
  float omega;
  const int32_t *cells, *parent;
  const float* xc;
  float* x;
  EF_HD void operator()(int64_t k) const {
    const int64_t p = cells[k], a = parent[p];
    x[p] += omega * xc[a];
    if (S == 2) x[nf + p] += omega * xc[nc + a];
  }
};

// Galerkin coarse stencil P^T A P for piecewise-constant P: couplings between neighbouring blocks
// are the sums of the fine couplings that cross between them (`cross` bit k of a fine cell says its
// neighbour in direction k = top, bottom, left, right lies in another block); the diagonal follows
// from the zero row sum of the Laplacian part plus the aggregated mass and front/back coupling.
// The inverse of each coarse cell's diagonal block (for Gauss-Seidel) is computed here too.
struct GalerkinOp {
  int64_t nc, nf;
  int S;
  const int32_t* child;
  const uint8_t* cross;                          // fine
  const float *cT, *cB, *cL, *cR, *mass, *bnd;   // fine
  float *CT, *CB, *CL, *CR, *Cmass, *Cdiag, *Cbnd, *Cidiag, *Cioff;  // coarse
  EF_HD void operator()(int64_t a) const {
    double bd = 0, dg[2] = {0, 0};
    for (int s = 0; s < S; ++s) {
      const int64_t fb = s * nf, i = s * nc + a;
      double t = 0, b = 0, l = 0, r = 0, m = 0;
      for (int c = 0; c < 4; ++c) {
        const int32_t q = child[4 * a + c];
        if (q < 0) continue;
        const int64_t j = fb + q;
        const uint8_t x = cross[q];
        if (x & 1) t += cT[j];
        if (x & 2) b += cB[j];
        if (x & 4) l += cL[j];
        if (x & 8) r += cR[j];
        m += mass[j];
        if (s == 0) bd += bnd[q];
      }
      CT[i] = (float)t;
      CB[i] = (float)b;
      CL[i] = (float)l;
      CR[i] = (float)r;
      Cmass[i] = (float)m;
      dg[s] = t + b + l + r + m + (S == 2 ? bd : 0.0);
      Cdiag[i] = (float)dg[s];
    }
    Cbnd[a] = (float)bd;
    block_inverse(S, dg[0], dg[1], bd, &Cidiag[a], S == 2 ? &Cidiag[nc + a] : nullptr, &Cioff[a]);
  }
};

// Dense Cholesky of the coarsest level (one thread: the level has at most kDenseMax unknowns).
constexpr int64_t kDenseMax = 128;

struct CoarseFactorOp {
  Stencil<float> A;
  double* L;  // (m x m), m = S * n
  EF_HD void operator()(int64_t) const {
    const int64_t n = A.n, m = A.S * n;
    double dmax = 0.0;
    for (int64_t i = 0; i < m * m; ++i) L[i] = 0.0;
    for (int64_t i = 0; i < m; ++i) {
      const int64_t s = i >= n ? 1 : 0, p = i - s * n, base = s * n;
      L[i * m + i] = A.diag[i];
      dmax = A.diag[i] > dmax ? A.diag[i] : dmax;
      // Missing neighbours point at the cell itself with coefficient 0.
      L[i * m + base + A.sT[p]] -= A.cT[i];
      L[i * m + base + A.sB[p]] -= A.cB[i];
      L[i * m + base + A.sL[p]] -= A.cL[i];
      L[i * m + base + A.sR[p]] -= A.cR[i];
      if (A.S == 2) L[i * m + (s ? p : n + p)] -= A.bnd[p];
    }
    // A tiny relative shift keeps the factor defined when the problem has no prior (the
    // Laplacian's constant null space); it only perturbs the preconditioner.
    const double shift = 1e-7 * (dmax > 0 ? dmax : 1.0);
    for (int64_t j = 0; j < m; ++j) {
      double d = L[j * m + j] + shift;
      for (int64_t k = 0; k < j; ++k) d -= L[j * m + k] * L[j * m + k];
      d = d > shift ? sqrt(d) : sqrt(shift);
      L[j * m + j] = d;
      for (int64_t i = j + 1; i < m; ++i) {
        double v = L[i * m + j];
        for (int64_t k = 0; k < j; ++k) v -= L[i * m + k] * L[j * m + k];
        L[i * m + j] = v / d;
      }
    }
  }
};

template <class TF>
struct CoarseSolveOp {
  int64_t m;
  const double* L;
  const TF* f;
  float* x;
  double* y;  // m doubles of scratch
  EF_HD void operator()(int64_t) const {
    for (int64_t i = 0; i < m; ++i) {
      double v = (double)f[i];
      for (int64_t k = 0; k < i; ++k) v -= L[i * m + k] * y[k];
      y[i] = v / L[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {
      double v = y[i];
      for (int64_t k = i + 1; k < m; ++k) v -= L[k * m + i] * y[k];
      y[i] = v / L[i * m + i];
    }
    for (int64_t i = 0; i < m; ++i) x[i] = (float)y[i];
  }
};

template <class T>
struct ScatterOp {
  int64_t N, HW;
  const int32_t* pix;
  const double* z;
  bool persp;
  double scale;
  T* out;
  EF_HD void operator()(int64_t i) const {
    const int64_t s = i >= N ? 1 : 0, p = i - s * N;
    const double v = persp ? exp(z[i]) / scale : z[i] / scale;
    out[s * HW + pix[p]] = (T)v;
  }
};

template <class T>
struct FillNaNOp {
  T* out;
  EF_HD void operator()(int64_t i) const { out[i] = (T)NAN; }
};

// ---------------------------------------------------------------- device-side data
struct Topology {  // neighbour tables of one level
  int64_t n = 0;
  Buffer<int32_t> nT, nB, nL, nR, sT, sB, sL, sR, red, black, child, parent;
  Buffer<uint8_t> cross;  // bit k: neighbour k (top, bottom, left, right) is in another aggregate
};

template <class T>
struct Coefs {  // stencil values of one level
  Buffer<T> cT, cB, cL, cR, diag, mass, bnd, idiag, ioff;
  void resize(int S, int64_t n) {
    for (Buffer<T>* b : {&cT, &cB, &cL, &cR, &diag, &mass, &idiag}) b->resize(S * n);
    bnd.resize(n);
    ioff.resize(n);
  }
  Stencil<T> stencil(const Topology& t, int S) const {
    return Stencil<T>{t.n, S, t.sT.data(), t.sB.data(), t.sL.data(), t.sR.data(), cT.data(), cB.data(),
                      cL.data(), cR.data(), diag.data(), bnd.data()};
  }
};

class Solver {
 public:
  Solver(const Params& prm, const Inputs& in, const Grid& g) : P(prm), in_(in), g_(g) {
    S = in.sides;
    N = g.N;
    M = S * N;
    HW = (int64_t)in.H * in.W;
    mg_ = P.solver == SolverKind::Multigrid;
    // W-cycles visit coarse levels 2^l times: cheap on a CPU, launch-bound on a GPU.
    cycle_ = P.mg_cycle != 0 ? P.mg_cycle : (EF_BACKEND_IS_CUDA ? 1 : 2);
  }

  Report run(const Outputs& out, const Progress& progress) {
    Report rep;
    rep.unknowns = M;
    using clk = std::chrono::steady_clock;
    auto secs = [](clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    double t_coef = 0, t_solve = 0, t_weights = 0;
    auto t0 = clk::now();
    setup();
    const double t_setup = secs(t0, clk::now());
    rep.mg_levels = mg_ ? (int)topo_.size() : 0;

    // E_0 at z = 0, w = 0.5 (ECON evaluates it before the loop), from the setup's gather pass.
    double e_old = recenter_[0];
    rep.energy.push_back(e_old);
    for (int it = 0; it < P.max_iter; ++it) {
      auto ta = clk::now();
      fine_coefficients();  // also re-centres z on the prior (offsets from the last energy pass)
      auto tb = clk::now();
      // Optional inexact-Newton style tolerance: loose while IRLS is far from converged.
      cg_tol_now_ = P.cg_tol;
      if (mg_ && P.cg_tol_adaptive > 0 && it > 0) cg_tol_now_ = std::max(P.cg_tol, std::min(P.cg_tol_adaptive, last_rel_));
      const int cg = mg_ ? solve_mg() : solve_jacobi();
      last_cg_ = cg;
      auto tc = clk::now();
      const double e = weights_energy();
      auto td = clk::now();
      t_coef += secs(ta, tb);
      t_solve += secs(tb, tc);
      t_weights += secs(tc, td);
      rep.iterations = it + 1;
      rep.cg_iterations += cg;
      rep.cg_per_iter.push_back(cg);
      rep.energy.push_back(e);
      const double rel = e_old != 0.0 ? std::fabs(e - e_old) / std::fabs(e_old) : 0.0;
      last_rel_ = rel;
      e_old = e;
      const bool done = rel < P.tol;
      if (done && cg_tol_now_ > P.cg_tol) {
        // The adaptive tolerance let this iteration's solve stop early; IRLS has converged, so
        // re-solve with the final weights to the full cg_tol before returning the depth (its CG
        // steps count towards this iteration; the energy entry stays that of the IRLS test).
        cg_tol_now_ = P.cg_tol;
        auto tp = clk::now();
        fine_coefficients();
        const int extra = solve_mg();
        t_solve += secs(tp, clk::now());
        rep.cg_iterations += extra;
        rep.cg_per_iter.back() += extra;
      }
      if (progress && !progress(it + 1, e, rep.cg_per_iter.back())) break;
      if (done) {
        rep.converged = true;
        break;
      }
    }
    auto tf = clk::now();
    write_output(out);
    rep.timings = {{"setup", t_setup},
                   {"coefficients", t_coef},
                   {"linear_solve", t_solve},
                   {"weights_energy", t_weights},
                   {"mg_setup", t_galerkin_},
                   {"mg_vcycle", t_vcycle_},
                   {"output", secs(tf, clk::now())}};
    return rep;
  }

 private:
  template <class T>
  void gather_t() {
    const T* nrm = static_cast<const T*>(in_.normals);
    const T* pri = static_cast<const T*>(in_.prior);
    Sums<3> bad = red_.template sum<Sums<3>>(M, CheckOp<T>{nrm, pri, pix_.data(), N, HW, P.perspective});
    EF_CHECK(bad[0] == 0, "normals: ", (int64_t)bad[0], " pixels inside the mask have non-finite normals");
    EF_CHECK(bad[1] == 0, "normals: ", (int64_t)bad[1], " pixels inside the mask have zero-length normals");
    EF_CHECK(bad[2] == 0, "body_depth: ", (int64_t)bad[2],
             " prior depths are <= 0; a perspective camera needs positive depth along the optical axis");
    recenter_ = red_.template sum<Sums<5>>(
        M, GatherOp<T>{nrm, pri, pix_.data(), N, HW, in_.W, P.perspective, P.fx, P.fy, P.cx, P.cy, P.depth_scale,
                       cu_.data(), cv_.data(), bu_.data(), bv_.data(), pr_.data(), hp_.data(), P.lambda_depth});
  }

  static void upload_topology(Topology& d, const Level& L) {
    d.n = L.n;
    d.nT.upload(L.nT.data(), L.n);
    d.nB.upload(L.nB.data(), L.n);
    d.nL.upload(L.nL.data(), L.n);
    d.nR.upload(L.nR.data(), L.n);
    std::vector<int32_t> safe(L.n);
    const std::vector<int32_t>* src[4] = {&L.nT, &L.nB, &L.nL, &L.nR};
    Buffer<int32_t>* dst[4] = {&d.sT, &d.sB, &d.sL, &d.sR};
    for (int k = 0; k < 4; ++k) {
      for (int64_t p = 0; p < L.n; ++p) safe[p] = (*src[k])[p] >= 0 ? (*src[k])[p] : (int32_t)p;
      dst[k]->upload(safe.data(), L.n);
    }
    d.red.upload(L.red.data(), (int64_t)L.red.size());
    d.black.upload(L.black.data(), (int64_t)L.black.size());
    if (!L.child.empty()) d.child.upload(L.child.data(), (int64_t)L.child.size());
    if (!L.parent.empty()) {
      d.parent.upload(L.parent.data(), (int64_t)L.parent.size());
      std::vector<uint8_t> cross(L.n, 0);
      for (int64_t p = 0; p < L.n; ++p) {
        for (int k = 0; k < 4; ++k) {
          const int32_t o = (*src[k])[p];
          if (o >= 0 && L.parent[o] != L.parent[p]) cross[p] |= (uint8_t)(1u << k);
        }
      }
      d.cross.upload(cross.data(), L.n);
    }
  }

  void setup() {
    pix_.upload(g_.pix.data(), N);
    for (Buffer<float>* b : {&cu_, &cv_, &bu_, &bv_}) b->resize(M);
    for (Buffer<double>* b : {&pr_, &wu_, &wv_, &z_, &rhs_, &dinv_, &r_, &p_, &q_})
      b->resize(M);
    hp_.resize(M);
    if (in_.dtype == DType::F32) gather_t<float>();
    else gather_t<double>();

    const size_t nlev = mg_ ? g_.levels.size() : 1;
    topo_.clear();
    for (size_t l = 0; l < nlev; ++l) {
      topo_.emplace_back(new Topology());
      upload_topology(*topo_[l], g_.levels[l]);
    }
    fine_.resize(S, N);
    {
      std::vector<double> bnd(N);
      for (int64_t p = 0; p < N; ++p) bnd[p] = S == 2 && g_.boundary[p] ? P.lambda_boundary : 0.0;
      fine_.bnd.upload(bnd.data(), N);
      if (mg_) {
        std::vector<float> fb(bnd.begin(), bnd.end());
        hier_.emplace_back(new Coefs<float>());
        hier_[0]->resize(S, N);
        hier_[0]->bnd.upload(fb.data(), N);
      }
    }
    if (mg_) for_each(M, MassOp{(float)P.lambda_depth, hp_.data(), hier_[0]->mass.data()});
    if (mg_) {
      zf_.resize(M);
      for (size_t l = 1; l < nlev; ++l) {
        hier_.emplace_back(new Coefs<float>());
        hier_[l]->resize(S, topo_[l]->n);
        xs_.emplace_back(S * topo_[l]->n);
        fs_.emplace_back(S * topo_[l]->n);
        rs_.emplace_back(cycle_ == 2 ? S * topo_[l]->n : 0);
        dxs_.emplace_back(cycle_ == 2 ? S * topo_[l]->n : 0);
      }
      const int64_t mc = S * topo_.back()->n;
      dense_ = mc <= kDenseMax;
      if (dense_) {
        chol_.resize(mc * mc);
        chol_y_.resize(mc);
      }
    }
    for_each(M, FillOp<double>{0.5, wu_.data()});
    for_each(M, FillOp<double>{0.5, wv_.data()});
    for_each(M, FillOp<double>{0.0, z_.data()});
    has_prior_ = (recenter_[2] + recenter_[4]) > 0;
  }

  Stencil<double> fine_stencil() const { return fine_.stencil(*topo_[0], S); }

  void fine_coefficients() {
    const Topology& t = *topo_[0];
    Coefs<float>* h = mg_ ? hier_[0].get() : nullptr;
    // ECON re-centres each side on its prior before every solve (spec 2.5 step 3).
    const double o0 = has_prior_ && recenter_[2] > 0 ? recenter_[1] / recenter_[2] : 0.0;
    const double o1 = has_prior_ && recenter_[4] > 0 ? recenter_[3] / recenter_[4] : 0.0;
    for_each(N, FineCoefOp{N, S, t.nT.data(), t.nB.data(), t.nL.data(), t.nR.data(), cu_.data(), cv_.data(),
                           bu_.data(), bv_.data(), wu_.data(), wv_.data(), pr_.data(), hp_.data(), P.lambda_depth,
                           fine_.bnd.data(), o0, o1, z_.data(), fine_.cT.data(), fine_.cB.data(), fine_.cL.data(), fine_.cR.data(),
                           fine_.diag.data(), mg_ ? nullptr : dinv_.data(), rhs_.data(), h ? h->cT.data() : nullptr,
                           h ? h->cB.data() : nullptr, h ? h->cL.data() : nullptr, h ? h->cR.data() : nullptr,
                           h ? h->diag.data() : nullptr});
  }

  // Jacobi-preconditioned CG with CuPy's semantics (what ECON runs): stop on the unpreconditioned
  // ||r|| <= cg_tol * ||b||, checked after each step, so at least one step is taken.
  int solve_jacobi() {
    const Stencil<double> A = fine_stencil();
    Sums<2> init = red_.template sum<Sums<2>>(N, InitResidualOp{A, rhs_.data(), z_.data(), dinv_.data(), r_.data()});
    if (init[0] == 0.0) return 0;
    const double atol2 = P.cg_tol * P.cg_tol * init[0];
    double rho = init[1];
    for_each(M, JacobiDirOp{0.0, dinv_.data(), r_.data(), p_.data()});
    int it = 0;
    while (it < P.cg_max_iter) {
      const double pq = red_.template sum<double>(N, MatvecDotOp{A, p_.data(), q_.data()});
      const double alpha = pq != 0.0 ? rho / pq : 0.0;
      Sums<2> s = red_.template sum<Sums<2>>(M, UpdateOp{alpha, p_.data(), q_.data(), dinv_.data(), z_.data(), r_.data()});
      ++it;
      if (s[0] <= atol2 || pq == 0.0) break;
      const double beta = rho != 0.0 ? s[1] / rho : 0.0;
      rho = s[1];
      for_each(M, JacobiDirOp{beta, dinv_.data(), r_.data(), p_.data()});
    }
    return it;
  }

  // ---- multigrid preconditioner
  Stencil<float> level_stencil(size_t l) const { return hier_[l]->stencil(*topo_[l], S); }

  void galerkin() {
    {
      Coefs<float>& c = *hier_[0];
      for_each(N, BlockInverseOp{N, S, c.diag.data(), c.bnd.data(), c.idiag.data(), c.ioff.data()});
    }
    for (size_t l = 1; l < topo_.size(); ++l) {
      const Topology& F = *topo_[l - 1];
      const Topology& C = *topo_[l];
      const Coefs<float>& f = *hier_[l - 1];
      Coefs<float>& c = *hier_[l];
      for_each(C.n, GalerkinOp{C.n, F.n, S, C.child.data(), F.cross.data(), f.cT.data(), f.cB.data(), f.cL.data(),
                               f.cR.data(), f.mass.data(), f.bnd.data(), c.cT.data(), c.cB.data(), c.cL.data(),
                               c.cR.data(), c.mass.data(), c.diag.data(), c.bnd.data(), c.idiag.data(),
                               c.ioff.data()});
    }
    if (dense_) for_each(1, CoarseFactorOp{level_stencil(topo_.size() - 1), chol_.data()});
  }

  template <class TF>
  void sweep(size_t l, const TF* f, float* x, bool red, bool first = false) {
    const Topology& T = *topo_[l];
    const Buffer<int32_t>& cells = red ? T.red : T.black;
    const Coefs<float>& c = *hier_[l];
    for_each(cells.size(), GaussSeidelOp<TF>{level_stencil(l), cells.data(), c.idiag.data(), c.ioff.data(), f, x, first});
  }

  // x ~= A_l^{-1} f by one V-cycle: pre-smoothing red->black, post-smoothing black->red, so the
  // cycle is a symmetric operator.
  template <class TF>
  void vcycle(size_t l, const TF* f, float* x) {
    const Topology& T = *topo_[l];
    if (l + 1 == topo_.size()) {
      if (dense_) {
        for_each(1, CoarseSolveOp<TF>{S * T.n, chol_.data(), f, x, chol_y_.data()});
      } else {
        for (int k = 0; k < 4; ++k) {
          sweep(l, f, x, true, k == 0);
          sweep(l, f, x, false);
        }
        for (int k = 0; k < 4; ++k) {
          sweep(l, f, x, false);
          sweep(l, f, x, true);
        }
      }
      return;
    }
    const Topology& C = *topo_[l + 1];
    float* xc = xs_[l].data();
    float* fc = fs_[l].data();
    for (int k = 0; k < P.mg_smooth; ++k) {
      sweep(l, f, x, true, k == 0);
      sweep(l, f, x, false);
    }
    for_each(C.n, ResidualRestrictOp<TF>{level_stencil(l), C.n, C.child.data(), f, x, fc});
    vcycle<float>(l + 1, fc, xc);
    if (cycle_ == 2 && l + 2 < topo_.size()) {
      // W-cycle: a second coarse cycle on the coarse residual.
      const Stencil<float> Ac = level_stencil(l + 1);
      for_each(C.n, LevelResidualOp<float>{Ac, fc, xc, rs_[l].data()});
      vcycle<float>(l + 1, rs_[l].data(), dxs_[l].data());
      for_each(S * C.n, AxpyFloatOp{dxs_[l].data(), xc});
    }
    for_each(T.red.size(), ProlongOp{T.n, C.n, S, (float)P.mg_omega, T.red.data(), T.parent.data(), xc, x});
    for (int k = 0; k < P.mg_smooth; ++k) {
      sweep(l, f, x, false);
      sweep(l, f, x, true);
    }
  }

  // CG preconditioned by one V-cycle; same stopping rule as the Jacobi solver.
  int solve_mg() {
    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    // In the IRLS tail the weights barely move and CG needs a step or two: keep the hierarchy of
    // the previous iteration (any SPD preconditioner keeps PCG correct; only its speed can change).
    if (!hier_valid_ || last_cg_ > 2) {
      galerkin();
      hier_valid_ = true;
    } else {
      // Level 0 always follows the current operator (its coefficients were just rewritten); only
      // the coarse levels are reused. The V-cycle stays symmetric positive definite.
      Coefs<float>& c = *hier_[0];
      for_each(N, BlockInverseOp{N, S, c.diag.data(), c.bnd.data(), c.idiag.data(), c.ioff.data()});
    }
    t_galerkin_ += std::chrono::duration<double>(clk::now() - t0).count();
    const Stencil<double> A = fine_stencil();
    Sums<2> init = red_.template sum<Sums<2>>(N, InitResidualOp{A, rhs_.data(), z_.data(), nullptr, r_.data()});
    if (init[0] == 0.0) return 0;
    const double atol2 = cg_tol_now_ * cg_tol_now_ * init[0];
    vcycle<double>(0, r_.data(), zf_.data());
    double rho = red_.template sum<double>(M, DotOp{r_.data(), zf_.data()});
    for_each(M, DirOp{0.0, zf_.data(), p_.data()});
    int it = 0;
    while (it < P.cg_max_iter) {
      const double pq = red_.template sum<double>(N, MatvecDotOp{A, p_.data(), q_.data()});
      const double alpha = pq != 0.0 ? rho / pq : 0.0;
      Sums<2> s = red_.template sum<Sums<2>>(M, UpdateOp{alpha, p_.data(), q_.data(), nullptr, z_.data(), r_.data()});
      ++it;
      if (s[0] <= atol2 || pq == 0.0) break;
      auto tv = clk::now();
      vcycle<double>(0, r_.data(), zf_.data());
      t_vcycle_ += std::chrono::duration<double>(clk::now() - tv).count();
      const double rz = red_.template sum<double>(M, DotOp{r_.data(), zf_.data()});
      const double beta = rho != 0.0 ? rz / rho : 0.0;
      rho = rz;
      for_each(M, DirOp{beta, zf_.data(), p_.data()});
    }
    return it;
  }

  double weights_energy() {
    const Topology& t = *topo_[0];
    recenter_ = red_.template sum<Sums<5>>(
        N, WeightEnergyOp{N, S, t.sT.data(), t.sB.data(), t.sL.data(), t.sR.data(), cu_.data(), cv_.data(),
                          bu_.data(), bv_.data(), z_.data(), pr_.data(), fine_.bnd.data(), P.lambda_depth,
                          hp_.data(), P.k, P.pin_boundary_weights, mg_, wu_.data(), wv_.data()});
    return recenter_[0];
  }

  template <class T>
  void write_t(const Outputs& out) {
    T* o = static_cast<T*>(out.depth);
    for_each(S * HW, FillNaNOp<T>{o});
    for_each(M, ScatterOp<T>{N, HW, pix_.data(), z_.data(), P.perspective, P.depth_scale, o});
  }

  void write_output(const Outputs& out) {
    if (!has_prior_) {
      // Without a prior the depth is defined up to a constant: fix it so that the front side has
      // zero mean (log-depth under a perspective camera, i.e. unit geometric-mean depth).
      const double s = red_.template sum<double>(N, SumOp{z_.data()});
      for_each(M, AddPerSideOp{N, -s / N, -s / N, z_.data()});
    }
    if (in_.dtype == DType::F32) write_t<float>(out);
    else write_t<double>(out);
    synchronize();
  }

  Params P;
  Inputs in_;
  const Grid& g_;
  int S = 1;
  int64_t N = 0, M = 0, HW = 0;
  bool mg_ = false, has_prior_ = false, dense_ = false;
  int cycle_ = 1, last_cg_ = 1 << 30;
  bool hier_valid_ = false;
  double t_galerkin_ = 0, t_vcycle_ = 0, cg_tol_now_ = 0, last_rel_ = 1;
  Sums<5> recenter_;
  Reducer red_;
  Buffer<int32_t> pix_;
  Buffer<uint8_t> hp_;
  Buffer<float> cu_, cv_, bu_, bv_;
  Buffer<double> pr_, wu_, wv_, z_, rhs_, dinv_, r_, p_, q_, chol_, chol_y_;
  Buffer<float> zf_;
  Coefs<double> fine_;
  std::vector<std::unique_ptr<Topology>> topo_;
  std::vector<std::unique_ptr<Coefs<float>>> hier_;
  std::vector<Buffer<float>> xs_, fs_, rs_, dxs_;  // per coarse level (index l-1 holds level l)
};

}  // namespace dbini_impl

// Backend entry point: ef::cpu::dbini_solve / ef::cuda::dbini_solve.
inline ::ef::dbini::Report dbini_solve_impl(const ::ef::dbini::Params& p, const ::ef::dbini::Inputs& in,
                                            const ::ef::dbini::Outputs& out, const ::ef::dbini::Grid& g,
                                            const ::ef::dbini::Progress& progress) {
  dbini_impl::Solver s(p, in, g);
  return s.run(out, progress);
}

}  // namespace EF_BACKEND
}  // namespace ef
