// Native-only: smooth.h's stages on a group of lanes (the GPU step's direction); its Warp
// reference is smooth.py, and pywarp_sim/simt.py runs it over a Simulator.
// The smooth stages of ONE world on a group of lanes (kernels/simt.h): kinematics, com_pos,
// crb + the tree L'DL factor of qM, com_vel and rne (smooth_stages in kernels/forward.h), with
// bodies, joints, dofs, geoms and sites over lanes and the kinematic tree processed level by
// level. The GPU-oriented twin of kernels/smooth.h: same formulas per element, same order of
// every sum, so the results are smooth.h's bit for bit except where a hinge angle goes through
// sin/cos (simt::sincos, same bits on CUDA and the CPU, within 2 ulp of sinf/cosf).
//
// Tree passes (levels computed once per model on the host, build_tree):
//   forward (kinematics, com_vel, rne's cacc)  one phase per depth level, a lane per body; what
//                                              is off the chain from the root runs in one phase
//                                              over all elements before or after (the joints' local
//                                              rotations and axes, the inertial, geom and site
//                                              frames, rne's cfrc_int)
//   backward (subtree mass and com, crb,       one phase per depth level, a lane per parent
//   rne's cfrc_int)                            summing its children in descending body index
//                                              (the order of smooth.h's reverse body loop)
//   qM                                         a lane per nonzero (i, j <= i) of the lower triangle
//   L'DL                                       for k = nv-1 .. 0: a lane per update (i, j) with i an
//                                              ancestor of k and j an ancestor of i (or i): the
//                                              updates of one k touch different entries and read
//                                              row k only, so they run together; entries that
//                                              smooth.h's dense loop updates by tmp * 0 are skipped
// qM and its factor live in the group's shared array (nv * nv + 6 * nv floats, shared_floats);
// before crb, kinematics keeps the joints' local rotations there (4 floats per joint).
// Everything else is read and written in the world's Data arrays, like the scalar stage.
#pragma once

#include "simt.h"
#include "step_math.h"
#include "types.h"

// host only (TreeHost, build_tree); nvcc compiles them for the host side of simt_launch.cu
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace pws {
namespace simt {

// The stage indices of the recorder (Recorder::Stats per stage)
enum : int { kStageKinematics = 0, kStageComPos = 1, kStageCrb = 2, kStageFactor = 3, kStageComVel = 4, kStageRne = 5 };

// Per-model schedule: int arrays (host or device memory), from build_tree. Every slice a phase
// reads with consecutive lanes (a level's bodies, a factor step's pairs, a dof's ancestors, a dof
// level) starts on a multiple of kSectorFloats entries, so a phase's lanes read whole 32-byte
// sectors from its start; the entries between one slice's end and the next slice's start are
// padding, never read: each slice has its start (*_adr) and its count (*_num).
struct Tree {
  int nlevel;                // depth levels; level 0 is the world body
  const int* level_adr;      // (nlevel) bodies of level L: level_body[level_adr[L] .. + level_num[L])
  const int* level_num;      // (nlevel)
  const int* level_body;     // bodies by depth, then index (each level from a sector)
  const int* parent_adr;     // (nlevel) bodies with children of level L: parent_body[parent_adr[L] ..
  const int* parent_num;     // (nlevel)   + parent_num[L])
  const int* parent_body;    // (each level from a sector)
  const int* child_adr;      // (nbody + 1) children of b: child_body[child_adr[b] .. child_adr[b + 1])
  const int* child_body;     // (nbody) in descending index (read a lane per parent: not padded)
  int nmpair;                // nonzeros (i, j <= i) of qM's lower triangle
  const int* m_pair_i;       // (nmpair) the i of every pair
  const int* m_pair_j;       // (nmpair) the j of every pair (from a sector: lanes reading pairs
                             //   p, p + 1, ... read consecutive ints of each)
  const int* fstep_adr;      // (nv + 1) factor step s (k = s - 1): its slice of fstep_i / fstep_j
  const int* fstep_nf;       // (nv + 1) the L'DL updates of k (0 for s = 0)
  const int* fstep_na;       // (nv + 1) the ancestors of s, whose row s is scaled (0 for s = nv)
  const int* fstep_i;        // fstep_i[fstep_adr[s] + p]: p < nf the i of update p of k, then p - nf
                             //   the ancestor of s (its anc_dof order)
  const int* fstep_j;        // fstep_j[fstep_adr[s] + p], p < nf: the j of update p of k
  const int* anc_adr;        // (nv) ancestors of dof k: anc_dof[anc_adr[k] .. + anc_num[k])
  const int* anc_num;        // (nv)
  const int* anc_dof;        //   from the parent up (descending index; each dof's from a sector)
  int ndlevel;               // depth levels of the dof tree (0: the roots; 0 when nv == 0)
  const int* dlevel_adr;     // (ndlevel) dofs of depth L: dlevel_dof[dlevel_adr[L] .. + dlevel_num[L])
  const int* dlevel_num;     // (ndlevel)
  const int* dlevel_dof;     // dofs by depth, then index: a level's dofs share no ancestor path
};

PWS_HD inline int shared_floats(int nv) { return nv * nv + 6 * nv; }

// The schedule as one int buffer (copied to the device as is): a header of kTreeHeader ints
// (nlevel, nmpair, ndlevel, then the offsets of Tree's kTreeArrays arrays in the buffer), then the
// arrays, each from a multiple of kSectorFloats ints, their padded slices too (Tree): with the
// buffer on a 32-byte boundary (the host's SectorAllocator, the device buffer's offset) lanes
// reading consecutive entries of a slice from its start read whole sectors.
constexpr int kTreeArrays = 21;
constexpr int kTreeHeader = 3 + kTreeArrays;

// Tree's view of such a buffer (host or device memory; read where it lies).
PWS_HD inline Tree tree_view(const int* buf) {
  const int* o = buf + 3;
  return Tree{buf[0],      buf + o[0],  buf + o[1],  buf + o[2],  buf + o[3],  buf + o[4],  buf + o[5],
              buf + o[6],  buf + o[7],  buf[1],      buf + o[8],  buf + o[9],  buf + o[10], buf + o[11],
              buf + o[12], buf + o[13], buf + o[14], buf + o[15], buf + o[16], buf + o[17], buf[2],
              buf + o[18], buf + o[19], buf + o[20]};
}

// Host memory on a 32-byte sector boundary (malloc gives 16): the emulation's tables then sit on
// sectors as the device's (cudaMalloc: 256), and the address recorder counts what the GPU would.
template <typename T>
struct SectorAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = 4 * kSectorFloats;
  SectorAllocator() = default;
  template <typename U>
  SectorAllocator(const SectorAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kAlign))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(kAlign)); }
  template <typename U>
  bool operator==(const SectorAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const SectorAllocator<U>&) const { return false; }
};

struct TreeHost {
  std::vector<int, SectorAllocator<int>> buf;  // a multiple of kSectorFloats ints
  Tree view() const { return tree_view(buf.data()); }
};

// nbody >= 1 with body_parentid[0] == 0 and parents before children (MuJoCo's order); same for
// dof_parentid (-1 at a root). Throws std::invalid_argument on anything else.
inline TreeHost build_tree(int nbody, const int* body_parentid, int nv, const int* dof_parentid) {
  if (nbody < 1) throw std::invalid_argument("simt tree: nbody must be >= 1");
  std::vector<int> depth(nbody, 0);
  int nlevel = 1;
  for (int b = 1; b < nbody; ++b) {
    int p = body_parentid[b];
    if (p < 0 || p >= b)
      throw std::invalid_argument("simt tree: body " + std::to_string(b) + " has parent " + std::to_string(p) +
                                  " (parents must come before children)");
    depth[b] = depth[p] + 1;
    nlevel = depth[b] + 1 > nlevel ? depth[b] + 1 : nlevel;
  }
  for (int i = 0; i < nv; ++i)
    if (dof_parentid[i] >= i)
      throw std::invalid_argument("simt tree: dof " + std::to_string(i) + " has parent " +
                                  std::to_string(dof_parentid[i]));
  std::vector<std::vector<int>> arrays(kTreeArrays);
  auto& level_adr = arrays[0];
  auto& level_num = arrays[1];
  auto& level_body = arrays[2];
  auto& parent_adr = arrays[3];
  auto& parent_num = arrays[4];
  auto& parent_body = arrays[5];
  auto& child_adr = arrays[6];
  auto& child_body = arrays[7];
  auto& m_pair_i = arrays[8];
  auto& m_pair_j = arrays[9];
  auto& fstep_adr = arrays[10];
  auto& fstep_nf = arrays[11];
  auto& fstep_na = arrays[12];
  auto& fstep_i = arrays[13];
  auto& fstep_j = arrays[14];
  auto& anc_adr = arrays[15];
  auto& anc_num = arrays[16];
  auto& anc_dof = arrays[17];
  auto& dlevel_adr = arrays[18];
  auto& dlevel_num = arrays[19];
  auto& dlevel_dof = arrays[20];
  // a slice's start: the array padded (zeros, never read) to a multiple of kSectorFloats
  auto pad = [](auto& v) { v.resize((v.size() + kSectorFloats - 1) / kSectorFloats * kSectorFloats, 0); };
  std::vector<int> nchild(nbody, 0);
  for (int b = 1; b < nbody; ++b) nchild[body_parentid[b]]++;
  for (int level = 0; level < nlevel; ++level) {
    pad(level_body);
    pad(parent_body);
    level_adr.push_back(int(level_body.size()));
    parent_adr.push_back(int(parent_body.size()));
    for (int b = 0; b < nbody; ++b)
      if (depth[b] == level) {
        level_body.push_back(b);
        if (nchild[b]) parent_body.push_back(b);
      }
    level_num.push_back(int(level_body.size()) - level_adr.back());
    parent_num.push_back(int(parent_body.size()) - parent_adr.back());
  }
  for (int b = 0; b < nbody; ++b) {
    child_adr.push_back(int(child_body.size()));
    for (int c = nbody - 1; c > 0; --c)
      if (body_parentid[c] == b) child_body.push_back(c);
  }
  child_adr.push_back(int(child_body.size()));
  // qM's pairs by column j, then row i (each entry is computed alone: any order gives its bits):
  // a phase's consecutive items share j, so the lanes' loads of cdof j are one address
  int nmpair = 0;
  for (int j = 0; j < nv; ++j)
    for (int i = j; i < nv; ++i) {
      int a = i;
      while (a > j) a = dof_parentid[a];
      if (a != j) continue;  // j is not i or an ancestor of i
      m_pair_i.push_back(i);
      m_pair_j.push_back(j);
      ++nmpair;
    }
  // the ancestors of each dof, from the parent up
  std::vector<std::vector<int>> anc(nv);
  for (int k = 0; k < nv; ++k)
    for (int i = dof_parentid[k]; i >= 0; i = dof_parentid[i]) anc[k].push_back(i);
  for (int k = 0; k < nv; ++k) {
    pad(anc_dof);
    anc_adr.push_back(int(anc_dof.size()));
    anc_num.push_back(int(anc[k].size()));
    anc_dof.insert(anc_dof.end(), anc[k].begin(), anc[k].end());
  }
  // factor step s = k + 1: the updates (i, j) of k (i an ancestor of k, j = i or an ancestor of
  // i), then the ancestors of s; fstep_j alongside fstep_i (its entries past the updates unread)
  for (int s = 0; s <= nv; ++s) {
    pad(fstep_i);
    fstep_j.resize(fstep_i.size(), 0);
    fstep_adr.push_back(int(fstep_i.size()));
    int nf = 0;
    if (s > 0)
      for (int i : anc[s - 1])
        for (int j = i; j >= 0; j = dof_parentid[j]) {
          fstep_i.push_back(i);
          fstep_j.push_back(j);
          ++nf;
        }
    const int na = s < nv ? int(anc[s].size()) : 0;
    if (s < nv) fstep_i.insert(fstep_i.end(), anc[s].begin(), anc[s].end());
    fstep_nf.push_back(nf);
    fstep_na.push_back(na);
  }
  fstep_j.resize(fstep_i.size(), 0);
  std::vector<int> dof_depth(nv, 0);
  int ndlevel = 0;
  for (int i = 0; i < nv; ++i) {
    dof_depth[i] = dof_parentid[i] < 0 ? 0 : dof_depth[dof_parentid[i]] + 1;
    ndlevel = dof_depth[i] + 1 > ndlevel ? dof_depth[i] + 1 : ndlevel;
  }
  for (int level = 0; level < ndlevel; ++level) {
    pad(dlevel_dof);
    dlevel_adr.push_back(int(dlevel_dof.size()));
    for (int i = 0; i < nv; ++i)
      if (dof_depth[i] == level) dlevel_dof.push_back(i);
    dlevel_num.push_back(int(dlevel_dof.size()) - dlevel_adr.back());
  }
  TreeHost t;
  t.buf.assign(kTreeHeader, 0);
  t.buf[0] = nlevel;
  t.buf[1] = nmpair;
  t.buf[2] = ndlevel;
  for (int a = 0; a < kTreeArrays; ++a) {
    pad(t.buf);
    t.buf[3 + a] = int(t.buf.size());
    t.buf.insert(t.buf.end(), arrays[a].begin(), arrays[a].end());
  }
  pad(t.buf);
  return t;
}

// ---- loads and stores of small vectors through the group (recorded on the CPU) --------------

template <typename G>
PWS_SIMT_FN inline Vec3<typename G::real> ld3(const G& g, const float* p) {
  return Vec3<typename G::real>{{g.ld(p), g.ld(p + 1), g.ld(p + 2)}};
}
template <typename G>
PWS_SIMT_FN inline Quat<typename G::real> ld4(const G& g, const float* p) {
  return Quat<typename G::real>{{g.ld(p), g.ld(p + 1), g.ld(p + 2), g.ld(p + 3)}};
}
template <typename G>
PWS_SIMT_FN inline Mat33<typename G::real> ld33(const G& g, const float* p) {
  Mat33<typename G::real> r;
  for (int i = 0; i < 9; ++i) r.m[i] = g.ld(p + i);
  return r;
}
template <typename G>
PWS_SIMT_FN inline Vec6<typename G::real> ld6(const G& g, const float* p) {
  Vec6<typename G::real> r;
  for (int i = 0; i < 6; ++i) r[i] = g.ld(p + i);
  return r;
}
template <typename G, typename R>
PWS_SIMT_FN inline void st3(const G& g, float* p, const Vec3<R>& a) {
  for (int i = 0; i < 3; ++i) g.st(p + i, a[i]);
}
template <typename G, typename R>
PWS_SIMT_FN inline void st4(const G& g, float* p, const Quat<R>& a) {
  for (int i = 0; i < 4; ++i) g.st(p + i, a[i]);
}
template <typename G, typename R>
PWS_SIMT_FN inline void st33(const G& g, float* p, const Mat33<R>& a) {
  for (int i = 0; i < 9; ++i) g.st(p + i, a.m[i]);
}
template <typename G, typename R>
PWS_SIMT_FN inline void st6(const G& g, float* p, const Vec6<R>& a) {
  for (int i = 0; i < 6; ++i) g.st(p + i, a[i]);
}

// step_math.h's axis_angle_quat with simt::sincos (same bits on both targets)
template <typename R>
PWS_SIMT_FN inline Quat<R> axis_angle_quat_simt(const Vec3<R>& axis, R angle) {
  R s, c;
  sincos(R(0.5) * angle, &s, &c);
  return Quat<R>{{c, axis[0] * s, axis[1] * s, axis[2] * s}};
}

// ---- mj_kinematics (smooth.h kinematics) ------------------------------------------------------

template <typename G>
PWS_SIMT_FN inline void frame_pose(const G& g, const float* xpos, const float* xquat, const float* xmat,
                                   const float* obj_pos, const float* obj_quat, float* obj_xpos, float* obj_xmat) {
  auto q = ld4(g, xquat);
  st3(g, obj_xpos, ld3(g, xpos) + mul(ld33(g, xmat), ld3(g, obj_pos)));
  st33(g, obj_xmat, quat_to_mat(quat_unit(quat_mul(q, ld4(g, obj_quat)))));
}

template <typename G>
PWS_SIMT_FN inline void kinematics(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  g.stage(kStageKinematics);
  // the world body's frames, and every hinge's and ball's local rotation off the tree's chain
  // (qloc: 4 floats per joint in the group's shared array, free until crb)
  float* qloc_all = g.shared;
  g.each(m.njnt + 1, [&](int j) {
    if (j == m.njnt) {
      st3(g, d.xpos, zero3<R>());
      st4(g, d.xquat, Quat<R>{{R(1), R(0), R(0), R(0)}});
      st33(g, d.xmat, identity33<R>());
      st3(g, d.xipos, zero3<R>());
      st33(g, d.ximat, identity33<R>());
      return;
    }
    const int jtype = g.ld(m.jnt_type + j);
    if (jtype != kJointBall && jtype != kJointHinge) return;
    const int qadr = g.ld(m.jnt_qposadr + j);
    st4(g, qloc_all + 4 * j,
        jtype == kJointBall
            ? quat_unit(ld4(g, d.qpos + qadr))
            : axis_angle_quat_simt(ld3(g, m.jnt_axis + 3 * j), g.ld(d.qpos + qadr) - g.ld(m.qpos0 + qadr)));
  });
  for (int level = 1; level < t.nlevel; ++level) {
    const int adr = t.level_adr[level];
    g.each(t.level_num[level], [&](int i) {
      const int b = g.ld(t.level_body + adr + i);
      const int pid = g.ld(m.body_parentid + b);
      Vec3<R> xpos = ld3(g, d.xpos + 3 * pid) + mul(ld33(g, d.xmat + 9 * pid), ld3(g, m.body_pos + 3 * b));
      Quat<R> xquat = quat_mul(ld4(g, d.xquat + 4 * pid), ld4(g, m.body_quat + 4 * b));
      const int jntadr = g.ld(m.body_jntadr + b), jntnum = g.ld(m.body_jntnum + b);
      for (int j = jntadr; j < jntadr + jntnum; ++j) {
        const int qadr = g.ld(m.jnt_qposadr + j);
        const int jtype = g.ld(m.jnt_type + j);
        if (jtype == kJointFree) {
          xpos = Vec3<R>{{g.ld(d.qpos + qadr), g.ld(d.qpos + qadr + 1), g.ld(d.qpos + qadr + 2)}};
          xquat = quat_unit(ld4(g, d.qpos + qadr + 3));
          st3(g, d.xanchor + 3 * j, xpos);
          st3(g, d.xaxis + 3 * j, ld3(g, m.jnt_axis + 3 * j));
        } else {
          Vec3<R> jpos = ld3(g, m.jnt_pos + 3 * j);
          Vec3<R> xanchor = rot_vec_quat(jpos, xquat) + xpos;
          st3(g, d.xanchor + 3 * j, xanchor);
          if (jtype == kJointSlide) {
            Vec3<R> xaxis = rot_vec_quat(ld3(g, m.jnt_axis + 3 * j), xquat);
            st3(g, d.xaxis + 3 * j, xaxis);
            xpos = xpos + xaxis * (g.ld(d.qpos + qadr) - g.ld(m.qpos0 + qadr));
          } else {
            // a hinge's or ball's xaxis needs the frame before its rotation only: that frame
            // replaces qloc in the shared array, and the last phase rotates the axis
            Quat<R> before = xquat;
            xquat = quat_mul(xquat, ld4(g, qloc_all + 4 * j));
            st4(g, qloc_all + 4 * j, before);
            xpos = xanchor - rot_vec_quat(jpos, xquat);
          }
        }
      }
      xquat = quat_unit(xquat);
      st3(g, d.xpos + 3 * b, xpos);
      st4(g, d.xquat + 4 * b, xquat);
      st33(g, d.xmat + 9 * b, quat_to_mat(xquat));
    });
  }
  // off the chain, one phase: geom frames, site frames, the bodies' inertial frames (they read
  // the bodies' frames only), then the hinges' and balls' axes
  const int ngeom = m.ngeom, nsite = m.nsite, nbody = m.nbody;
  g.each(ngeom + nsite + nbody - 1 + m.njnt, [&](int i) {
    if (i >= ngeom + nsite + nbody - 1) {
      const int j = i - (ngeom + nsite + nbody - 1), jtype = g.ld(m.jnt_type + j);
      if (jtype == kJointBall || jtype == kJointHinge)
        st3(g, d.xaxis + 3 * j, rot_vec_quat(ld3(g, m.jnt_axis + 3 * j), ld4(g, qloc_all + 4 * j)));
    } else if (i < ngeom) {
      const int b = g.ld(m.geom_bodyid + i);
      frame_pose(g, d.xpos + 3 * b, d.xquat + 4 * b, d.xmat + 9 * b, m.geom_pos + 3 * i, m.geom_quat + 4 * i,
                 d.geom_xpos + 3 * i, d.geom_xmat + 9 * i);
    } else if (i < ngeom + nsite) {
      const int s = i - ngeom, b = g.ld(m.site_bodyid + s);
      frame_pose(g, d.xpos + 3 * b, d.xquat + 4 * b, d.xmat + 9 * b, m.site_pos + 3 * s, m.site_quat + 4 * s,
                 d.site_xpos + 3 * s, d.site_xmat + 9 * s);
    } else {
      const int b = i - ngeom - nsite + 1;
      Quat<R> xquat = ld4(g, d.xquat + 4 * b);
      st3(g, d.xipos + 3 * b, ld3(g, d.xpos + 3 * b) + mul(ld33(g, d.xmat + 9 * b), ld3(g, d.body_ipos + 3 * b)));
      st33(g, d.ximat + 9 * b, quat_to_mat(quat_mul(xquat, ld4(g, m.body_iquat + 4 * b))));
    }
  });
}

// ---- mj_comPos (smooth.h com_pos) ------------------------------------------------------------

template <typename G>
PWS_SIMT_FN inline void com_pos(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  g.stage(kStageComPos);
  g.each(m.nbody, [&](int b) {
    R mass = g.ld(d.body_mass + b);
    st3(g, d.subtree_com + 3 * b, ld3(g, d.xipos + 3 * b) * mass);
    g.st(d.subtree_mass + b, mass);
  });
  // children into parents, deepest level first; each parent adds its children in descending
  // index (smooth.h's loop from nbody - 1 down)
  for (int level = t.nlevel - 2; level >= 0; --level) {
    const int adr = t.parent_adr[level];
    g.each(t.parent_num[level], [&](int i) {
      const int p = g.ld(t.parent_body + adr + i);
      Vec3<R> com = ld3(g, d.subtree_com + 3 * p);
      R mass = g.ld(d.subtree_mass + p);
      const int c0 = g.ld(t.child_adr + p), c1 = g.ld(t.child_adr + p + 1);
      for (int c = c0; c < c1; ++c) {
        const int b = g.ld(t.child_body + c);
        com = com + ld3(g, d.subtree_com + 3 * b);
        mass += g.ld(d.subtree_mass + b);
      }
      st3(g, d.subtree_com + 3 * p, com);
      g.st(d.subtree_mass + p, mass);
    });
  }
  g.each(m.nbody, [&](int b) {
    R mass = g.ld(d.subtree_mass + b);
    bool light = mass < R(1e-15);
    Vec3<R> own = ld3(g, d.xipos + 3 * b), com = ld3(g, d.subtree_com + 3 * b) / mass;
    st3(g, d.subtree_com + 3 * b, Vec3<R>{{pws_select(light, own[0], com[0]), pws_select(light, own[1], com[1]),
                                          pws_select(light, own[2], com[2])}});
  });
  g.each(m.nbody, [&](int b) {
    Vec3<R> dif = ld3(g, d.xipos + 3 * b) - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + b));
    R out[10];
    inert_com(out, ld3(g, d.body_inertia + 3 * b), ld33(g, d.ximat + 9 * b), dif, g.ld(d.body_mass + b));
    for (int k = 0; k < 10; ++k) g.st(d.cinert + 10 * b + k, out[k]);
  });
  g.each(m.njnt, [&](int j) {
    const int b = g.ld(m.jnt_bodyid + j);
    int dofadr = g.ld(m.jnt_dofadr + j);
    Vec3<R> offset = ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + b)) - ld3(g, d.xanchor + 3 * j);
    const int jtype = g.ld(m.jnt_type + j);
    if (jtype == kJointFree) {
      for (int i = 0; i < 3; ++i) {
        Vec3<R> l = zero3<R>();
        l[i] = R(1);
        st6(g, d.cdof + 6 * (dofadr + i), spatial(zero3<R>(), l));
      }
      dofadr += 3;
    }
    if (jtype == kJointFree || jtype == kJointBall) {
      Mat33<R> xmat = ld33(g, d.xmat + 9 * b);
      for (int i = 0; i < 3; ++i) st6(g, d.cdof + 6 * (dofadr + i), dof_com(col(xmat, i), offset));
    } else if (jtype == kJointSlide) {
      st6(g, d.cdof + 6 * dofadr, spatial(zero3<R>(), ld3(g, d.xaxis + 3 * j)));
    } else {
      st6(g, d.cdof + 6 * dofadr, dof_com(ld3(g, d.xaxis + 3 * j), offset));
    }
  });
}

// ---- mj_crb and mj_factorM (smooth.h crb, factor_m); qM in the group's shared array ----------

template <typename G>
PWS_SIMT_FN inline void crb(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  g.stage(kStageCrb);
  const int nv = m.nv;
  float* qM = g.shared;            // (nv, nv)
  float* buf = g.shared + nv * nv;  // (nv, 6): crb of dof i's body times cdof i
  g.each(10 * m.nbody, [&](int e) { g.st(d.crb + e, g.ld(d.cinert + e)); });
  for (int level = t.nlevel - 2; level >= 1; --level) {  // the world body (level 0) takes nothing
    const int adr = t.parent_adr[level];
    g.each(t.parent_num[level], [&](int i) {
      const int p = g.ld(t.parent_body + adr + i);
      R acc[10];
      for (int k = 0; k < 10; ++k) acc[k] = g.ld(d.crb + 10 * p + k);
      const int c0 = g.ld(t.child_adr + p), c1 = g.ld(t.child_adr + p + 1);
      for (int c = c0; c < c1; ++c) {
        const int b = g.ld(t.child_body + c);
        for (int k = 0; k < 10; ++k) acc[k] += g.ld(d.crb + 10 * b + k);
      }
      for (int k = 0; k < 10; ++k) g.st(d.crb + 10 * p + k, acc[k]);
    });
  }
  g.each(nv * nv, [&](int e) { g.st(qM + e, R(0)); });
  g.each(nv, [&](int i) {
    const float* c = d.crb + 10 * g.ld(m.dof_bodyid + i);
    R inert[10];
    for (int k = 0; k < 10; ++k) inert[k] = g.ld(c + k);
    st6(g, buf + 6 * i, mul_inert_vec(inert, ld6(g, d.cdof + 6 * i)));
  });
  g.each(t.nmpair, [&](int p) {
    const int i = g.ld(t.m_pair_i + p), j = g.ld(t.m_pair_j + p);
    R mij = dot6(ld6(g, d.cdof + 6 * j), ld6(g, buf + 6 * i));
    g.st(qM + i * nv + j, mij);
    if (j != i) g.st(qM + j * nv + i, mij);
  });
  g.each(nv, [&](int i) { g.st(qM + i * nv + i, g.ld(qM + i * nv + i) + g.ld(d.dof_armature + i)); });
  each_sector(g, d.qM, nv * nv, [&](int e) { g.st(d.qM + e, g.ld(qM + e)); });
}

// The tree L'DL of the (nv, nv) array LD in the group's shared memory, in place (smooth.h
// factor_tree's updates, a lane per update of one k), then LD out to LD_out and the inverse pivots
// to diag_inv. factor_m runs it on qM; simt_step.h's implicit integrators on qH (their own
// destinations, so no World is copied to carry two other pointers: a kilobyte of stack on CUDA).
// The updates of k (entries (i, j) of k's ancestors, reading row k) and the scaling of row k + 1
// (after its updates) share a phase: the scaling touches row k + 1 only, which no update of k
// reads or writes (i, j < k).
template <typename G>
PWS_SIMT_FN inline void factor_shared(G& g, int nv, const Tree& t, float* LD, float* LD_out, float* diag_inv) {
  using R = typename G::real;
  for (int k = nv - 1; k >= -1; --k) {
    const int s = k + 1, f0 = t.fstep_adr[s], nf = t.fstep_nf[s], na = t.fstep_na[s];
    if (nf + na == 0) continue;  // k a root dof (no ancestors), k + 1 too
    g.each(nf + na, [&](int p) {
      // step s's slice from a sector: the updates' i, then the ancestors of s
      const int i = g.ld(t.fstep_i + f0 + p);
      if (p < nf) {
        const float* lk = LD + k * nv;
        const int j = g.ld(t.fstep_j + f0 + p);
        R tmp = g.ld(lk + i) / g.ld(lk + k);
        g.st(LD + i * nv + j, g.ld(LD + i * nv + j) - tmp * g.ld(lk + j));
      } else {
        const float* ls = LD + s * nv;
        g.st(LD + s * nv + i, g.ld(ls + i) / g.ld(ls + s));
      }
    });
  }
  // the inverse pivots and the copy out read the finished factor only; the copy's items from
  // `out`, which puts LD_out's sectors on consecutive lanes (each_sector), the slots between idle
  const int out = nv + (sector_offset(LD_out) - nv % kSectorFloats + kSectorFloats) % kSectorFloats;
  g.each(out + nv * nv, [&](int e) {
    if (e < nv)
      g.st(diag_inv + e, R(1) / g.ld(LD + e * nv + e));
    else if (e >= out)
      g.st(LD_out + e - out, g.ld(LD + e - out));
    g.reconverge();  // an idle slot's lane is masked off for that item's requests
  });
}

// L'DL of qM in place in the shared array (smooth.h factor_tree), then qLD and qLDiagInv out
template <typename G>
PWS_SIMT_FN inline void factor_m(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  g.stage(kStageFactor);
  factor_shared(g, m.nv, t, g.shared, d.qLD, d.qLDiagInv);
}

// ---- mj_comVel (smooth.h com_vel) ------------------------------------------------------------

template <typename G>
PWS_SIMT_FN inline void com_vel(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  g.stage(kStageComVel);
  g.each(1, [&](int) { st6(g, d.cvel, zero6<R>()); });
  for (int level = 1; level < t.nlevel; ++level) {
    const int adr = t.level_adr[level];
    g.each(t.level_num[level], [&](int i) {
      const int b = g.ld(t.level_body + adr + i);
      Vec6<R> cvel = ld6(g, d.cvel + 6 * g.ld(m.body_parentid + b));
      const int jntadr = g.ld(m.body_jntadr + b), jntnum = g.ld(m.body_jntnum + b);
      for (int j = jntadr; j < jntadr + jntnum; ++j) {
        int dofadr = g.ld(m.jnt_dofadr + j);
        const int jtype = g.ld(m.jnt_type + j);
        if (jtype == kJointFree) {
          for (int k = 0; k < 3; ++k) {
            st6(g, d.cdof_dot + 6 * (dofadr + k), zero6<R>());
            cvel = add6(cvel, scale6(ld6(g, d.cdof + 6 * (dofadr + k)), g.ld(d.qvel + dofadr + k)));
          }
          dofadr += 3;
        }
        if (jtype == kJointFree || jtype == kJointBall) {
          for (int k = 0; k < 3; ++k)
            st6(g, d.cdof_dot + 6 * (dofadr + k), cross_motion(cvel, ld6(g, d.cdof + 6 * (dofadr + k))));
          for (int k = 0; k < 3; ++k)
            cvel = add6(cvel, scale6(ld6(g, d.cdof + 6 * (dofadr + k)), g.ld(d.qvel + dofadr + k)));
        } else {
          Vec6<R> cdof = ld6(g, d.cdof + 6 * dofadr);
          st6(g, d.cdof_dot + 6 * dofadr, cross_motion(cvel, cdof));
          cvel = add6(cvel, scale6(cdof, g.ld(d.qvel + dofadr)));
        }
      }
      st6(g, d.cvel + 6 * b, cvel);
    });
  }
}

// ---- mj_rne without acceleration (smooth.h rne) ----------------------------------------------

template <typename G>
PWS_SIMT_FN inline void rne(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  g.stage(kStageRne);
  g.each(1, [&](int) {
    Vec3<R> grav = zero3<R>();
    if (m.en_gravity) grav = ld3(g, d.gravity);
    st6(g, d.cacc, spatial(zero3<R>(), -grav));
    st6(g, d.cfrc_int, zero6<R>());
  });
  for (int level = 1; level < t.nlevel; ++level) {
    const int adr = t.level_adr[level];
    g.each(t.level_num[level], [&](int i) {
      const int b = g.ld(t.level_body + adr + i);
      Vec6<R> cacc = ld6(g, d.cacc + 6 * g.ld(m.body_parentid + b));
      const int dofadr = g.ld(m.body_dofadr + b), dofnum = g.ld(m.body_dofnum + b);
      for (int k = dofadr; k < dofadr + dofnum; ++k)
        cacc = add6(cacc, scale6(ld6(g, d.cdof_dot + 6 * k), g.ld(d.qvel + k)));
      st6(g, d.cacc + 6 * b, cacc);
    });
  }
  // cfrc_int of every body from its cacc (off the tree's chain: one phase, a lane per body)
  g.each(m.nbody - 1, [&](int i) {
    const int b = i + 1;
    R cinert[10];
    for (int k = 0; k < 10; ++k) cinert[k] = g.ld(d.cinert + 10 * b + k);
    Vec6<R> cacc = ld6(g, d.cacc + 6 * b), cvel = ld6(g, d.cvel + 6 * b);
    st6(g, d.cfrc_int + 6 * b, add6(mul_inert_vec(cinert, cacc), cross_force(cvel, mul_inert_vec(cinert, cvel))));
  });
  for (int level = t.nlevel - 2; level >= 1; --level) {
    const int adr = t.parent_adr[level];
    g.each(t.parent_num[level], [&](int i) {
      const int p = g.ld(t.parent_body + adr + i);
      R acc[6];
      for (int k = 0; k < 6; ++k) acc[k] = g.ld(d.cfrc_int + 6 * p + k);
      const int c0 = g.ld(t.child_adr + p), c1 = g.ld(t.child_adr + p + 1);
      for (int c = c0; c < c1; ++c) {
        const int b = g.ld(t.child_body + c);
        for (int k = 0; k < 6; ++k) acc[k] += g.ld(d.cfrc_int + 6 * b + k);
      }
      for (int k = 0; k < 6; ++k) g.st(d.cfrc_int + 6 * p + k, acc[k]);
    });
  }
  g.each(m.nv, [&](int i) {
    g.st(d.qfrc_bias + i, dot6(ld6(g, d.cdof + 6 * i), ld6(g, d.cfrc_int + 6 * g.ld(m.dof_bodyid + i))));
  });
}

// smooth_stages (kernels/forward.h) of one world on group g; g.shared holds shared_floats(nv).
template <typename G>
PWS_SIMT_FN inline void smooth(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  kinematics(g, m, d, t);
  com_pos(g, m, d, t);
  crb(g, m, d, t);
  factor_m(g, m, d, t);
  com_vel(g, m, d, t);
  rne(g, m, d, t);
}

}  // namespace simt
}  // namespace pws
