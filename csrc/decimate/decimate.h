// SPDX-License-Identifier: Apache-2.0
// Quadric-error-metric edge-collapse decimation that keeps a manifold mesh manifold.
//
// After Garland & Heckbert 1997, "Surface Simplification Using Quadric Error Metrics" (SIGGRAPH
// '97): per-vertex sums of area-weighted plane quadrics, edge collapses in order of the quadric
// error of the optimal merged position. Every collapse is checked with the link condition of Dey,
// Edelsbrunner, Guha & Nekhayev 1999, "Topology Preserving Edge Contraction" (an open border is
// closed by a virtual cone vertex), so a closed 2-manifold stays a closed 2-manifold of the same
// topology, with no pinched edges or vertices; and by a normal-flip / sliver test.
//
// Host code only, by design: greedy edge collapse is a sequential, pointer-chasing algorithm (each
// collapse changes the costs and the validity of its neighbours), so there is no CUDA path. It is
// single-threaded and deterministic (ties in the queue are broken by vertex index).
#pragma once

#include <cstdint>
#include <vector>

namespace ef {
namespace decimate {

struct Params {
  int64_t target_faces = 0;       // stop when at most this many faces remain
  bool preserve_border = false;   // never move or remove a vertex on an open border
  double area_floor = 0.5;        // a face plane weighs max(area, area_floor x mean face area)
  double border_weight = 1.0;     // weight of the border-constraint planes (x squared edge length)
  double min_normal_cos = 0.2;    // refuse a collapse turning a face normal by more than acos(this)
  double min_quality = 0.02;      // refuse a collapse making a face worse than this (and worse
                                  // than it was); quality = 4 sqrt(3) area / sum of squared edges
  int queue_bits = 0;             // cost resolution of the queue: 2^queue_bits buckets per
                                  // octave, 0..8 (8: exact greedy order to 0.4%; 0: faster)
};

struct Stats {
  int64_t collapses = 0;
  int64_t rejected_link = 0;      // link condition (would pinch or change topology)
  int64_t rejected_geometry = 0;  // normal flip or sliver
  int64_t stale = 0;              // queue entries of removed vertices
  int64_t requeued = 0;           // queue entries whose cost grew since (lazy re-evaluation)
  int64_t passes = 0;             // queue refills (1 + the times the queue ran dry early)
  int64_t relaxed = 0;            // geometric tests relaxed after a pass without a collapse
  int64_t frozen_vertices = 0;    // non-manifold input vertices (left as they are)
  int64_t dropped_faces = 0;      // input faces with a repeated vertex index (removed)
  double seconds_setup = 0, seconds_fill = 0, seconds_collapse = 0, seconds_output = 0;
};

struct Result {
  std::vector<double> vertices;   // (V', 3)
  std::vector<int32_t> faces;     // (F', 3), input orientation kept
  std::vector<int32_t> source;    // (V',) the input vertex each output vertex continues
  Stats stats;
};

// vertices (nv, 3), faces (nf, 3) with indices in [0, nv). Throws ef::ValueError on bad sizes or
// indices and non-finite coordinates. Output: the referenced vertices of the decimated mesh, in
// input order, and the surviving faces in input order.
//
// Stops at target_faces, or earlier when no collapse passes the checks: then the sliver test is
// dropped, then normals may turn by up to 90 degrees (min_normal_cos 0), before giving up. A
// closed component keeps at least a tetrahedron (the link condition refuses to fold it flat).
//
// Non-manifold input: a vertex with an edge shared by more than two faces, or whose faces form
// more than one fan, is "frozen": no edge touching it is collapsed; the rest is decimated (and the
// target may then not be reached). Faces with a repeated vertex index are dropped.
//
// Deterministic: the setup runs on the CPU thread pool (per vertex, order-independent), the
// collapses sequentially; the result does not depend on the thread count.
Result decimate(const double* vertices, int64_t nv, const int32_t* faces, int64_t nf, const Params& params);

}  // namespace decimate
}  // namespace ef
