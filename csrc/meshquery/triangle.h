// SPDX-License-Identifier: Apache-2.0
// Per-triangle geometry, written once for both backends (EF_HD): a small 3-vector, closest point
// on a triangle (with degenerate handling), barycentrics of the plane projection, watertight
// ray/triangle intersection, and the solid angle of a triangle.
//
// Everything lives in ef::EF_BACKEND::mq (ef::cpu::mq or ef::cuda::mq), so the host and device
// instantiations never share a mangled name.
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/backend.h"
#include "bvh.h"

namespace ef {
namespace EF_BACKEND {
namespace mq {

struct V3 {
  float x, y, z;
};
EF_INLINE V3 make_v3(float x, float y, float z) { return V3{x, y, z}; }
EF_INLINE V3 load3(const float* p) { return V3{p[0], p[1], p[2]}; }
EF_INLINE void store3(float* p, V3 v) {
  p[0] = v.x;
  p[1] = v.y;
  p[2] = v.z;
}
EF_INLINE V3 operator+(V3 a, V3 b) { return V3{a.x + b.x, a.y + b.y, a.z + b.z}; }
EF_INLINE V3 operator-(V3 a, V3 b) { return V3{a.x - b.x, a.y - b.y, a.z - b.z}; }
EF_INLINE V3 operator*(V3 a, float s) { return V3{a.x * s, a.y * s, a.z * s}; }
EF_INLINE V3 operator*(float s, V3 a) { return V3{a.x * s, a.y * s, a.z * s}; }
EF_INLINE float dot(V3 a, V3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
EF_INLINE V3 cross(V3 a, V3 b) { return V3{a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
EF_INLINE float length(V3 a) { return sqrtf(dot(a, a)); }
// max/min by comparison: compiles to one instruction on both backends (libm's fmaxf is a call on
// x86 without -ffinite-math-only). NaN operands are the caller's concern.
EF_INLINE float max2(float a, float b) { return a > b ? a : b; }
EF_INLINE float min2(float a, float b) { return a < b ? a : b; }
EF_INLINE float get(V3 a, int k) { return k == 0 ? a.x : (k == 1 ? a.y : a.z); }

// Which part of the triangle holds the closest point. Edges are numbered by their first vertex:
// edge 0 = (a, b), edge 1 = (b, c), edge 2 = (c, a). The pseudo-normal of that feature decides the
// sign of the distance (Baerentzen & Aanaes 2005).
enum Feature : int32_t {
  kFace = 0,
  kEdge0 = 1,
  kEdge1 = 2,
  kEdge2 = 3,
  kVertex0 = 4,
  kVertex1 = 5,
  kVertex2 = 6,
};

struct TriPoint {
  float w0, w1, w2;  // closest point = w0 a + w1 b + w2 c, w >= 0, sum 1
  int32_t feature;
};

// Closest point to p on the segment from a (weight 1 - s) to b (weight s).
EF_INLINE float segment_param(V3 p, V3 a, V3 b) {
  const V3 ab = b - a;
  const float l2 = dot(ab, ab);
  if (!(l2 > 0.0f)) return 0.0f;
  float s = dot(p - a, ab) / l2;
  s = s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
  return s;
}

// Degeneracy threshold on sin^2 of the corner angle at a: |ab x ac|^2 <= kDegenerateSin2 |ab|^2 |ac|^2.
// The exact test below is accurate to ~1e-16 / sin(angle at a) of |p - a| in double, and a triangle
// treated as its three edges is off by at most its smallest height, < sin * longest edge: with
// sin = 1e-9 both are below float32 rounding (kDegenerateSin2 = 1e-18, bvh.h; bvh_build.cpp
// flags slots with the same test).
using ::ef::meshquery::kDegenerateSin2;
using ::ef::meshquery::kSlotDegenerate;
using ::ef::meshquery::kSlotThin;

// A triangle whose normal is not representable relative to its edges (zero area, collinear or
// repeated vertices, or thinner than kDegenerateSin2) is a segment or a point: its closest point
// is the closest point on its edges. Computed in double: the differences of float inputs and their
// products are exact there, so the cross product is correct to a double rounding.
EF_INLINE bool is_degenerate(V3 ab, V3 ac) {
  const double x = (double)ab.y * ac.z - (double)ab.z * ac.y;
  const double y = (double)ab.z * ac.x - (double)ab.x * ac.z;
  const double z = (double)ab.x * ac.y - (double)ab.y * ac.x;
  const double abab = (double)ab.x * ab.x + (double)ab.y * ab.y + (double)ab.z * ab.z;
  const double acac = (double)ac.x * ac.x + (double)ac.y * ac.y + (double)ac.z * ac.z;
  return !(x * x + y * y + z * z > kDegenerateSin2 * abab * acac);
}

EF_INLINE TriPoint closest_on_degenerate(V3 p, V3 a, V3 b, V3 c) {
  // Minimum over the three edges; a feature is a vertex when the segment parameter clamps.
  TriPoint best{1.0f, 0.0f, 0.0f, kVertex0};
  float bestd = 3.4e38f;
  const V3 P[3] = {a, b, c};
  for (int e = 0; e < 3; ++e) {
    const V3 s0 = P[e], s1 = P[(e + 1) % 3];
    const float s = segment_param(p, s0, s1);
    const V3 q = s0 + (s1 - s0) * s;
    const V3 d = p - q;
    const float d2 = dot(d, d);
    if (d2 < bestd) {
      bestd = d2;
      float w[3] = {0.0f, 0.0f, 0.0f};
      w[e] = 1.0f - s;
      w[(e + 1) % 3] = s;
      best.w0 = w[0];
      best.w1 = w[1];
      best.w2 = w[2];
      best.feature = s <= 0.0f ? kVertex0 + e : (s >= 1.0f ? kVertex0 + (e + 1) % 3 : kEdge0 + e);
    }
  }
  return best;
}

// Double-precision 3-vector of the exact test.
struct D3 {
  double x, y, z;
};
EF_INLINE D3 to_d3(V3 a) { return D3{(double)a.x, (double)a.y, (double)a.z}; }
EF_INLINE D3 sub_d(D3 a, D3 b) { return D3{a.x - b.x, a.y - b.y, a.z - b.z}; }
EF_INLINE double dot_d(D3 a, D3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
EF_INLINE D3 cross_d(D3 a, D3 b) { return D3{a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }

// Closest point on a non-degenerate triangle (a, b, c) to p, exact to float32 rounding for any
// aspect ratio down to sin(angle at a) = 1e-9 (issue 3). The float Voronoi-region test (Ericson,
// "Real-Time Collision Detection", 5.1.5) decides regions by differences of products of dot
// products, which cancel catastrophically on needles and slivers; here instead:
//  * everything is relative to the vertices in double: p - a, b - a, c - a of float inputs are
//    exact in double, so is the normal n = ab x ac up to one rounding per component;
//  * the plane-projection barycentrics are the signed areas W_a = ((c - b) x (p - b)) . n, and
//    similarly W_b, W_c, each linear in p and taken from its own vertex (no 1 - u - v);
//  * inside (all W >= 0): the face; otherwise the closest point lies on an edge whose opposite
//    weight is negative (for a convex polygon the nearest boundary point of an outside point is on
//    an edge it is outside of, or at a vertex of two such edges), so only those edges are tested,
//    as clamped segments, and the nearest wins (ties: lowest edge number).
// The weights are returned in float; the caller rebuilds a + w1 ab + w2 ac (3 float roundings).
EF_INLINE TriPoint closest_on_triangle_exact(V3 p, V3 a, V3 b, V3 c) {
  const D3 A = to_d3(a), B = to_d3(b), C = to_d3(c), P = to_d3(p);
  const D3 ab = sub_d(B, A), ac = sub_d(C, A), bc = sub_d(C, B);
  const D3 ap = sub_d(P, A), bp = sub_d(P, B);
  const D3 n = cross_d(ab, ac);
  const double Wa = dot_d(cross_d(bc, bp), n);
  const double Wb = dot_d(cross_d(ap, ac), n);
  const double Wc = dot_d(cross_d(ab, ap), n);
  if (Wa >= 0.0 && Wb >= 0.0 && Wc >= 0.0) {
    const double inv = 1.0 / (Wa + Wb + Wc);  // > 0: equals |n|^2 up to rounding
    return TriPoint{(float)(Wa * inv), (float)(Wb * inv), (float)(Wc * inv), kFace};
  }
  TriPoint best{1.0f, 0.0f, 0.0f, kVertex0};
  double bestd = 1.0e300;
  // Edge e runs from vertex e to vertex e+1; its opposite vertex is e+2.
  const double W[3] = {Wc, Wa, Wb};
  for (int e = 0; e < 3; ++e) {
    if (!(W[e] < 0.0)) continue;
    const D3 s0p = e == 0 ? ap : (e == 1 ? bp : sub_d(P, C));
    const D3 d = e == 0 ? ab : (e == 1 ? bc : sub_d(A, C));
    const double l2 = dot_d(d, d);
    double s = dot_d(s0p, d) / l2;  // l2 > 0: the triangle is not degenerate
    s = s < 0.0 ? 0.0 : (s > 1.0 ? 1.0 : s);
    const D3 r = D3{s0p.x - s * d.x, s0p.y - s * d.y, s0p.z - s * d.z};
    const double d2 = dot_d(r, r);
    if (d2 < bestd) {
      bestd = d2;
      float w[3] = {0.0f, 0.0f, 0.0f};
      w[e] = (float)(1.0 - s);
      w[(e + 1) % 3] = (float)s;
      best.w0 = w[0];
      best.w1 = w[1];
      best.w2 = w[2];
      best.feature = s <= 0.0 ? kVertex0 + e : (s >= 1.0 ? kVertex0 + (e + 1) % 3 : kEdge0 + e);
    }
  }
  return best;
}

// Closest point on triangle (a, b, c) to p, degenerate triangles included.
EF_INLINE TriPoint closest_on_triangle(V3 p, V3 a, V3 b, V3 c) {
  if (is_degenerate(b - a, c - a)) return closest_on_degenerate(p, a, b, c);
  return closest_on_triangle_exact(p, a, b, c);
}

// The test on a BVH slot (kTriStride floats: a, b, c, then |ab|^2, ab.ac, |ac|^2 for a
// well-shaped triangle, or kSlotThin / kSlotDegenerate in place of |ab|^2, see bvh.h).
// Well-shaped triangles (every corner's sin >= kWellShapedSin, most of a typical mesh) take the
// float Voronoi-region test of Ericson ("Real-Time Collision Detection", 2005, 5.1.5, restated),
// which needs only two dot products with the stored Gram entries and is within a few ulps there
// (its products of dot products cancel by at most 1 / sin^2 of the corner angles); thinner ones
// take the double-precision test above; degenerate ones their edges.
EF_INLINE TriPoint closest_on_slot(V3 p, const float* t) {
  const V3 a = load3(t), b = load3(t + 3), c = load3(t + 6);
  if (t[9] < 0.0f) {
    if (t[9] == kSlotThin) return closest_on_triangle_exact(p, a, b, c);
    return closest_on_degenerate(p, a, b, c);
  }
  const float abab = t[9], abac = t[10], acac = t[11];
  const V3 ab = b - a, ac = c - a, ap = p - a;
  const float d1 = dot(ab, ap), d2 = dot(ac, ap);
  if (d1 <= 0.0f && d2 <= 0.0f) return TriPoint{1.0f, 0.0f, 0.0f, kVertex0};
  const float d3 = d1 - abab, d4 = d2 - abac;
  if (d3 >= 0.0f && d4 <= d3) return TriPoint{0.0f, 1.0f, 0.0f, kVertex1};
  const float vc = d1 * d4 - d3 * d2;
  if (vc <= 0.0f && d1 >= 0.0f && d3 <= 0.0f) {
    const float s = d1 / abab;
    return TriPoint{1.0f - s, s, 0.0f, kEdge0};
  }
  const float d5 = d1 - abac, d6 = d2 - acac;
  if (d6 >= 0.0f && d5 <= d6) return TriPoint{0.0f, 0.0f, 1.0f, kVertex2};
  const float vb = d5 * d2 - d1 * d6;
  if (vb <= 0.0f && d2 >= 0.0f && d6 <= 0.0f) {
    const float s = d2 / acac;
    return TriPoint{1.0f - s, 0.0f, s, kEdge2};
  }
  const float va = d3 * d6 - d5 * d4;
  const float e43 = d4 - d3, e56 = d5 - d6;
  if (va <= 0.0f && e43 >= 0.0f && e56 >= 0.0f) {
    const float den = e43 + e56;
    const float s = den > 0.0f ? e43 / den : 0.0f;
    return TriPoint{0.0f, 1.0f - s, s, kEdge1};
  }
  const float den = va + vb + vc;
  const float inv = den > 0.0f ? 1.0f / den : 0.0f;
  const float v = vb * inv, w = vc * inv;
  return TriPoint{1.0f - v - w, v, w, kFace};
}

// Barycentrics of the orthogonal projection of p onto the triangle's plane, not clamped (may be
// negative): the weights ICON interpolates with (Heidrich, "Computing the barycentric coordinates
// of a projected point", JGT 2005). For a degenerate triangle there is no plane; the caller uses
// the clamped weights instead. Returns false in that case.
EF_INLINE bool projected_barycentric(V3 p, V3 a, V3 b, V3 c, float* w) {
  const V3 ab = b - a, ac = c - a;
  if (is_degenerate(ab, ac)) return false;
  const V3 n = cross(ab, ac);
  const float inv = 1.0f / dot(n, n);
  const V3 ap = p - a;
  const float wb = dot(cross(ap, ac), n) * inv;
  const float wc = dot(cross(ab, ap), n) * inv;
  w[0] = 1.0f - wb - wc;
  w[1] = wb;
  w[2] = wc;
  return true;
}

// ------------------------------------------------------------------------------- ray / triangle
// Watertight ray/triangle intersection (Woop, Benthin and Wald, "Watertight Ray/Triangle
// Intersection", JCGT 2013), restated: the ray is sheared so that it runs along +z, and the 2-D
// edge functions decide coverage. A ray through an edge or vertex shared by two triangles hits
// at least one of them (no cracks in rendered maps). Edge functions that evaluate to exactly 0 are
// recomputed in double, as the paper prescribes.
struct RayFrame {
  V3 org;
  int kx, ky, kz;
  float Sx, Sy, Sz;
};

EF_INLINE RayFrame make_ray_frame(V3 org, V3 dir) {
  RayFrame r;
  r.org = org;
  const float ax = fabsf(dir.x), ay = fabsf(dir.y), az = fabsf(dir.z);
  int kz = (ax > ay) ? (ax > az ? 0 : 2) : (ay > az ? 1 : 2);
  int kx = kz == 2 ? 0 : kz + 1;
  int ky = kx == 2 ? 0 : kx + 1;
  if (get(dir, kz) < 0.0f) {  // keep the winding: swap kx and ky
    const int t = kx;
    kx = ky;
    ky = t;
  }
  r.kx = kx;
  r.ky = ky;
  r.kz = kz;
  const float dz = get(dir, kz);
  r.Sx = get(dir, kx) / dz;
  r.Sy = get(dir, ky) / dz;
  r.Sz = 1.0f / dz;
  return r;
}

struct RayTriHit {
  bool hit;
  float t, w0, w1, w2;  // hit point = w0 a + w1 b + w2 c = org + t dir
};

EF_INLINE RayTriHit intersect_ray_triangle(const RayFrame& r, V3 a, V3 b, V3 c, float tmin, float tmax) {
  RayTriHit h{false, 0.0f, 0.0f, 0.0f, 0.0f};
  const V3 A = a - r.org, B = b - r.org, C = c - r.org;
  const float Az = get(A, r.kz), Bz = get(B, r.kz), Cz = get(C, r.kz);
  const float Ax = get(A, r.kx) - r.Sx * Az, Ay = get(A, r.ky) - r.Sy * Az;
  const float Bx = get(B, r.kx) - r.Sx * Bz, By = get(B, r.ky) - r.Sy * Bz;
  const float Cx = get(C, r.kx) - r.Sx * Cz, Cy = get(C, r.ky) - r.Sy * Cz;
  float U = Cx * By - Cy * Bx;
  float V = Ax * Cy - Ay * Cx;
  float W = Bx * Ay - By * Ax;
  if (U == 0.0f || V == 0.0f || W == 0.0f) {
    U = (float)((double)Cx * (double)By - (double)Cy * (double)Bx);
    V = (float)((double)Ax * (double)Cy - (double)Ay * (double)Cx);
    W = (float)((double)Bx * (double)Ay - (double)By * (double)Ax);
  }
  if ((U < 0.0f || V < 0.0f || W < 0.0f) && (U > 0.0f || V > 0.0f || W > 0.0f)) return h;
  const float det = U + V + W;
  if (det == 0.0f) return h;
  const float T = U * (r.Sz * Az) + V * (r.Sz * Bz) + W * (r.Sz * Cz);
  const float inv = 1.0f / det;
  const float t = T * inv;
  if (!(t >= tmin && t <= tmax)) return h;
  h.hit = true;
  h.t = t;
  h.w0 = U * inv;
  h.w1 = V * inv;
  h.w2 = W * inv;
  return h;
}

// ------------------------------------------------------------------------------- solid angle
// Signed solid angle of triangle (a, b, c) seen from p, divided by 4 pi (Van Oosterom and
// Strackee, "The solid angle of a plane triangle", IEEE TBME 1983). Positive when p is on the side
// the counter-clockwise normal points away from, so a closed outward-oriented mesh sums to 1 inside.
EF_INLINE float solid_angle_over_4pi(V3 p, V3 a, V3 b, V3 c) {
  const V3 A = a - p, B = b - p, C = c - p;
  const float la = length(A), lb = length(B), lc = length(C);
  const float num = dot(A, cross(B, C));
  const float den = la * lb * lc + dot(A, B) * lc + dot(A, C) * lb + dot(B, C) * la;
  return atan2f(num, den) * (float)(1.0 / (2.0 * 3.14159265358979323846));
}

}  // namespace mq
}  // namespace EF_BACKEND
}  // namespace ef
