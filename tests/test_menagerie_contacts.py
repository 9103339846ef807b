"""Mesh-mesh contacts of Menagerie robots in the dropped and tumbling states where our contact
count once differed from MuJoCo C's (bench.models' states), when PWS_MENAGERIE points at a
mujoco_menagerie checkout (not part of the repository; skipped otherwise).

In both, EPA's first contact is a hull vertex of one geom on a hull polygon of the other, and
several of the polygons through the vertex are within mjFACE_TOL of antiparallel to that
polygon (finely tessellated hulls). MuJoCo 4.0 clips the most nearly antiparallel pair (its
contacts in these states are that pair's); taking the first pair in feature order (the
published 3.x alignedFaces) clipped a triangle that keeps one contact where MuJoCo has three
(Talos' hips) or four contacts at another face's normal, 0.028 rad off, where MuJoCo has three
(G1's hip and wrist). With MuJoCo's choice both match its three contacts (pos and dist to ~1e-7
m) and every one of the 16 states of both scenes has MuJoCo's contact count, on both backends.
"""

import os

import mujoco
import numpy as np
import pytest

from bench import models
from tolerances import CONTACT_DIST_TOL, CONTACT_POS_TOL

MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (as tests/test_menagerie_models.py)
PATH = os.environ.get(MENAGERIE_ENV)
pytestmark = pytest.mark.skipif(not PATH, reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")

# (robot, scene, index in bench.models.tumbling_states, the two colliding meshes' bodies)
CASES = [("unitree_g1", "scene.xml", 5, ("right_hip_pitch_link", "right_wrist_yaw_link")),
         ("pal_talos", "scene_motor.xml", 12, ("leg_left_3_link", "leg_right_3_link"))]


def _mesh_geoms(m, bodies) -> tuple:
  """The colliding mesh geom of each body (one per body in these scenes)."""
  out = []
  for name in bodies:
    b = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)
    geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] == b and (m.geom_contype[g] or m.geom_conaffinity[g])
             and m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
    assert len(geoms) == 1, (name, geoms)
    out.append(geoms[0])
  return tuple(sorted(out))


@pytest.mark.parametrize("robot,scene,state,bodies", CASES, ids=[c[0] for c in CASES])
def test_discrete_mesh_pair_matches_mujoco(robot, scene, state, bodies):
  mjm = mujoco.MjModel.from_xml_path(os.path.join(PATH, robot, scene))
  sts = models.tumbling_states(mjm)
  m = models.converged(mjm)
  pair = _mesh_geoms(m, bodies)
  mjd = mujoco.MjData(m)
  mjd.qpos[:], mjd.qvel[:], mjd.ctrl[:], mjd.act[:], mjd.qacc_warmstart[:] = sts[state]
  mujoco.mj_forward(m, mjd)
  ref = [c for c in mjd.contact[:mjd.ncon] if tuple(sorted(c.geom)) == pair]
  assert len(ref) > 1, f"{robot}: state {state} must hold MuJoCo's face contact of {bodies}"
  for backend in models.BACKENDS:
    sim = models.simulator(m, 1, backend)
    d = sim.data
    for name, k, size in (("qpos", 0, m.nq), ("qvel", 1, m.nv), ("ctrl", 2, m.nu), ("act", 3, m.na),
                          ("qacc_warmstart", 4, m.nv)):
      if size:
        getattr(d, name).assign(np.asarray(sts[state][k], np.float32)[None])
    d.contact.pos.fill_(np.nan)
    d.contact.dist.fill_(np.nan)
    sim.forward()
    ncon = int(d.contact.ncon.numpy()[0])
    geom, pos = d.contact.geom.numpy()[0, :ncon], d.contact.pos.numpy()[0, :ncon]
    dist = d.contact.dist.numpy()[0, :ncon]
    ours = [k for k in range(ncon) if tuple(sorted(int(g) for g in geom[k])) == pair]
    assert ncon == mjd.ncon and len(ours) == len(ref), (robot, backend, ncon, mjd.ncon, len(ours), len(ref))
    for k, c in zip(ours, ref):  # MuJoCo's order within the pair
      assert np.abs(pos[k] - c.pos).max() < CONTACT_POS_TOL, (robot, backend, pos[k], c.pos)
      assert abs(dist[k] - c.dist) < CONTACT_DIST_TOL, (robot, backend, dist[k], c.dist)


@pytest.mark.parametrize("robot,scene", [c[:2] for c in CASES], ids=[c[0] for c in CASES])
def test_contact_counts_in_every_state(robot, scene):
  mjm = mujoco.MjModel.from_xml_path(os.path.join(PATH, robot, scene))
  sts = models.tumbling_states(mjm)
  m = models.converged(mjm)
  for backend in models.BACKENDS:
    rows = models.compare_states(m, backend, sts, sensors="skip")["states"]
    bad = [(k, r["ncon"], r["ncon_mujoco"]) for k, r in enumerate(rows) if r["ncon"] != r["ncon_mujoco"]]
    assert not bad, (robot, backend, bad)
