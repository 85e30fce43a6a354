// SPDX-License-Identifier: Apache-2.0
// The adaptive hierarchy of the Poisson solver, built on the host.
//
// Level l is the 2^l grid of cells over the unit cube, with degree-1 (trilinear hat) basis
// functions at the (2^l + 1)^3 lattice nodes. Levels <= full_depth are dense. At a finer level only
// *active* cells exist: the (2 band + 1)^3 cell neighbourhood (5^3 by default) of every sample
// whose splat level is >= l (splat levels: see prepare_samples in octree.cpp).
// That rule nests by itself (a sample's neighbourhood at level l+1 lies inside its neighbourhood at
// level l), so every active cell's parent is active. The function is built coarse to fine:
//   chi_l = chi_{l-1} + sum over *free* nodes a of level l of x_a * phi_a,
// where a node is free when all its cells inside the domain are active. A free node's hat vanishes
// on the boundary of the active region, so chi_l = chi_{l-1} there: the final function is
// continuous everywhere, and outside the active region of level l it is exactly the trilinear
// function of a coarser level (no hanging-node constraints are needed). This is the nested,
// adaptive space of Kazhdan and Hoppe (2013), with hat functions instead of their B-splines.
//
// Storage per level: active cells as sorted Morton keys (so the samples of a cell are a contiguous
// range of the Morton-sorted samples, at every level), their 8 corner-node indices, nodes as packed
// keys in Morton order; open-addressing hash tables key -> index only for the evaluation after the
// solve. Everything is numbered by sorting, so it does not depend on thread count or hash order.
//
// Memory: the peak is the largest level's build (its splatted normal field and the field's gradient
// integrals) or its solve (5 CG vectors). What a level keeps is only what a later phase reads: the
// splatted field is folded into the level's right side b and the next level's field as soon as the
// level is built (a scalar per node instead of a vector), the density likewise (float), the
// prolongation children only until the build ends, the hash tables only after the solve (see
// Level); ~110 bytes per active cell at the peak.
#pragma once

#include <cstdint>
#include <vector>

#include "../csrc/core/backend.h"
#include "../csrc/core/large_alloc.h"

namespace ef {
namespace poisson {

// The hierarchy's arrays: large ones are mapped pages, returned to the system when freed (see
// large_alloc.h), so each phase's peak is what it holds, not what earlier phases left in the heap.
template <class T>
using Vec = LargeVector<T>;

constexpr int kMaxDepth = 16;
constexpr uint64_t kEmptyKey = ~uint64_t(0);
// The normal splat's smoothing filter (a, 1 - 2a, a) per axis (build_levels in octree.cpp).
constexpr double kSplatSmoothing = 0.25;
// Samples with an opposite-facing sample (normals' dot product below this) within their area
// ball are "thin" and splatted unsmoothed.
constexpr double kThinDot = -0.5;
// Adaptive screening (prepare_samples in octree.cpp): at most kScreenBoost times the weight where
// the samples lie on a local plane, fading as their scatter along the normal reaches
// kScreenNoise of a cell of their splat level.
constexpr double kScreenBoost = 5.0;
constexpr double kScreenNoise = 0.3;

EF_INLINE uint64_t spread3(uint64_t v) {  // bits of v (<= 21) to every third bit
  v &= 0x1fffff;
  v = (v | (v << 32)) & 0x1f00000000ffffULL;
  v = (v | (v << 16)) & 0x1f0000ff0000ffULL;
  v = (v | (v << 8)) & 0x100f00f00f00f00fULL;
  v = (v | (v << 4)) & 0x10c30c30c30c30c3ULL;
  v = (v | (v << 2)) & 0x1249249249249249ULL;
  return v;
}
EF_INLINE uint64_t compact3(uint64_t v) {
  v &= 0x1249249249249249ULL;
  v = (v ^ (v >> 2)) & 0x10c30c30c30c30c3ULL;
  v = (v ^ (v >> 4)) & 0x100f00f00f00f00fULL;
  v = (v ^ (v >> 8)) & 0x1f0000ff0000ffULL;
  v = (v ^ (v >> 16)) & 0x1f00000000ffffULL;
  v = (v ^ (v >> 32)) & 0x1fffff;
  return v;
}
EF_INLINE uint64_t morton(uint64_t x, uint64_t y, uint64_t z) { return spread3(x) | (spread3(y) << 1) | (spread3(z) << 2); }
EF_INLINE void unmorton(uint64_t k, int64_t* c) {
  c[0] = (int64_t)compact3(k);
  c[1] = (int64_t)compact3(k >> 1);
  c[2] = (int64_t)compact3(k >> 2);
}
EF_INLINE uint64_t pack_node(int64_t x, int64_t y, int64_t z) {
  return (uint64_t)x | ((uint64_t)y << 21) | ((uint64_t)z << 42);
}
EF_INLINE void unpack_node(uint64_t k, int64_t* c) {
  c[0] = (int64_t)(k & 0x1fffff);
  c[1] = (int64_t)((k >> 21) & 0x1fffff);
  c[2] = (int64_t)((k >> 42) & 0x1fffff);
}
EF_INLINE uint64_t hash_slot(uint64_t key, int bits) { return (key * 0x9E3779B97F4A7C15ULL) >> (64 - bits); }

// Read-only view of a hash table (usable on either backend): key -> its index in the sorted key
// array. A slot holds only the index (4 bytes, -1 when empty); the key is compared through the
// key array the table was built on (the level's cell_key / node_key), so the table costs a third
// of a key + value table.
struct HashView {
  const uint64_t* keys = nullptr;   // the sorted keys
  const int32_t* slots = nullptr;
  int bits = 1;
  EF_INLINE int32_t find(uint64_t key) const {
    const uint64_t mask = (uint64_t(1) << bits) - 1;
    uint64_t s = hash_slot(key, bits);
    for (;;) {
      const int32_t i = slots[s];
      if (i < 0) return -1;
      if (keys[i] == key) return i;
      s = (s + 1) & mask;
    }
  }
};

// Open addressing, linear probing, load <= 2/3. Keys are inserted in sorted order (deterministic).
// The key array must outlive the table and stay unchanged (a moved std::vector keeps its buffer).
struct HashTable {
  Vec<int32_t> slots;
  const uint64_t* keys = nullptr;
  int bits = 1;
  void build(const Vec<uint64_t>& sorted_keys);
  HashView view() const { return HashView{keys, slots.data(), bits}; }
  int32_t find(uint64_t key) const { return view().find(key); }
};

// A list of cells grouped for race-free parallel passes: blocks of 2^s x 2^s x 2^s cells (runs of
// consecutive entries, the list being in Morton order), and the blocks by the parity of their block
// coordinates. Two blocks of one parity are at least one block apart, so they share no node: a
// pass runs the blocks of one parity in parallel, the cells of a block in order on one thread.
// Against a colouring by cell parity (every 8th cell in Morton order per pass, each node's line
// fetched in all 8 passes), a block's cells share their corners in cache: the stiffness product
// of the CG ran 2-3x faster with 4^3 blocks. Deterministic: each node sums its cells in a fixed
// order. s = Tree::block_shift.
struct Blocks {
  Vec<int32_t> start;     // (blocks + 1): first list index of each block
  Vec<int32_t> perm;      // the blocks, grouped by parity
  int64_t off[9] = {0};   // parity k: perm[off[k] .. off[k + 1])
};

struct Level {
  int l = 0;
  int64_t res = 1;                    // cells per axis, 2^l
  double h = 1;                       // cell width (unit cube)
  Vec<uint64_t> cell_key;     // Morton, sorted
  Vec<int32_t> cell_corner;   // 8 per cell, corner k = (dx | dy << 1 | dz << 2)
  Blocks blocks;               // of the cells, for the parallel passes
  // The cells holding samples (the screening term), in order: cell scell[j] holds the sorted
  // samples [sbeg[j], send[j]). Most active cells hold none (the band).
  Vec<int32_t> scell, sbeg, send;
  Blocks sblocks;              // of the list scell
  int64_t samples_in_cells = 0;
  Vec<uint64_t> node_key;     // pack_node, in Morton order
  Vec<uint8_t> node_free;     // 1: unknown at this level
  Vec<int32_t> node_parent;   // an active cell of level l-1 containing the node (-1 at l=0)
  Vec<int32_t> kid_off;       // (cells + 1): nodes of level l+1 whose node_parent is the cell,
  Vec<int32_t> kids;          //   as CSR (filled when level l+1 is built; build only)
  Vec<double> b;              // right side of the level's system (all splat levels), built
                                      //   with the hierarchy, freed by the solve
  // Key -> index tables for the point evaluation and the extraction. The build and the solve
  // address everything by index, so they are made after the solve (rebuild_tables), when the
  // solver's vectors are gone: the tables never add to the peak memory.
  HashTable cell_hash, node_hash;
  // Solver output
  Vec<double> U;              // chi_l at the nodes
  Vec<float> D;               // density field (all samples splatted at levels <= l); float:
                                      //   it only ranks vertices for trimming
  int iterations = 0;
  int64_t ncells() const { return (int64_t)cell_key.size(); }
  int64_t nnodes() const { return (int64_t)node_key.size(); }
  int64_t cells_with_samples() const { return (int64_t)scell.size(); }
};

struct Samples {
  int64_t n = 0;
  Vec<double> pos;     // (n, 3) unit cube, Morton-sorted
  Vec<double> w;       // (n,) confidence
  Vec<int32_t> order;  // sorted position -> input index
  Vec<uint64_t> key;   // Morton key at the finest level
  Vec<int8_t> level;   // splat level
  Vec<double> area;    // A_i
  Vec<uint8_t> thin;   // 1: an opposite-facing sample is near (see kThinDot)
  Vec<double> dev;     // rms offset along the normal of the same-facing samples in the area ball
  Vec<double> ws;      // screening weight (w scaled by the local scatter, see kScreenBoost)
};

struct Tree {
  int depth = 0;        // requested depth D
  int full_depth = 0;   // min(full_depth, D)
  int finest = 0;       // finest level with active cells
  int band = 1;         // sparse levels: (2 band + 1)^3 cells around each sample's cell
  int block_shift = 2;  // Blocks of 2^s cells per axis (CPU 2; CUDA 1: more, smaller tasks)
  double alpha = 0;
  Samples s;
  Vec<Level> levels;
};

// Sorts and classifies the samples (splat levels, areas); returns the estimated bytes the tree and
// solve will need (before anything large is allocated).
// groups: (n,) density groups 0 .. ngroups - 1 (see Inputs), or null.
int64_t prepare_samples(Tree& t, const double* unit_pos, const double* unit_normals, const double* conf,
                        const int32_t* groups, int32_t ngroups, int64_t n, int depth, int full_depth,
                        double samples_per_node, double point_weight, int band);
// Builds the levels (cells, nodes, colours, splats and each level's right side b and density D);
// *splat_seconds gets the time of the splats and right sides.
void build_levels(Tree& t, const double* unit_normals_unsorted, double* splat_seconds);
// Resident and peak memory of the process in MiB (Linux /proc; 0 elsewhere), for EF_POISSON_PROFILE.
void resident_memory_mib(long* rss, long* peak);
// Builds every level's cell and node tables (for eval_point and extract).
void rebuild_tables(Tree& t);
// chi at a unit-cube point (finest level whose active cell contains it).
double eval_point(const Tree& t, const double* p, bool density);
// Marching cubes on a virtual uniform lattice (see extract() for its level), visiting only the
// cells whose function can cross the iso-value.
void extract(const Tree& t, double iso, Vec<double>& verts_unit, Vec<int32_t>& faces,
             Vec<double>& density);

}  // namespace poisson
}  // namespace ef
