"""The physical parameters the academy calibrates, and where each one lives.

A robot's parameters are *scales* of the nominal model (1.0 = humanoid.xml as compiled) plus
an actuator latency in control steps:

==================  ===================================================  ====================
name                effect                                               lives in
==================  ===================================================  ====================
mass_torso          body_mass, body_inertia *= s: torso, lower_waist,     bank (per world)
                    pelvis
mass_legs           ... thighs, shins, feet                              bank
mass_arms           ... upper and lower arms                             bank
motor_strength      actuator_gainprm and biasprm *= s (force per ctrl)   bank
joint_damping       dof_damping *= s                                     bank
joint_armature      dof_armature *= s                                    bank
ground_friction     geom_friction[:, 0] *= s (sliding friction of every     bank
                    geom, floor included)
latency             controls reach the motors L control steps late       replay (0..3)
==================  ===================================================  ====================

Ground friction is a bank like the others: Model.geom_friction is (nbank, ngeom, 3) and the
collision stage mixes the two geoms' frictions of every dynamic pair per world at each step
(MuJoCo's rule, the max of the two), so scaling every geom's sliding friction by s scales the
mixed friction of every contact, foot-floor included, by s, as the edited MjModel of a proxy
does. Only latency is not a model property: each world delays its own command history
(simbatch.Replayer).

Parameter edits follow the pywarp_sim bank semantics on both sides: the MjModel of a proxy
robot is edited without mj_setConst, so dof_invweight0, body_invweight0 and meaninertia keep
their nominal values exactly as in the banks (io.py, randomize.py). Only body_subtreemass, which
MuJoCo C reads as a constant while pywarp_sim recomputes subtree masses from the banks, is
updated, so both simulate the same system.

Search coordinates: z = log(s) / prior_sigma, so every continuous parameter has the prior
N(0, 1) in z and the population search works on one scale.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math

import mujoco
import numpy as np
import torch
import warp as wp

MASS_GROUPS = {
  "mass_torso": ("torso", "lower_waist", "pelvis"),
  "mass_legs": ("right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin", "left_foot"),
  "mass_arms": ("right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm"),
}
BANK_PARAMS = ("mass_torso", "mass_legs", "mass_arms", "motor_strength", "joint_damping",
               "joint_armature", "ground_friction")
CONTINUOUS_PARAMS = BANK_PARAMS
LATENCY_VALUES = (0, 1, 2, 3)


@dataclasses.dataclass(frozen=True)
class ParamPrior:
  """A plausible fleet spread of one scale: log-uniform in [low, high] (nominal 1 inside)."""
  low: float
  high: float

  @property
  def sigma(self) -> float:
    """Half-width of the log range: the unit of the search coordinate z."""
    return 0.5 * (math.log(self.high) - math.log(self.low))

  @property
  def center(self) -> float:
    return 0.5 * (math.log(self.high) + math.log(self.low))


# Fleet spread of the proxy robots, and the calibration prior (the same ranges: what a
# manufacturer's tolerances plausibly allow).
PRIORS = {
  "mass_torso": ParamPrior(0.8, 1.25),
  "mass_legs": ParamPrior(0.8, 1.25),
  "mass_arms": ParamPrior(0.75, 1.33),
  "motor_strength": ParamPrior(0.8, 1.25),
  "joint_damping": ParamPrior(0.5, 2.0),
  "joint_armature": ParamPrior(0.5, 2.0),
  "ground_friction": ParamPrior(0.6, 1.4),
}


def nominal_params() -> dict:
  """The nominal robot: every scale 1, no latency."""
  return {**{k: 1.0 for k in CONTINUOUS_PARAMS}, "latency": 0}


def to_z(name: str, scale) -> np.ndarray:
  return np.log(np.asarray(scale, dtype=np.float64)) / PRIORS[name].sigma


def from_z(name: str, z) -> np.ndarray:
  return np.exp(np.asarray(z, dtype=np.float64) * PRIORS[name].sigma)


def base_mj_model(model: str = "humanoid", held_pose=None) -> mujoco.MjModel:
  """The nominal MjModel of `model` (bundled name or MJCF path). held_pose: None for the free
  robot, or (x, y, z, qw, qx, qy, qz) to clamp the root body in a test stand at that pose
  (its free joint removed: the robot held in the air, limbs free)."""
  return _base_mj_model(model, None if held_pose is None else tuple(float(x) for x in held_pose))


@functools.lru_cache(maxsize=16)
def _base_mj_model(model: str, held_pose) -> mujoco.MjModel:
  from .. import models
  path = models.path(model) if model in models.BUILTIN else model
  if held_pose is None:
    return mujoco.MjModel.from_xml_path(path)
  spec = mujoco.MjSpec.from_file(path)
  root = spec.worldbody.first_body()
  free = [j for j in root.joints if j.type == mujoco.mjtJoint.mjJNT_FREE]
  if not free:
    raise ValueError(f"model '{model}': the root body '{root.name}' has no free joint to clamp")
  for j in free:
    spec.delete(j)
  root.pos = list(held_pose[:3])
  root.quat = list(held_pose[3:7])
  return spec.compile()


def body_ids(mjm: mujoco.MjModel, group: str) -> list:
  return [mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, b) for b in MASS_GROUPS[group]]


def edited_mj_model(mjm: mujoco.MjModel, params: dict) -> mujoco.MjModel:
  """A copy of `mjm` with every parameter of `params` (names above; missing = nominal) applied
  to the compiled arrays, with pywarp_sim's bank semantics (no mj_setConst; subtree masses
  updated). Latency is not a model property and is ignored here."""
  m = copy.copy(mjm)
  for group in MASS_GROUPS:
    s = float(params.get(group, 1.0))
    for b in body_ids(m, group):
      m.body_mass[b] *= s
      m.body_inertia[b] *= s
  s = float(params.get("motor_strength", 1.0))
  m.actuator_gainprm[:, :3] *= s
  m.actuator_biasprm[:, :3] *= s
  m.dof_damping[:] *= float(params.get("joint_damping", 1.0))
  m.dof_armature[:] *= float(params.get("joint_armature", 1.0))
  m.geom_friction[:, 0] *= float(params.get("ground_friction", 1.0))
  _update_subtree_mass(m)
  return m


def _update_subtree_mass(m: mujoco.MjModel):
  sub = np.array(m.body_mass, dtype=np.float64)
  for b in range(m.nbody - 1, 0, -1):
    sub[m.body_parentid[b]] += sub[b]
  m.body_subtreemass[:] = sub


class BankWriter:
  """Writes per-world values of the bank parameters into a pywarp_sim Model built with
  nbank == nworld (torch views of the Warp banks, no copies of the model)."""

  def __init__(self, model):
    self.model = model
    h = model.host
    self.nbank = model.nbank
    self.banks = {
      "body_mass": wp.to_torch(model.body_mass), "body_inertia": wp.to_torch(model.body_inertia),
      "actuator_gainprm": wp.to_torch(model.actuator_gainprm),
      "actuator_biasprm": wp.to_torch(model.actuator_biasprm),
      "dof_damping": wp.to_torch(model.dof_damping), "dof_armature": wp.to_torch(model.dof_armature),
      "geom_friction": wp.to_torch(model.geom_friction),
    }
    dev = self.banks["body_mass"].device
    self.nominal = {
      "body_mass": torch.as_tensor(h["body_mass"][0], device=dev),
      "body_inertia": torch.as_tensor(h["body_inertia"][0], device=dev),
      "actuator_gainprm": torch.as_tensor(h["actuator_gainprm"][0], device=dev),
      "actuator_biasprm": torch.as_tensor(h["actuator_biasprm"][0], device=dev),
      "dof_damping": torch.as_tensor(h["dof_damping"][0], device=dev),
      "dof_armature": torch.as_tensor(h["dof_armature"][0], device=dev),
      "geom_friction": torch.as_tensor(h["geom_friction"][0], device=dev),
    }
    names = model.names["body"]
    self.body_scale_index = torch.zeros(model.nbody, dtype=torch.long, device=dev)  # 0: fixed
    for gi, group in enumerate(MASS_GROUPS):
      for b in MASS_GROUPS[group]:
        self.body_scale_index[names.index(b)] = gi + 1
    self.device = dev

  @torch.no_grad()
  def write(self, scales: dict, worlds=None):
    """scales: {param name: (n,) tensor or float} for the bank params (missing = 1);
    worlds: (n,) index tensor (None = all banks, n = nbank)."""
    n = self.nbank if worlds is None else len(worlds)
    idx = torch.arange(self.nbank, device=self.device) if worlds is None else \
      torch.as_tensor(worlds, device=self.device, dtype=torch.long)

    def col(name):
      v = scales.get(name, 1.0)
      return torch.as_tensor(v, dtype=torch.float32, device=self.device).expand(n).reshape(n)

    body_scale = torch.stack([torch.ones(n, device=self.device)] +
                             [col(g) for g in MASS_GROUPS], dim=1)  # (n, 1 + ngroups)
    bs = body_scale[:, self.body_scale_index]                      # (n, nbody)
    b, nom = self.banks, self.nominal
    b["body_mass"][idx] = nom["body_mass"][None] * bs
    b["body_inertia"][idx] = nom["body_inertia"][None] * bs[..., None]
    ms = col("motor_strength")[:, None, None]
    b["actuator_gainprm"][idx] = nom["actuator_gainprm"][None] * ms
    b["actuator_biasprm"][idx] = nom["actuator_biasprm"][None] * ms
    b["dof_damping"][idx] = nom["dof_damping"][None] * col("joint_damping")[:, None]
    b["dof_armature"][idx] = nom["dof_armature"][None] * col("joint_armature")[:, None]
    # sliding friction only (column 0): torsional and rolling stay nominal, as in
    # edited_mj_model
    fr = nom["geom_friction"][None].repeat(n, 1, 1)
    fr[..., 0] *= col("ground_friction")[:, None]
    b["geom_friction"][idx] = fr

  def read(self, world: int) -> dict:
    """The bank scales of one world (inverse of write), for checks and incident records."""
    b, nom = self.banks, self.nominal
    names = self.model.names["body"]
    out = {}
    for group, bodies in MASS_GROUPS.items():
      i = names.index(bodies[0])
      out[group] = float(b["body_mass"][world, i] / nom["body_mass"][i])
    out["motor_strength"] = float(b["actuator_gainprm"][world, 0, 0] / nom["actuator_gainprm"][0, 0])
    j = int(torch.nonzero(nom["dof_damping"])[0])
    out["joint_damping"] = float(b["dof_damping"][world, j] / nom["dof_damping"][j])
    j = int(torch.nonzero(nom["dof_armature"])[0])
    out["joint_armature"] = float(b["dof_armature"][world, j] / nom["dof_armature"][j])
    out["ground_friction"] = float(b["geom_friction"][world, 0, 0] / nom["geom_friction"][0, 0])
    return out
