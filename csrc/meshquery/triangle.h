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

// A triangle whose normal is not representable relative to its edges (zero area, collinear or
// repeated vertices) is a segment or a point: its closest point is the closest point on its
// edges. Relative threshold: sin^2 of the corner angle below ~1e-12 is below float resolution.
EF_INLINE bool is_degenerate(V3 ab, V3 ac) {
  const V3 n = cross(ab, ac);
  const float n2 = dot(n, n);
  return !(n2 > 1e-12f * dot(ab, ab) * dot(ac, ac));
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

// Closest point on triangle (a, b, c) to p, by Voronoi-region classification with dot products
// (the method of Ericson, "Real-Time Collision Detection", 2005, section 5.1.5, restated). Each
// region test uses only the signs of products computed from p - a, p - b, p - c, so a point is
// assigned to exactly one vertex, edge or the face. Divisions are guarded: a zero-length edge
// falls through to the degenerate path instead of producing 0/0.
EF_INLINE TriPoint closest_on_triangle(V3 p, V3 a, V3 b, V3 c) {
  const V3 ab = b - a, ac = c - a;
  if (is_degenerate(ab, ac)) return closest_on_degenerate(p, a, b, c);
  const V3 ap = p - a;
  const float d1 = dot(ab, ap), d2 = dot(ac, ap);
  if (d1 <= 0.0f && d2 <= 0.0f) return TriPoint{1.0f, 0.0f, 0.0f, kVertex0};
  const V3 bp = p - b;
  const float d3 = dot(ab, bp), d4 = dot(ac, bp);
  if (d3 >= 0.0f && d4 <= d3) return TriPoint{0.0f, 1.0f, 0.0f, kVertex1};
  const float vc = d1 * d4 - d3 * d2;
  if (vc <= 0.0f && d1 >= 0.0f && d3 <= 0.0f) {
    const float s = d1 / (d1 - d3);  // d1 - d3 = |ab|^2 > 0 (non-degenerate)
    return TriPoint{1.0f - s, s, 0.0f, kEdge0};
  }
  const V3 cp = p - c;
  const float d5 = dot(ab, cp), d6 = dot(ac, cp);
  if (d6 >= 0.0f && d5 <= d6) return TriPoint{0.0f, 0.0f, 1.0f, kVertex2};
  const float vb = d5 * d2 - d1 * d6;
  if (vb <= 0.0f && d2 >= 0.0f && d6 <= 0.0f) {
    const float s = d2 / (d2 - d6);  // = |ac|^2 > 0
    return TriPoint{1.0f - s, 0.0f, s, kEdge2};
  }
  const float va = d3 * d6 - d5 * d4;
  const float e43 = d4 - d3, e56 = d5 - d6;
  if (va <= 0.0f && e43 >= 0.0f && e56 >= 0.0f) {
    const float den = e43 + e56;  // = |bc|^2 > 0
    const float s = den > 0.0f ? e43 / den : 0.0f;
    return TriPoint{0.0f, 1.0f - s, s, kEdge1};
  }
  const float den = va + vb + vc;  // = |ab x ac|^2 up to rounding
  const float inv = den > 0.0f ? 1.0f / den : 0.0f;
  const float v = vb * inv, w = vc * inv;
  return TriPoint{1.0f - v - w, v, w, kFace};
}

// The same test on a BVH slot (kTriStride floats: a, b, c, |ab|^2 or -1 if degenerate, ab.ac, |ac|^2),
// using bp = ap - ab and cp = ap - ac to get d3..d6 from d1, d2 and the stored products.
EF_INLINE TriPoint closest_on_slot(V3 p, const float* t) {
  const V3 a = load3(t), b = load3(t + 3), c = load3(t + 6);
  if (t[9] < 0.0f) return closest_on_degenerate(p, a, b, c);
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
