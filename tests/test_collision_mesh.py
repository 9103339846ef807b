"""Mesh collision vs MuJoCo C: a mesh collides through its convex hull (collision_convex,
collision_gjk). Plane-mesh contact sets (count, dist, pos, frame, in MuJoCo's order) on random poses of
small inline meshes (a box-like hull, a tetrahedron, an irregular hull of random points), both
backends; mesh pairs without a narrowphase rejected by name.

Poses come from our float32 kinematics of the same qpos, so flat-on-the-floor poses (exact
ties between hull vertices, broken by rounding) are avoided: tilts of at least 0.05 rad.
"""

import zlib

import mujoco
import numpy as np
import pytest

import pywarp_sim as pws
from pywarp_sim.errors import UnsupportedModelError

from backends import BACKENDS, simulator
from tolerances import CONTACT_DIST_TOL, CONTACT_FRAME_TOL, CONTACT_POS_TOL

NWORLD = 48
_RNG = np.random.default_rng(19)
MESHES = {
  "box": [(x, y, z) for x in (-.1, .1) for y in (-.05, .05) for z in (-.03, .03)],
  "tetra": [(0, 0, 0), (.1, 0, 0), (0, .1, 0), (0, 0, .1)],
  "irregular": (_RNG.normal(size=(80, 3)) * [.1, .06, .04]).tolist(),
}


def _mesh_xml(name, other="", gravity="0 0 -9.81"):
  verts = " ".join(f"{v:.6f}" for p in MESHES[name] for v in p)
  return (f'<mujoco><option gravity="{gravity}"/><asset><mesh name="m" vertex="{verts}"/></asset>'
          f'<worldbody>{other}<body name="b"><freejoint/><geom type="mesh" mesh="m"/></body>'
          f'</worldbody></mujoco>')


def _tilted_quats(rng, n):
  q = rng.normal(size=(n, 4))
  q /= np.linalg.norm(q, axis=1, keepdims=True)
  for w in range(n // 3):  # nearly flat: a face on the floor, tilted 0.05 .. 0.15 rad
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = rng.uniform(0.05, 0.15)
    q[w] = np.r_[np.cos(ang / 2), np.sin(ang / 2) * axis]
  return q


def _compare(sim, mjm, qpos, label):
  mjd = mujoco.MjData(mjm)
  sim.qpos[:] = __import__("torch").as_tensor(qpos, dtype=sim.qpos.dtype)
  sim.forward()
  c = sim.data.contact
  ncon = c.ncon.numpy()
  dist, pos, frame = c.dist.numpy(), c.pos.numpy(), c.frame.numpy()
  for w in range(qpos.shape[0]):
    mjd.qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, mjd)
    assert ncon[w] == mjd.ncon, f"{label} world {w}: {ncon[w]} contacts, MuJoCo {mjd.ncon}"
    for k, con in enumerate(mjd.contact[:mjd.ncon]):
      assert abs(dist[w, k] - con.dist) < CONTACT_DIST_TOL, (label, w, k)
      np.testing.assert_allclose(pos[w, k], con.pos, atol=CONTACT_POS_TOL, err_msg=f"{label} {w} {k}")
      np.testing.assert_allclose(np.asarray(frame[w, k]).reshape(9)[:3], con.frame[:3],
                                 atol=CONTACT_FRAME_TOL, err_msg=f"{label} {w} {k}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mesh", list(MESHES))
@pytest.mark.parametrize("margin", [0.0, 0.01])
def test_plane_mesh_contacts(backend, mesh, margin):
  mjm = mujoco.MjModel.from_xml_string(
    _mesh_xml(mesh, f'<geom type="plane" size="5 5 .1" margin="{margin}"/>'))
  rng = np.random.default_rng(zlib.crc32(f'{mesh}/{margin}'.encode()))
  qpos = np.tile(mjm.qpos0, (NWORLD, 1))
  qpos[:, 3:7] = _tilted_quats(rng, NWORLD)
  mjd = mujoco.MjData(mjm)
  verts = mjm.mesh_vert.astype(np.float64)
  for w in range(NWORLD):  # lowest vertex 5 mm below the plane .. 10 mm above it
    mjd.qpos[:] = qpos[w]
    mujoco.mj_kinematics(mjm, mjd)
    low = (verts @ mjd.geom_xmat[1].reshape(3, 3).T)[:, 2].min()
    qpos[w, 2] = -low + rng.uniform(-0.005, 0.01)
  _compare(simulator(mjm, NWORLD, backend), mjm, qpos, f"plane-{mesh}")


def test_mesh_pair_without_narrowphase_rejected():
  mjm = mujoco.MjModel.from_xml_string(
    _mesh_xml("box", '<body name="a"><freejoint/><geom name="cap" type="capsule" size=".02 .05"/></body>'))
  with pytest.raises(UnsupportedModelError, match="'cap'.*multicontact over mesh polygons"):
    pws.put_model(mjm, "cpu")
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_MULTICCD)
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    assert pws.put_model(mjm, "cpu").collision.npair == 1
