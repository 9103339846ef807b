"""Height-field collision vs MuJoCo C (collision_convex: mjc_ConvexHField, MuJoCo 4.0's rules),
both backends: an inline height field of random elevations, each convex geom type dropped at
random poses onto it (contact sets: count, order, dist, pos, frame), a box, a sphere and a
capsule sliding over rough terrain (contacts and qacc at every step of MuJoCo's rollout), and
the bundled humanoid on a height-field floor (healthy steps).

Poses: x, y uniform over the field (a little beyond its edges), a random orientation, and the
height bisected with MuJoCo until the deepest contact lies at a random depth between 1 cm and
margin / 2 above touching: dropped states, not buried ones.
"""

import zlib

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim import models

from backends import BACKENDS, simulator
import oracle
from tolerances import (CONTACT_COUNT_AGREEMENT_MIN, CONTACT_DIST_TOL, CONVERGED_CONTACT_QACC_MAX_TOL,
                        EPA_DIST_TYPICAL_TOL, EPA_DIST_WORST_TOL, EPA_NORMAL_MEDIAN_TOL, EPA_POS_TYPICAL_TOL,
                        NEWTON_QACC_TOL)

NPOSE = 128
NROW, NCOL = 9, 11
_ELEVATION = np.random.default_rng(7).uniform(0, 1, size=(NROW, NCOL))
# size: x, y half-extents 1 m and 0.8 m, elevations up to 0.3 m, a 0.1 m base
HFIELD = (f'<hfield name="terrain" nrow="{NROW}" ncol="{NCOL}" size="1 .8 .3 .1" '
          f'elevation="{" ".join(f"{e:.4f}" for e in _ELEVATION.ravel())}"/>')
_HULL = " ".join(f"{v:.4f}" for v in (np.random.default_rng(3).normal(size=(20, 3)) * [.1, .07, .05]).ravel())
SIZES = {"sphere": ".1", "capsule": ".06 .1", "box": ".1 .08 .06", "ellipsoid": ".1 .07 .05",
         "cylinder": ".08 .06", "mesh": None}


def _geom(kind: str, margin: float = 0.0, extra: str = "") -> str:
  shape = f'type="{kind}" size="{SIZES[kind]}"' if SIZES[kind] else 'type="mesh" mesh="hull"'
  return f'<geom {shape} margin="{margin}" {extra}/>'


def _drop_model(kind: str, margin: float) -> mujoco.MjModel:
  return mujoco.MjModel.from_xml_string(
    f'<mujoco><asset>{HFIELD}<mesh name="hull" vertex="{_HULL}"/></asset><worldbody>'
    f'<geom type="hfield" hfield="terrain"/><body><freejoint/>{_geom(kind, margin)}</body>'
    f'</worldbody></mujoco>')


def _dropped_poses(mjm: mujoco.MjModel, rng, n: int, margin: float) -> np.ndarray:
  mjd = mujoco.MjData(mjm)
  qpos = np.tile(mjm.qpos0, (n, 1))
  qpos[:, 0] = rng.uniform(-1.1, 1.1, n)
  qpos[:, 1] = rng.uniform(-0.9, 0.9, n)
  q = rng.normal(size=(n, 4))
  qpos[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)

  def deepest(qp):
    mjd.qpos[:] = qp
    mujoco.mj_forward(mjm, mjd)
    return min((c.dist for c in mjd.contact[:mjd.ncon]), default=np.inf)

  for w in range(n):
    target = rng.uniform(-0.01, 0.5 * margin)
    lo, hi = 0.0, 0.6  # geom centre at the field's lowest surface .. clear of its highest
    for _ in range(30):
      qpos[w, 2] = 0.5 * (lo + hi)
      if deepest(qpos[w]) < target:
        lo = qpos[w, 2]
      else:
        hi = qpos[w, 2]
    qpos[w, 2] = hi
  return qpos


def _same_counts(ncon, refs):
  """(worlds whose contact count equals MuJoCo's, number of worlds where MuJoCo has contacts)."""
  return [w for w, ref in enumerate(refs) if ncon[w] == ref.ncon], sum(ref.ncon > 0 for ref in refs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(SIZES))
@pytest.mark.parametrize("margin", [0.0, 0.01])
def test_hfield_contacts(backend, kind, margin):
  """Each convex geom dropped at NPOSE poses: the same contact count as MuJoCo in at least
  CONTACT_COUNT_AGREEMENT_MIN of the poses, and in those the contacts in MuJoCo's order
  within the EPA bounds of the other convex pairs, median depth within CONTACT_DIST_TOL.
  Measured over these poses (the Warp backend; native gave the same contacts on 64 poses per
  pair): counts equal in every pose of every pair; with a margin, and for the smooth geoms,
  every depth within 9e-7 m, positions within 5.6e-4 m (an ellipsoid's or cylinder's EPA
  face); box and mesh without margin (discrete geoms: EPA stops on a repeated support vertex)
  86.5% / 84.9% of depths within 1e-5 m, the others from another prism face than MuJoCo 4.0's
  changed EPA ends on (worst depth 3.5e-2 m, position 9.3e-2 m)."""
  mjm = _drop_model(kind, margin)
  rng = np.random.default_rng(zlib.crc32(f"{kind}/{margin}".encode()))
  qpos = _dropped_poses(mjm, rng, NPOSE, margin)
  sim = simulator(mjm, NPOSE, backend)
  sim.qpos[:] = torch.as_tensor(qpos, dtype=sim.qpos.dtype)
  sim.forward()
  c = sim.data.contact
  ncon, dist, pos, frame = c.ncon.numpy(), c.dist.numpy(), c.pos.numpy(), c.frame.numpy()
  refs = []
  for w in range(NPOSE):
    refs.append(mujoco.MjData(mjm))
    refs[-1].qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, refs[-1])
  agree, ntouch = _same_counts(ncon, refs)
  assert ntouch >= NPOSE * 3 // 4, "poses must make contacts"
  assert len(agree) >= CONTACT_COUNT_AGREEMENT_MIN * NPOSE, f"{kind}: counts equal in {len(agree)} of {NPOSE} poses"
  errs = [(abs(dist[w, k] - con.dist), np.abs(pos[w, k] - con.pos).max(),
           np.abs(np.asarray(frame[w, k]).reshape(9)[:3] - con.frame[:3]).max())
          for w in agree for k, con in enumerate(refs[w].contact[:refs[w].ncon])]
  errs = np.array(errs)
  assert np.median(errs[:, 0]) < CONTACT_DIST_TOL
  assert np.quantile(errs[:, 0], 0.85) < EPA_DIST_TYPICAL_TOL and errs[:, 0].max() < EPA_DIST_WORST_TOL
  assert np.quantile(errs[:, 1], 0.85) < EPA_POS_TYPICAL_TOL, np.sort(errs[:, 1])[-8:]
  assert np.median(errs[:, 2]) < EPA_NORMAL_MEDIAN_TOL


def test_hfield_pair_limits():
  """A height-field pair holds mjMAXCONPAIR contact slots (MuJoCo's mj_maxContact); the
  contact and constraint capacity follows, the per-world Data of a model without one does not
  change; plane-hfield and hfield-hfield have no narrowphase in MuJoCo either (no pair)."""
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", pws.pairs.ConvexCollisionWarning)
    m = pws.put_model(_drop_model("sphere", 0.0), "cpu")
  assert m.collision.host["maxcon"].tolist() == [mujoco.mjMAXCONPAIR]
  both = mujoco.MjModel.from_xml_string(
    f'<mujoco><asset>{HFIELD}</asset><worldbody><geom type="plane" size="1 1 .1"/>'
    f'<body><freejoint/><geom type="hfield" hfield="terrain"/></body></worldbody></mujoco>')
  assert pws.put_model(both, "cpu").collision.npair == 0


def _sliding_model() -> mujoco.MjModel:
  bodies = "".join(
    f'<body pos="{x} {y} .45"><freejoint/>{_geom(kind)}</body>'
    for kind, x, y in (("box", -0.6, -0.4), ("sphere", 0.0, 0.3), ("capsule", 0.6, -0.2)))
  return mujoco.MjModel.from_xml_string(
    f'<mujoco><option iterations="200" ls_iterations="50" tolerance="1e-10"/><asset>{HFIELD}</asset>'
    f'<worldbody><geom type="hfield" hfield="terrain" friction=".6"/>{bodies}</worldbody></mujoco>')


@pytest.mark.parametrize("backend", BACKENDS)
def test_hfield_sliding_matches_mujoco(backend):
  """A box, a sphere and a capsule thrown sideways onto the terrain; at each of MuJoCo's 300
  steps the same state goes through both pipelines (converged Newton): the contact count in at
  least CONTACT_COUNT_AGREEMENT_MIN of the steps, and where the contact sets agree (dist within
  CONTACT_DIST_TOL) qacc to the humanoid's bounds: median NEWTON_QACC_TOL, worst
  CONVERGED_CONTACT_QACC_MAX_TOL. Measured (Warp backend): contact sets agree in all 300
  steps (0 to 8 contacts), qacc relative error median 2.9e-6, worst 2.0e-5."""
  mjm = _sliding_model()
  mjd = mujoco.MjData(mjm)
  rng = np.random.default_rng(11)
  for b in range(3):
    mjd.qvel[6 * b:6 * b + 6] = np.r_[rng.uniform(-1.5, 1.5, 2), 0.0, rng.normal(0, 2, 3)]
  qpos, qvel, warm = oracle.rollout_states(mjm, mjd, 300)
  sim = simulator(mjm, len(qpos), backend)
  oracle.forward_states(sim, qpos, qvel, warm)
  d = sim.data
  ncon, dist, qacc = d.contact.ncon.numpy(), d.contact.dist.numpy(), d.qacc.numpy()
  refs = []
  for w in range(len(qpos)):
    refs.append(oracle.mj_data(mjm, qpos[w], qvel[w], np.zeros(0), np.zeros(0)))
    refs[-1].qacc_warmstart[:] = warm[w]
    mujoco.mj_forward(mjm, refs[-1])
  agree, touching = _same_counts(ncon, refs)
  assert touching >= len(qpos) // 2, "the bodies must slide on the terrain"
  assert len(agree) >= CONTACT_COUNT_AGREEMENT_MIN * len(qpos), f"counts equal in {len(agree)} of {len(qpos)} steps"
  errs = [oracle.rel_err(qacc[w], refs[w].qacc) for w in agree
          if all(abs(dist[w, k] - con.dist) < CONTACT_DIST_TOL for k, con in enumerate(refs[w].contact[:refs[w].ncon]))]
  assert len(errs) >= len(qpos) // 2, f"contact sets agree in {len(errs)} steps"
  assert np.median(errs) < NEWTON_QACC_TOL and max(errs) < CONVERGED_CONTACT_QACC_MAX_TOL, (
    np.median(errs), max(errs))


@pytest.mark.parametrize("backend", BACKENDS)
def test_humanoid_on_hfield_floor(backend):
  """The bundled humanoid dropped on a gently rough height-field floor (5 cm of relief in
  place of its plane): 150 steps, every world healthy and finite, feet on the terrain, the
  body neither through the floor nor launched."""
  xml = open(models.path("humanoid")).read()
  floor = '<geom name="floor" type="plane" size="0 0 0.05" pos="0 0 0" contype="1" conaffinity="1"/>'
  assert floor in xml
  relief = np.random.default_rng(5).uniform(0, 1, size=(21, 21))
  terrain = (f'<hfield name="floor" nrow="21" ncol="21" size="5 5 .05 .1" '
             f'elevation="{" ".join(f"{e:.3f}" for e in relief.ravel())}"/>')
  xml = xml.replace(floor, '<geom name="floor" type="hfield" hfield="floor" pos="0 0 -.05"/>')
  xml = xml.replace("<worldbody>", f"<asset>{terrain}</asset><worldbody>", 1)
  mjm = mujoco.MjModel.from_xml_string(xml)
  nworld = 4
  sim = simulator(mjm, nworld, backend)
  q = np.tile(mjm.qpos0, (nworld, 1))
  q[:, 7:] += np.random.default_rng(2).normal(0, 0.05, (nworld, mjm.nq - 7))  # joints near the pose
  sim.qpos[:] = torch.as_tensor(q, dtype=sim.qpos.dtype)
  for _ in range(150):
    sim.step()
  assert torch.all(sim.health == 0), sim.health
  assert torch.isfinite(sim.qpos).all() and torch.isfinite(sim.qvel).all()
  assert (sim.data.contact.ncon.numpy() > 0).all(), "the humanoid must stand on the terrain"
  height = sim.qpos[:, 2]
  assert torch.all(height > 0.05) and torch.all(height < 2.0), height
