"""One world of a Simulator as a mujoco.MjData, for MuJoCo's viewer, renderer and tools.

    mjd = world_to_mjdata(sim, 3)              # world 3's state, mj_forward already run
    with mujoco.viewer.launch_passive(sim.model.mj_model, mjd) as v:
      ...; world_to_mjdata(sim, 3, mjd); v.sync()

The copied fields are the simulator's state (the fields of role STATE in types.py, the ones
a checkpoint saves): time, qpos, qvel, act, ctrl, qacc_warmstart, qfrc_applied, xfrc_applied,
eq_active. MuJoCo's mj_forward then derives everything else in float64 from that state.

What the MjData does not carry: per-world parameter banks (Model.banks(): body masses,
inertias and com offsets, damping, armature, friction, gains, ...). mj_forward uses the
MjModel's own values, so with randomised banks the kinematics (xpos, xquat, geom poses: what
a viewer draws) still match the world, while dynamics quantities (qacc, contact forces,
xipos when body_ipos is banked) are the nominal model's.
"""

from __future__ import annotations

import mujoco
import numpy as np

from .types import DATA_FIELDS, Role

# The state a world is restored from (its MuJoCo names; checkpoint.py saves the same set).
STATE_FIELDS = tuple(f.name for f in DATA_FIELDS if f.role == Role.STATE)


def world_to_mjdata(sim, world: int, mjd: mujoco.MjData | None = None) -> mujoco.MjData:
  """Copies world `world`'s state into `mjd` (a new MjData of sim.model.mj_model when None)
  and runs mujoco.mj_forward on it. Returns the MjData.

  sim: a Simulator; world: 0 <= world < sim.nworld. Padded device rows (act, ctrl, eq_active
  are allocated to a padded width) are cut to MuJoCo's sizes; float32 values become float64.
  This reads the device (one world's rows), so on CUDA it synchronises."""
  mjm = sim.model.mj_model
  nworld = sim.nworld
  if not (isinstance(world, (int, np.integer)) and 0 <= int(world) < nworld):
    raise IndexError(f"world_to_mjdata: world {world!r} is not one of this simulator's "
                     f"{nworld} worlds (0 to {nworld - 1})")
  world = int(world)
  if mjd is None:
    mjd = mujoco.MjData(mjm)
  elif mjd.qpos.shape != (mjm.nq,) or mjd.qvel.shape != (mjm.nv,) or mjd.xpos.shape != (mjm.nbody, 3):
    raise ValueError(f"world_to_mjdata: mjd has nq={mjd.qpos.size}, nv={mjd.qvel.size}, "
                     f"nbody={len(mjd.xpos)} but the simulator's model has nq={mjm.nq}, "
                     f"nv={mjm.nv}, nbody={mjm.nbody}; pass mujoco.MjData(sim.model.mj_model) "
                     f"or None")
  for name in STATE_FIELDS:
    row = getattr(sim, name)[world].detach().cpu().numpy()
    if name == "time":
      mjd.time = float(row)
      continue
    dst = getattr(mjd, name, None)
    if dst is None:
      raise AttributeError(f"world_to_mjdata: state field '{name}' has no mujoco.MjData "
                           f"counterpart; add its conversion here")
    dst[...] = row[tuple(slice(0, n) for n in dst.shape)]
  mujoco.mj_forward(mjm, mjd)
  return mjd
