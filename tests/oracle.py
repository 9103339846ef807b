"""MuJoCo C as the oracle: random states, running mj_forward / mj_step, comparing fields."""

import mujoco
import numpy as np
import warp as wp

import pywarp_sim as pws
from pywarp_sim import models

from assets import MODELS


def mj_model(name: str, disable=(), integrator=None) -> mujoco.MjModel:
  """A named test model (tests/assets.py or bundled), with extra disable flags."""
  if name in MODELS:
    mjm = mujoco.MjModel.from_xml_string(MODELS[name])
  else:
    mjm = models.mj_model(name)
  for flag in disable:
    mjm.opt.disableflags |= int(flag)
  if integrator is not None:
    mjm.opt.integrator = int(integrator)
  return mjm


def random_state(mjm: mujoco.MjModel, nworld: int, seed: int, qvel_scale=1.0, qpos_scale=0.3):
  """Random qpos (normalised quaternions, hinge/slide around qpos0), qvel, ctrl in range, act."""
  rng = np.random.default_rng(seed)
  qpos = np.tile(mjm.qpos0, (nworld, 1))
  qpos += rng.normal(0, qpos_scale, qpos.shape)
  for j in range(mjm.njnt):
    adr = mjm.jnt_qposadr[j]
    t = mjm.jnt_type[j]
    if t in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
      q0 = adr + (3 if t == mujoco.mjtJoint.mjJNT_FREE else 0)
      quat = rng.normal(size=(nworld, 4))
      qpos[:, q0:q0 + 4] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
  qvel = rng.normal(0, qvel_scale, (nworld, mjm.nv))
  lo = np.where(mjm.actuator_ctrllimited, mjm.actuator_ctrlrange[:, 0], -1.0)
  hi = np.where(mjm.actuator_ctrllimited, mjm.actuator_ctrlrange[:, 1], 1.0)
  # a margin beyond the range exercises ctrl clamping
  ctrl = rng.uniform(lo - 0.2, hi + 0.2, (nworld, mjm.nu))
  act = rng.uniform(-0.5, 0.5, (nworld, mjm.na))
  return qpos, qvel, ctrl, act


def tumbling_states(mjm: mujoco.MjModel, n: int, seed: int, every: int = 40, keep=None,
                    fields=("qpos", "qvel", "ctrl", "act")):
  """One array (n, ...) per MjData field in `fields`: n states of a free-floating robot
  tumbling onto the floor from random orientations under random controls (MuJoCo's own
  trajectory), taken every `every` steps where keep(mjm, d) holds (default: it touches
  something)."""
  rng = np.random.default_rng(seed)
  d = mujoco.MjData(mjm)
  out = []
  while len(out) < n:
    mujoco.mj_resetData(mjm, d)
    q = rng.normal(size=4)
    d.qpos[3:7] = q / np.linalg.norm(q)
    d.qpos[2] += 0.3
    d.qvel[:] = rng.normal(0, 1.0, mjm.nv)
    for k in range(400):
      d.ctrl[:] = rng.uniform(-1, 1, mjm.nu)
      mujoco.mj_step(mjm, d)
      if k % every == every - 1 and (keep(mjm, d) if keep else d.ncon):
        out.append(tuple(getattr(d, f).copy() for f in fields))
  out = out[:n]
  return tuple(np.array([s[i] for s in out]) for i in range(len(fields)))


def falling_states(mjm: mujoco.MjModel, n: int, seed: int):
  """(qpos, qvel, ctrl, act) of a humanoid tumbling onto the floor under random controls,
  taken while it touches the ground (tumbling_states)."""
  return tumbling_states(mjm, n, seed)


def lying_states(mjm: mujoco.MjModel, n: int, seed: int):
  """(qpos, qvel, ctrl, act) of a humanoid lying on the floor after a fall (MuJoCo's own
  trajectory, zero controls for its last second): many contacts, small velocities."""
  rng = np.random.default_rng(seed)
  d = mujoco.MjData(mjm)
  out = []
  for _ in range(n):
    mujoco.mj_resetData(mjm, d)
    q = rng.normal(size=4)
    d.qpos[3:7] = q / np.linalg.norm(q)
    d.qpos[7:] += rng.normal(0, 0.2, mjm.nq - 7)
    for k in range(800):
      d.ctrl[:] = rng.uniform(-0.3, 0.3, mjm.nu) if k < 600 else 0.0
      mujoco.mj_step(mjm, d)
    out.append((d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), d.act.copy()))
  return tuple(np.array([s[i] for s in out]) for i in range(4))


def rollout_states(mjm: mujoco.MjModel, mjd: mujoco.MjData, nstep: int):
  """(qpos, qvel, qacc_warmstart) after each of nstep mj_step calls from mjd: MuJoCo's rollout,
  whose states go through our forward with MuJoCo's warm start (forward_states)."""
  states = []
  for _ in range(nstep):
    mujoco.mj_step(mjm, mjd)
    states.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.qacc_warmstart.copy()))
  return tuple(np.array([s[i] for s in states]) for i in range(3))


def forward_states(sim, qpos, qvel, warm) -> None:
  """sim.forward() at one state per world (no controls or activations) with MuJoCo's warm
  start, every derived array NaN-filled first."""
  d = sim.data
  none = np.zeros((len(qpos), 0))
  set_state(d, qpos, qvel, none, none)
  d.qacc_warmstart.assign(warm.astype(np.float32))
  fill_nan(d)
  sim.forward()


def set_state(d: pws.Data, qpos, qvel, ctrl, act):
  d.qpos.assign(qpos.astype(np.float32))
  d.qvel.assign(qvel.astype(np.float32))
  if ctrl.shape[1]:
    d.ctrl.assign(ctrl.astype(np.float32))
  if act.shape[1]:
    d.act.assign(act.astype(np.float32))


def mj_data(mjm, qpos, qvel, ctrl, act) -> mujoco.MjData:
  mjd = mujoco.MjData(mjm)
  mjd.qpos[:] = qpos
  mjd.qvel[:] = qvel
  mjd.ctrl[:] = ctrl
  mjd.act[:] = act
  return mjd


def fill_nan(d: pws.Data, keep=("qpos", "qvel", "ctrl", "act", "time", "qacc_warmstart",
                                "qfrc_applied", "xfrc_applied")):
  """Sets every derived float array to NaN, so a stage that writes nothing fails."""
  for name, arr in vars(d).items():
    if isinstance(arr, wp.array) and name not in keep and arr.dtype != wp.int32:
      arr.fill_(float("nan"))


def full_m(mjm, mjd) -> np.ndarray:
  m = np.zeros((mjm.nv, mjm.nv))
  mujoco.mj_fullM(mjm, mjd, m)
  return m


def rel_err(ours, ref) -> float:
  """max |ours - ref| / max(|ref|, 1): relative for large quantities, absolute for small."""
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  if ref.size == 0:
    return 0.0
  return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1.0))
