"""The midphase's oriented-box filter (MuJoCo's mj_collideOBB on geom_aabb, which mj_collideTree
applies after the bounding spheres to the dynamic pairs of bodies with several geoms): which
pairs carry it (pairs.obb), that the contacts of both backends stay MuJoCo's with it, and that
on the native step it only skips pairs: the contacts are the ones found with the filter off,
bit for bit.

Two free bodies, each a thin rod-like mesh hull and a capsule (so both bodies have two geoms and
MuJoCo reaches their pairs through the midphase), over a floor, in random poses packed so that
many pairs have overlapping bounding spheres but apart boxes.
"""

import zlib

import mujoco
import numpy as np
import pytest
import torch

from pywarp_sim.types import Collider

from backends import BACKENDS, simulator
from tolerances import CONTACT_DIST_TOL

NWORLD = 96
# a rod of random points: long in x, thin in y and z, so its bounding sphere is much larger
# than its box
_ROD = (np.random.default_rng(7).uniform(-1, 1, size=(40, 3)) * [.15, .02, .015]).tolist()


def _xml(margin: float) -> str:
  verts = " ".join(f"{v:.6f}" for p in _ROD for v in p)
  body = ('<body name="{n}"><freejoint/><geom name="{n}_rod" type="mesh" mesh="rod"/>'
          f'<geom name="{{n}}_cap" type="capsule" size=".01 .06" pos="0 .04 0" euler="0 90 0" margin="{margin}"/>'
          '</body>')
  return (f'<mujoco><option gravity="0 0 0"><flag multiccd="disable"/></option>'
          f'<asset><mesh name="rod" vertex="{verts}"/></asset><worldbody>'
          f'<geom type="plane" size="2 2 .1" pos="0 0 -.12"/>{body.format(n="a")}{body.format(n="b")}'
          f'</worldbody></mujoco>')


def _poses(mjm, n, seed):
  rng = np.random.default_rng(seed)
  qpos = np.tile(mjm.qpos0, (n, 1))
  for j in range(2):
    qpos[:, 7 * j:7 * j + 3] = rng.normal(0, 0.06, (n, 3))
    q = rng.normal(size=(n, 4))
    qpos[:, 7 * j + 3:7 * j + 7] = q / np.linalg.norm(q, axis=1, keepdims=True)
  return qpos


def _boxes_apart(mjm, mjd, g1, g2, margin):
  """mj_collideOBB's separating-axis test over both boxes' face axes, from MuJoCo's float64
  geom_aabb and poses: True when an axis separates the boxes by more than margin."""
  aabb = [mjm.geom_aabb[g] for g in (g1, g2)]
  mat = [mjd.geom_xmat[g].reshape(3, 3) for g in (g1, g2)]
  center = [mat[i] @ aabb[i][:3] + mjd.geom_xpos[g] for i, g in enumerate((g1, g2))]
  for j in range(2):
    for k in range(3):
      n = mat[j][:, k]
      radius = sum(np.abs(aabb[i][3:] * (mat[i].T @ n)).sum() for i in range(2))
      if radius + margin < abs((center[1] - center[0]) @ n):
        return True
  return False


def _contacts(sim):
  c = sim.data.contact
  return {k: getattr(c, k).numpy().copy() for k in ("ncon", "dist", "pos", "frame", "geom")}


def test_obb_flags_follow_mujocos_midphase():
  """pairs.obb: the GJK/EPA pairs among the dynamic pairs between bodies with a BVH, not both
  single-geom; <pair> elements and (midphase disabled) no pair carry it."""
  mjm = mujoco.MjModel.from_xml_string(_xml(0.0))
  host = simulator(mjm, 1, "warp").model.collision.host
  convex = host["collider"] == int(Collider.CONVEX)
  assert convex.any() and not convex.all()
  np.testing.assert_array_equal(host["obb"], convex, "every pair of this model goes through mj_collideTree")
  single = mujoco.MjModel.from_xml_string(
    '<mujoco><worldbody><geom type="plane" size="1 1 .1"/><body><freejoint/><geom size=".1"/></body>'
    '<body pos=".3 0 0"><freejoint/><geom size=".1"/></body></worldbody></mujoco>')
  assert not simulator(single, 1, "warp").model.collision.host["obb"].any(), "single-geom bodies"
  off = mujoco.MjModel.from_xml_string(_xml(0.0).replace('<flag multiccd="disable"/>',
                                                          '<flag multiccd="disable" midphase="disable"/>'))
  assert not simulator(off, 1, "warp").model.collision.host["obb"].any(), "midphase disabled"
  explicit = mujoco.MjModel.from_xml_string(_xml(0.0).replace(
    "</worldbody>", '</worldbody><contact><pair geom1="a_rod" geom2="b_cap"/></contact>'))
  h = simulator(explicit, 1, "warp").model.collision.host
  assert not h["obb"][h["ipair"] >= 0].any(), "<pair> elements: bounding spheres only"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("margin", [0.0, 0.01])
def test_box_filter_keeps_mujocos_contacts(backend, margin):
  mjm = mujoco.MjModel.from_xml_string(_xml(margin))
  qpos = _poses(mjm, NWORLD, zlib.crc32(f"midphase/{margin}".encode()))
  sim = simulator(mjm, NWORLD, backend)
  pairs = sim.model.collision
  g1s, g2s = pairs.host["geom1"], pairs.host["geom2"]
  sim.qpos[:] = torch.as_tensor(qpos, dtype=sim.qpos.dtype)
  sim.forward()
  on = _contacts(sim)

  mjd = mujoco.MjData(mjm)
  filtered, compared = 0, 0
  for w in range(NWORLD):
    mjd.qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, mjd)
    for p in range(pairs.npair):
      g1, g2 = int(g1s[p]), int(g2s[p])
      m = float(pairs.host["margin"][p] + pairs.host["gap"][p])
      rb = mjm.geom_rbound[g1] + mjm.geom_rbound[g2] + m
      dif = mjd.geom_xpos[g1] - mjd.geom_xpos[g2]
      if pairs.host["obb"][p] and dif @ dif <= rb * rb:
        filtered += _boxes_apart(mjm, mjd, g1, g2, m)
    if any(abs(c.dist) < CONTACT_DIST_TOL for c in mjd.contact[:mjd.ncon]):
      continue  # touching: whether the contact exists is rounding-dependent
    compared += 1
    ours = sorted(map(tuple, on["geom"][w, :on["ncon"][w]].tolist()))
    ref = sorted((int(c.geom1), int(c.geom2)) for c in mjd.contact[:mjd.ncon])
    assert ours == ref, f"world {w}: contacts between {ours}, MuJoCo {ref}"
  assert compared >= NWORLD * 3 // 4
  assert filtered >= NWORLD, f"poses must exercise the box filter (bounding spheres overlap, boxes apart): {filtered}"
  assert on["ncon"].sum() >= NWORLD, "poses must make contacts"

  # the filter only skips pairs: with it off the same contacts come out, bit for bit
  pairs.obb.zero_()
  sim.forward()
  off = _contacts(sim)
  np.testing.assert_array_equal(on["ncon"], off["ncon"])
  for w in range(NWORLD):
    n = on["ncon"][w]
    for k in ("dist", "pos", "frame", "geom"):
      np.testing.assert_array_equal(on[k][w, :n], off[k][w, :n], err_msg=f"world {w} {k}")
