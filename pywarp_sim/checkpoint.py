"""Save and restore the full simulation state, for bit-exact resumption.

  pws.checkpoint.save(sim_or_env, "state.pt")
  pws.checkpoint.load(sim_or_env, "state.pt")

What is saved (torch.save of CPU tensors):
  * the Simulator's state: time, qpos, qvel, act, ctrl, qacc_warmstart (the solver's warm
    start), qfrc_applied, xfrc_applied, eq_active (equality constraints switched on/off),
    health flags and counters;
  * the per-world parameter banks (body_mass, body_inertia, body_ipos, jnt_stiffness,
    dof_armature, dof_damping, dof_frictionloss, geom_friction, actuator_gainprm/biasprm/gear,
    opt.gravity), i.e. the domain randomisation in force;
  * for an environment (an object with `.sim` and `state_dict()`), its buffers, its torch
    Generator and its Randomizer (generator and per-world control parameters);
  * a `randomizer=` passed explicitly (for a bare Simulator), and torch's global RNG states
    (CPU, and CUDA when available: policies sample actions with it).

`load` checks that the sizes match, writes everything back in place (views stay valid) and
runs forward, so derived quantities match the restored state. Stepping on from a loaded
checkpoint reproduces the original run bit for bit (same device, same nworld).
"""

from __future__ import annotations

import torch
import warp as wp

FORMAT = "pywarp_sim.checkpoint/1"
STATE = ("time", "qpos", "qvel", "act", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "eq_active")
BANKS = ("body_ipos", "body_mass", "body_inertia", "jnt_stiffness", "dof_armature", "dof_damping",
         "dof_frictionloss", "geom_friction", "actuator_gainprm", "actuator_biasprm", "actuator_gear")


def _split(obj):
  """(simulator, env or None)."""
  if hasattr(obj, "sim") and hasattr(obj, "state_dict"):
    return obj.sim, obj
  if hasattr(obj, "data") and hasattr(obj, "model"):
    return obj, None
  raise TypeError(f"checkpoint needs a Simulator or an environment with .sim, got {type(obj).__name__}")


def _sizes(sim) -> dict:
  m = sim.model
  return {"nworld": sim.nworld, "nq": m.nq, "nv": m.nv, "nu": m.nu, "na": m.na, "nbody": m.nbody,
          "ngeom": m.ngeom, "nbank": m.nbank}


def _banks(sim) -> dict:
  m = sim.model
  arrays = {k: getattr(m, k) for k in BANKS}
  arrays["opt_gravity"] = m.opt.gravity
  return arrays


def state_dict(obj, randomizer=None) -> dict:
  """The checkpoint contents of a Simulator or an environment, as a dict of CPU tensors."""
  sim, env = _split(obj)
  state = {
    "format": FORMAT,
    "sizes": _sizes(sim),
    "sim": {k: wp.to_torch(getattr(sim.data, k)).cpu().clone() for k in STATE},
    "health": sim.health.cpu().clone(),
    "counters": wp.to_torch(sim._counters).cpu().clone(),
    "banks": {k: wp.to_torch(a).cpu().clone() for k, a in _banks(sim).items()},
    "torch_rng": torch.get_rng_state(),
  }
  if torch.cuda.is_available():
    state["torch_cuda_rng"] = torch.cuda.get_rng_state_all()
  if env is not None:
    state["env"] = env.state_dict()
  if randomizer is not None:
    state["randomizer"] = randomizer.state_dict()
  return state


def save(obj, path, randomizer=None):
  """Writes the full state of a Simulator or environment to `path` (torch.save)."""
  torch.save(state_dict(obj, randomizer), path)


def load_state_dict(obj, state: dict, randomizer=None):
  """Restores `state` (from state_dict) into a Simulator or environment of the same sizes."""
  if state.get("format") != FORMAT:
    raise ValueError(f"not a pywarp_sim checkpoint (format {state.get('format')!r}, expected {FORMAT!r})")
  sim, env = _split(obj)
  have, want = _sizes(sim), state["sizes"]
  if have != want:
    diff = {k: (want[k], have[k]) for k in want if want.get(k) != have.get(k)}
    raise ValueError(f"checkpoint sizes do not match this simulator (saved, here): {diff}; build the "
                     f"simulator with the same model, nworld and nbank")
  if env is None and "env" in state:
    raise ValueError("this checkpoint holds an environment; load it into the environment, not its sim")
  if randomizer is None and "randomizer" in state and env is None:
    raise ValueError("this checkpoint holds a Randomizer state; pass randomizer= to load it")
  for k in STATE:
    wp.to_torch(getattr(sim.data, k)).copy_(state["sim"][k])
  for k, a in _banks(sim).items():
    wp.to_torch(a).copy_(state["banks"][k])
  sim.health.copy_(state["health"])
  wp.to_torch(sim._counters).copy_(state["counters"])
  torch.set_rng_state(state["torch_rng"])
  if "torch_cuda_rng" in state and torch.cuda.is_available():
    torch.cuda.set_rng_state_all(state["torch_cuda_rng"])
  if randomizer is not None:
    randomizer.load_state_dict(state["randomizer"])
  sim.forward()
  if env is not None:
    env.load_state_dict(state["env"])


def load(obj, path, randomizer=None):
  """Restores a checkpoint written by `save` into a Simulator or environment (in place)."""
  state = torch.load(path, map_location="cpu", weights_only=False)
  load_state_dict(obj, state, randomizer)
