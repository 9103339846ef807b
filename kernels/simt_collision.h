// Native-only: kernels/collision_driver.h's collision (whose Warp reference is collision_driver.py)
// on a group of lanes, the GPU step's direction; pywarp_sim/simt.py runs it over a Simulator.
// mj_collision of ONE world on a group of lanes (kernels/simt.h): the static candidate pair list
// of the native driver, its bounding-sphere / plane half-space filter, the midphase's box test and
// the narrowphase of each pair, the contacts written in the driver's order, so d.con_* holds the
// native CPU step's contacts bit for bit:
//
//   filter        pairs over lanes, N at a time: collision_driver.h's pair_has_bound /
//                 pair_apart, then sphere_filter (the same float expressions), then (kConvexPairs) the
//                 midphase's obb_apart for the pairs of pair_obb; the survivors' pair ids
//                 compacted in pair order into `candidates` by a ballot (a lane's slot is the
//                 number of surviving lanes below it)
//   narrowphase   survivors over lanes, N at a time: each lane runs the narrowphase of its pair
//                 (collision_driver.h's switch over collision_primitive.h's colliders, and with
//                 kConvexPairs collision_convex.h's convex_narrowphase for Collider CONVEX pairs: the
//                 functions the native driver calls) into its own contact buffer
//   contacts      an inclusive prefix sum of the lanes' contact counts gives each lane its first
//                 contact index (survivors are in pair order, lanes in survivor order: the
//                 driver's order); a lane writes its contacts below nconmax, frame from
//                 make_frame, friction mixed from this world's geom frictions for dynamic pairs
//   overflow      every contact found is counted; more than nconmax sets con_overflow and counts
//                 one event (once per step, as the driver: begin_step clears the flag)
//
// Two instances (template kConvexPairs), picked by ModelView::has_convex: without convex pairs the
// kernel has only the primitive colliders, as before the convex path existed (no EPA scratch, no
// larger contact buffer). With them (GJK/EPA, multicontact, meshes, height fields), each lane of
// the narrowphase holds convex_narrowphase's EPA work buffer (ccd::EpaWork, sizeof 29,608 bytes
// with ccd::kCcdMaxIterations = 50: local memory on the GPU) and a contact buffer of kMaxConPair
// contacts (a height-field pair's most, 50 x 40 bytes) instead of kMaxPairContacts (ptxas, nvcc 13
// sm_90, simt::step<true> at 8 lanes: 39,744 bytes of stack per thread against step<false>'s 4,496,
// 80 registers both). The convex collider computes in float64 and reads the mesh / height-field
// tables and, in obb_apart, the geom frames directly, not through the group: the recorder counts
// its float loads of the pair's frames, not that float64 arithmetic nor those reads (the
// collision stage's figures of a model with convex pairs leave the GJK/EPA work out).
//
// Per-model schedule data: none beyond the Model view. Scratch: `candidates`, npair ints
// (collision_scratch_ints), the group's own (its shared array on the GPU: filled and read within
// the call, dead afterwards; e.g. reinterpret_cast<int*>(g.shared) where nothing else lives there
// at that point of the step, as after the smooth stage, which copies qM and its factor out). The
// contact buffers are per lane (kMaxPairContacts, or kMaxConPair with kConvexPairs, contacts of 10
// floats: local memory on the GPU).
//
// The caller runs it where forward.h's forward_rest runs collision (under m.en_constraint), after
// the smooth stage wrote geom_xpos / geom_xmat.
#pragma once

#include "collision_driver.h"
#include "simt.h"
#include "simt_smooth.h"
#include "types.h"

namespace pws {

#if !defined(__CUDACC__)
// The colliders' tolerances for the counting float (the recorded emulation): float's values.
template <>
struct ColTol<simt::Counted> {
  static constexpr float minval = ColTol<float>::minval;
  static constexpr float parallel = ColTol<float>::parallel;
  static constexpr float sepeps = ColTol<float>::sepeps, pareps = ColTol<float>::pareps,
                         sgneps = ColTol<float>::sgneps, dupeps = ColTol<float>::dupeps,
                         edgebias = ColTol<float>::edgebias;
};
#endif

namespace simt {

#if !defined(__CUDACC__)
// |x| and atan2 of the counting float: one counted operation each (the float results)
inline Counted pws_abs(Counted x) { return Counted::op(fabsf(x.v)); }
inline Counted pws_atan2(Counted y, Counted x) { return Counted::op(atan2f(y.v, x.v)); }
#endif

// Stages of the recorder (Recorder::Stats per stage)
enum : int { kCollisionStageFilter = 0, kCollisionStageNarrowphase = 1, kCollisionStageContacts = 2 };

// ints of the `candidates` scratch collision needs
PWS_HD inline int collision_scratch_ints(const ModelView<float>& m) { return m.npair; }

// Number of set bits (integer arithmetic, not counted).
PWS_HD inline int popcount(unsigned x) {
#if defined(__CUDA_ARCH__)
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}

// Lane l's value of v, in every lane (one shuffle).
template <typename G, typename T>
PWS_SIMT_FN inline T from_lane(const G& g, const Reg<T, G::size>& v, int l) {
  Reg<int, G::size> src;
  g.lanes([&](int k) { src[k] = l; });
  return g.shfl(v, src)[0];
}

// One lane's narrowphase output: kCap contacts (kMaxPairContacts for the primitive colliders,
// kMaxConPair with the convex collider).
template <typename R, int kCap = kMaxPairContacts>
struct PairContacts {
  PreContact<R> c[kCap];
};

// Collider CONVEX of pair (g1, g2) on one lane: collision_driver.h's call of convex_narrowphase
// (float64 GJK/EPA, multicontact, mesh and height-field colliders) on the float frames the lane
// loaded; up to kMaxConPair contacts into out. R = float (a template, so that a unit without the
// convex instance instantiates none of it).
template <typename R>
PWS_SIMT_FN inline int convex_contacts(const ModelView<float>& m, PreContact<R>* out, R margin, int g1,
                                       const Vec3<R>& pos1, const Mat33<R>& mat1, int g2, const Vec3<R>& pos2,
                                       const Mat33<R>& mat2) {
  return convex_narrowphase(m, out, margin, g1, pos1, mat1, g2, pos2, mat2);
}

#if !defined(__CUDACC__)
// The same for the counting float (the recorded emulation; a non-template, so overload
// resolution prefers it): the call on the float values, its contacts back in the counting float
// (the float64 collider's arithmetic is not counted).
inline int convex_contacts(const ModelView<float>& m, PreContact<Counted>* out, Counted margin, int g1,
                           const Vec3<Counted>& pos1, const Mat33<Counted>& mat1, int g2, const Vec3<Counted>& pos2,
                           const Mat33<Counted>& mat2) {
  Vec3<float> p1, p2;
  Mat33<float> m1, m2;
  for (int i = 0; i < 3; ++i) {
    p1[i] = pos1[i].v;
    p2[i] = pos2[i].v;
  }
  for (int i = 0; i < 9; ++i) {
    m1.m[i] = mat1.m[i].v;
    m2.m[i] = mat2.m[i].v;
  }
  PreContact<float> f[kMaxConPair];
  const int n = convex_narrowphase(m, f, margin.v, g1, p1, m1, g2, p2, m2);
  for (int k = 0; k < n; ++k) {
    out[k].dist = Counted(f[k].dist);
    for (int i = 0; i < 3; ++i) {
      out[k].pos[i] = Counted(f[k].pos[i]);
      out[k].normal[i] = Counted(f[k].normal[i]);
      out[k].tangent[i] = Counted(f[k].tangent[i]);
    }
  }
  return n;
}
#endif

// The driver's contact record n of pair p from narrowphase contact `pc` (collision_driver.h's
// loop body), every store through the group.
template <typename G>
PWS_SIMT_FN inline void write_contact(G& g, const ModelView<float>& m, const World<float>& d, int n, int p, int g1,
                                      int g2, const PreContact<typename G::real>& pc) {
  using R = typename G::real;
  const R includemargin = g.ld(m.pair_margin + p);
  g.st(d.con_dist + n, pc.dist);
  st3(g, d.con_pos + 3 * n, pc.pos);
  st33(g, d.con_frame + 9 * n, make_frame(pc.normal, pc.tangent));
  g.st(d.con_includemargin + n, includemargin);
  // dynamic pairs mix this world's geom frictions (max, or the higher-priority geom's)
  const int fg1 = g.ld(m.pair_friction_geom + 2 * p), fg2 = g.ld(m.pair_friction_geom + 2 * p + 1);
  if (fg1 >= 0) {
    const R minmu = R(1e-5f);
    R f[3];
    for (int i = 0; i < 3; ++i) {
      R a = g.ld(d.geom_friction + 3 * fg1 + i), b = g.ld(d.geom_friction + 3 * fg2 + i);
      f[i] = a > b ? a : b;
      f[i] = f[i] > minmu ? f[i] : minmu;
    }
    const R fr[5] = {f[0], f[0], f[1], f[2], f[2]};
    for (int i = 0; i < 5; ++i) g.st(d.con_friction + 5 * n + i, fr[i]);
  } else {
    for (int i = 0; i < 5; ++i) g.st(d.con_friction + 5 * n + i, g.ld(m.pair_friction + 5 * p + i));
  }
  for (int i = 0; i < 2; ++i) g.st(d.con_solref + 2 * n + i, g.ld(m.pair_solref + 2 * p + i));
  for (int i = 0; i < 2; ++i) g.st(d.con_solreffriction + 2 * n + i, g.ld(m.pair_solreffriction + 2 * p + i));
  for (int i = 0; i < 5; ++i) g.st(d.con_solimp + 5 * n + i, g.ld(m.pair_solimp + 5 * p + i));
  g.st(d.con_dim + n, g.ld(m.pair_condim + p));
  g.st(d.con_geom + 2 * n, g1);
  g.st(d.con_geom + 2 * n + 1, g2);
  g.st(d.con_exclude + n, pc.dist >= includemargin ? 1 : 0);
  g.st(d.con_pair + n, p);
}

// mj_collision of one world on group g (collision_driver.h's collision; kConvexPairs = false leaves the
// CONVEX collider, its EPA scratch and the midphase box test out, as collision_driver.h's
// kConvexPairs does: for models without convex pairs, ModelView::has_convex = 0): writes con_ncon and
// the first nconmax contacts in pair order, con_overflow and con_overflow_count as the driver
// does. candidates: npair ints of scratch (collision_scratch_ints).
template <bool kConvexPairs = false, typename G>
PWS_SIMT_FN inline void collision(G& g, const ModelView<float>& m, const World<float>& d, int* candidates) {
  using R = typename G::real;
  constexpr int N = G::size;
  g.stage(kCollisionStageFilter);
  if (!m.collision_on) {
    g.each(1, [&](int) {
      g.st(d.con_ncon, 0);
      g.st(d.con_overflow, 0);
    });
    return;
  }
  // survivors of the bounding-sphere and plane tests, in pair order
  int nsurv = 0;
  for (int p0 = 0; p0 < m.npair; p0 += N) {
    const int n = m.npair - p0 < N ? m.npair - p0 : N;
    Reg<bool, N> keep;
    g.lanes([&](int l) { keep[l] = false; });
    g.each(n, [&](int i) {
      const int p = p0 + i;
      const int g1 = g.ld(m.pair_geom1 + p), g2 = g.ld(m.pair_geom2 + p);
      const R rb1 = g.ld(m.geom_rbound + g1), rb2 = g.ld(m.geom_rbound + g2);
      const R margin = g.ld(m.pair_margin + p) + g.ld(m.pair_gap + p);
      const Vec3<R> pos1 = ld3(g, d.geom_xpos + 3 * g1), pos2 = ld3(g, d.geom_xpos + 3 * g2);
      bool apart = false;
      if (rb1 > R(0) && rb2 > R(0)) {  // pair_has_bound, pair_apart
        Vec3<R> dif = pos1 - pos2;
        R bound = rb1 + rb2 + margin;
        apart = dot(dif, dif) > bound * bound;
      }
      if (!apart)
        apart = sphere_filter(g.ld(m.geom_type + g1), g.ld(m.geom_type + g2), pos1, ld33(g, d.geom_xmat + 9 * g1), rb1,
                              pos2, ld33(g, d.geom_xmat + 9 * g2), rb2, margin);
      if constexpr (kConvexPairs) {  // the midphase's box test (collision_driver.h obb_apart, float64)
        if (!apart && g.ld(m.pair_obb + p)) apart = obb_apart(m, d, p);
      }
      keep[g.lane()] = !apart;
    });
    const unsigned mask = g.ballot(keep);
    g.each(n, [&](int i) {
      if (mask & (1u << i)) g.st(candidates + nsurv + popcount(mask & ((1u << i) - 1u)), p0 + i);
    });
    nsurv += popcount(mask);
  }

  // narrowphase of the survivors, N at a time; contacts numbered by a prefix sum of the counts
  int total = 0;  // contacts found so far (written while below nconmax)
  for (int s0 = 0; s0 < nsurv; s0 += N) {
    const int n = nsurv - s0 < N ? nsurv - s0 : N;
    Reg<PairContacts<R, kConvexPairs ? kMaxConPair : kMaxPairContacts>, N> buf;
    Reg<int, N> cnt;
    g.lanes([&](int l) { cnt[l] = 0; });
    g.stage(kCollisionStageNarrowphase);
    g.each(n, [&](int i) {
      const int p = g.ld(candidates + s0 + i);
      const int g1 = g.ld(m.pair_geom1 + p), g2 = g.ld(m.pair_geom2 + p);
      const R margin = g.ld(m.pair_margin + p) + g.ld(m.pair_gap + p);
      const int l = g.lane();
      if constexpr (kConvexPairs) {
        const int collider = g.ld(m.pair_collider + p);
        if (collider == kConvex) {
          cnt[l] = convex_contacts(m, buf[l].c, margin, g1, ld3(g, d.geom_xpos + 3 * g1), ld33(g, d.geom_xmat + 9 * g1),
                                   g2, ld3(g, d.geom_xpos + 3 * g2), ld33(g, d.geom_xmat + 9 * g2));
        } else {
          cnt[l] = narrowphase(collider, buf[l].c, margin, ld3(g, d.geom_xpos + 3 * g1), ld33(g, d.geom_xmat + 9 * g1),
                               ld3(g, m.geom_size + 3 * g1), ld3(g, d.geom_xpos + 3 * g2),
                               ld33(g, d.geom_xmat + 9 * g2), ld3(g, m.geom_size + 3 * g2));
        }
      } else {
        cnt[l] = narrowphase(g.ld(m.pair_collider + p), buf[l].c, margin, ld3(g, d.geom_xpos + 3 * g1),
                             ld33(g, d.geom_xmat + 9 * g1), ld3(g, m.geom_size + 3 * g1), ld3(g, d.geom_xpos + 3 * g2),
                             ld33(g, d.geom_xmat + 9 * g2), ld3(g, m.geom_size + 3 * g2));
      }
    });
    g.stage(kCollisionStageContacts);
    const Reg<int, N> end = inclusive_scan(g, cnt);
    g.each(n, [&](int i) {
      const int l = g.lane();
      const int p = g.ld(candidates + s0 + i);
      const int g1 = g.ld(m.pair_geom1 + p), g2 = g.ld(m.pair_geom2 + p);
      for (int k = 0, c = total + end[l] - cnt[l]; k < cnt[l] && c < m.nconmax; ++k, ++c)
        write_contact(g, m, d, c, p, g1, g2, buf[l].c[k]);
    });
    total += from_lane(g, end, N - 1);
  }

  g.stage(kCollisionStageContacts);
  g.each(1, [&](int) {
    g.st(d.con_ncon, total < m.nconmax ? total : m.nconmax);
    // con_overflow covers every collision pass of a step (forward.h's begin_step clears it)
    if (total > m.nconmax && g.ld(d.con_overflow) == 0) {
      g.st(d.con_overflow, 1);
      atomic_add_int(d.con_overflow_count, 1);
    }
  });
}

}  // namespace simt
}  // namespace pws
