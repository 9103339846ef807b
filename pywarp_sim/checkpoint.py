"""Save and restore the full simulation state, for bit-exact resumption, safely.

  pws.checkpoint.save(sim_or_env, "state.pt")
  pws.checkpoint.load(sim_or_env, "state.pt")

What is saved (CPU tensors):
  * the Simulator's state: time, qpos, qvel, act, ctrl, qacc_warmstart (the solver's warm
    start), qfrc_applied, xfrc_applied, eq_active (equality constraints switched on/off),
    and its health arrays (health flags, counters, last reset flags);
  * the per-world parameter banks (body_mass, body_inertia, body_ipos, jnt_stiffness,
    dof_armature, dof_damping, dof_frictionloss, geom_friction, actuator_gainprm/biasprm/gear,
    opt.gravity), i.e. the domain randomisation in force;
  * for an environment (an object with `.sim` and `state_dict()`), its buffers, its torch
    Generator and its Randomizer (generator and per-world control parameters);
  * a `randomizer=` passed explicitly (for a bare Simulator), and torch's global RNG states
    (CPU, and CUDA when available: policies sample actions with it).

File format ("pywarp_sim.checkpoint/2"): a torch.save zip holding only tensors, dicts,
lists, str, int, float, bool and None (torch Generator states are uint8 tensors), so `load`
reads it with `torch.load(weights_only=True)` and never unpickles code. Top-level entries:
  format    FORMAT;
  meta      package_version, mujoco_version, backend, workspace, device, sizes (nworld, nq,
            nv, nu, na, nbody, ngeom, nbank, nconmax) and model: the model fingerprint
            (`model_fingerprint`: a sha256 over the compiled MjModel's physics arrays and
            options, a 16-hex digest per field to name what differs, and the option values);
  sim, health_arrays, banks, torch_rng, torch_cuda_rng, env, randomizer: the state;
  checksum  {"algorithm": "sha256", "entries": {path: digest}}: one digest per entry
            ("sim/qpos", "env/generator", ...; a tensor's dtype, shape and bytes), written by
            `save`, so a flipped byte is found and named.

`save` writes a temporary file next to the target, fsyncs it and renames it over the target
(os.replace): a save that fails half-way (disk full, `ulimit -f`, interrupt) leaves the
previous checkpoint intact and no temporary file behind; the failure propagates.

`load` / `load_state_dict` check everything before writing anything, so a refused
checkpoint leaves the simulator, the environment, the Randomizer and torch's RNG as they
were. They raise CheckpointError (a ValueError) naming the file and the entry or field when:
  * the file cannot be read as a weights-only torch zip (corrupted, truncated, or it holds
    pickled objects: a crafted file is refused, never executed);
  * it is not a pywarp_sim checkpoint, or another format version (a /1 file, from
    pywarp_sim before the checks existed, cannot be verified and is refused: resume that run
    with the version that wrote it);
  * an entry does not match its checksum;
  * sizes (nworld, nbank, ...) differ from this simulator's (the workspace may differ: it
    holds nothing saved);
  * the model differs (another timestep, solver, masses, geometry...): the message names the
    groups and fields that differ ("opt (timestep 0.005 saved vs 0.002 here)");
  * the backend differs, unless `allow_backend_change=True` (then a CheckpointWarning says
    the resumed run is not bit-exact with the saved one);
  * an entry is missing, unexpected, or has another shape or dtype than its destination
    (e.g. a Generator state saved on another device type).
A different pywarp_sim version or device type only warns (CheckpointWarning). After the
checks, `load` writes everything back in place (views stay valid) and runs forward, so
derived quantities match the restored state. Stepping on from a loaded checkpoint
reproduces the original run bit for bit (same backend, device and nworld).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import os
import pickle
import secrets
import warnings

import mujoco
import numpy as np
import torch
import warp as wp

from .errors import CheckpointError, CheckpointWarning
from .types import DATA_FIELDS, Role

__all__ = ["FORMAT", "CheckpointError", "CheckpointWarning", "state_dict", "load_state_dict",
           "save", "load", "model_fingerprint"]

FORMAT = "pywarp_sim.checkpoint/2"
_FORMAT_FAMILY = "pywarp_sim.checkpoint/"
# The Data fields saved: those whose role is state (types.py declares each field's role).
STATE = tuple(f.name for f in DATA_FIELDS if f.role == Role.STATE)
# MjModel array prefixes hashed into the model fingerprint; each prefix is a group of the
# mismatch message. qpos0 and qpos_spring form the group "qpos".
MODEL_GROUPS = ("body", "jnt", "dof", "geom", "site", "mesh", "hfield", "actuator", "tendon", "wrap",
                "eq", "pair", "exclude")
_MODEL_EXTRA = ("qpos0", "qpos_spring")
# Rendering and bookkeeping fields inside those groups: editing them changes no physics, so
# they must not block a resume.
_NOT_PHYSICS = ("_rgba", "_matid", "_group", "_user", "_castshadow", "_texid", "texcoord", "_pathadr")
_FIELD_DIGEST_HEX = 16  # per-field digests only name what differs; the full sha256 decides
_MAX_LISTED = 6  # fields or entries named in one message


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
          "ngeom": m.ngeom, "nbank": m.nbank, "nconmax": m.collision.nconmax}


def _banks(sim) -> dict:
  """The parameter banks (Model.banks(): types.BANK_FIELDS and opt_gravity)."""
  return sim.model.banks()


def _health_arrays(sim) -> dict:
  """Torch views of what a step writes besides Data: health and last_reset (nworld,) flags,
  counters (len(Simulator.COUNTERS),)."""
  return {k: wp.to_torch(a) for k, a in sim.health_arrays().items()}


def _package_version() -> str:
  try:
    return importlib.metadata.version("pywarp_sim")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def _plain(value):
  """An option value as a weights_only-loadable Python value (float, int, list)."""
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  return value


def _model_group(name: str) -> str | None:
  if name in _MODEL_EXTRA:
    return "qpos"
  group = name.split("_", 1)[0]
  if group in MODEL_GROUPS and not any(s in name for s in _NOT_PHYSICS):
    return group
  return None


def _array_digest(name: str, array: np.ndarray) -> str:
  array = np.ascontiguousarray(array)
  h = hashlib.sha256(f"{name}|{array.dtype.str}|{array.shape}|".encode())
  h.update(array.tobytes())
  return h.hexdigest()


def model_fingerprint(sim) -> dict:
  """What identifies the physics that `sim` steps, independent of its state.

  Returns {"sha256": hex digest of everything below, "fields": {MjModel field name: first
  16 hex of its digest} for every physics array of sim.model.mj_model (the MODEL_GROUPS
  prefixes and qpos0 / qpos_spring; colours, materials, groups and user data excluded),
  "opt": {option: value}} with the MjModel's options (mjOption: timestep, gravity,
  integrator, solver, iterations, tolerances, cone, flags, ...) overridden by the values the
  kernels read (sim.model.opt scalars) and sim.model.meaninertia. A model compiled by another
  MuJoCo release may differ in derived fields (invweight0, acc0, ...).
  """
  model = sim.model
  mjm = model.mj_model
  if not isinstance(mjm, mujoco.MjModel):
    raise TypeError(f"the simulator's model has no compiled MjModel (model.mj_model is "
                    f"{type(mjm).__name__}); build it with pws.load_model or io.put_model")
  opt = {}
  for name in dir(mjm.opt):
    value = getattr(mjm.opt, name)
    if not name.startswith("_") and not callable(value):
      opt[name] = _plain(value)
  for field in dataclasses.fields(model.opt):
    value = getattr(model.opt, field.name)
    if isinstance(value, (bool, int, float)):  # the live values the kernels read
      opt[field.name] = value
  opt["meaninertia"] = float(model.meaninertia)
  full = hashlib.sha256(repr(sorted(opt.items())).encode())
  fields = {}
  for name in sorted(dir(mjm)):
    if _model_group(name) is None:
      continue
    array = getattr(mjm, name)
    if isinstance(array, np.ndarray):
      digest = _array_digest(name, array)
      full.update(f"{name}={digest};".encode())
      fields[name] = digest[:_FIELD_DIGEST_HEX]
  return {"sha256": full.hexdigest(), "fields": fields, "opt": opt}


def _meta(sim) -> dict:
  return {"package_version": _package_version(), "mujoco_version": mujoco.__version__,
          "backend": sim.backend, "workspace": sim.workspace, "device": str(sim.device),
          "sizes": _sizes(sim), "model": model_fingerprint(sim),
          # backend="simt": the lanes per world set the order of its lane sums
          **({"group_size": sim.group_size} if sim.backend == "simt" else {})}


def _backend_label(meta: dict) -> str:
  """The backend of a checkpoint's meta, with backend="simt"'s group size."""
  if meta.get("group_size") is not None:
    return f"{meta.get('backend')} (group_size={meta['group_size']})"
  return str(meta.get("backend"))


def _payload(sim, env, randomizer) -> dict:
  """The state entries (everything but format and meta), as CPU tensors."""
  state = {
    "sim": {k: wp.to_torch(getattr(sim.data, k)).cpu().clone() for k in STATE},
    "health_arrays": {k: t.cpu().clone() for k, t in _health_arrays(sim).items()},
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


def state_dict(obj, randomizer=None) -> dict:
  """The checkpoint contents of a Simulator or an environment: format, meta (sizes, backend,
  model fingerprint, versions) and the state as CPU tensors (module docstring). `save` adds
  the checksum."""
  sim, env = _split(obj)
  return {"format": FORMAT, "meta": _meta(sim), **_payload(sim, env, randomizer)}


# ---- checksum -----------------------------------------------------------------------------

def _leaves(value, path: str = ""):
  """(path, digest) of every entry of a checkpoint dict, containers included (so an emptied
  dict or list is found too)."""
  if isinstance(value, dict):
    yield path, hashlib.sha256(f"dict|{sorted(map(repr, value))}".encode()).hexdigest()
    for k, v in value.items():
      yield from _leaves(v, f"{path}/{k}" if path else str(k))
  elif isinstance(value, (list, tuple)):
    yield path, hashlib.sha256(f"{type(value).__name__}|{len(value)}".encode()).hexdigest()
    for i, v in enumerate(value):
      yield from _leaves(v, f"{path}/{i}")
  elif isinstance(value, torch.Tensor):
    t = value.detach().cpu().contiguous()
    h = hashlib.sha256(f"tensor|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    yield path, h.hexdigest()
  else:
    yield path, hashlib.sha256(f"{type(value).__name__}|{value!r}".encode()).hexdigest()


def _checksum(state: dict) -> dict:
  body = {k: v for k, v in state.items() if k != "checksum"}
  return {"algorithm": "sha256", "entries": dict(_leaves(body))}


def _verify_checksum(state: dict, source: str):
  stored = state["checksum"]
  entries = stored.get("entries") if isinstance(stored, dict) else None
  if not isinstance(entries, dict) or stored.get("algorithm") != "sha256":
    raise CheckpointError(f"{source} is corrupted: its checksum record is unreadable; nothing was "
                          f"loaded (restore the file from a copy)")
  actual = _checksum(state)["entries"]
  bad = [p or "(top level)" for p in actual if entries.get(p) != actual[p]]
  bad += [f"{p} (missing)" for p in entries if p not in actual]
  if bad:
    raise CheckpointError(
      f"{source} is corrupted: {'entry' if len(bad) == 1 else 'entries'} {_listing(bad)} "
      f"{'does' if len(bad) == 1 else 'do'} not match the checksum written by save "
      f"(the file changed after it was written: disk, copy or transfer error); nothing was loaded "
      f"(restore the file from a copy)")


def _listing(items) -> str:
  items = list(items)
  head = ", ".join(items[:_MAX_LISTED])
  return head + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


# ---- checks before anything is written --------------------------------------------------

def _check_format(state, source: str):
  fmt = state.get("format") if isinstance(state, dict) else None
  if fmt == FORMAT:
    if not isinstance(state.get("meta"), dict):
      raise CheckpointError(f"{source} has no 'meta' record (sizes, model fingerprint); it was not "
                            f"written by pywarp_sim.checkpoint.save")
    return
  if isinstance(fmt, str) and fmt.startswith(_FORMAT_FAMILY):
    version = fmt[len(_FORMAT_FAMILY):]
    older = version.isdigit() and int(version) < int(FORMAT[len(_FORMAT_FAMILY):])
    raise CheckpointError(
      f"{source} has format {fmt!r}, this pywarp_sim reads {FORMAT!r}: it was written by "
      f"{'an older' if older else 'another'} pywarp_sim version and its model, backend and "
      f"integrity cannot be verified; resume that run with the version that wrote it")
  raise CheckpointError(f"{source} is not a pywarp_sim checkpoint (format {fmt!r}, expected {FORMAT!r})")


def _model_difference(saved: dict, here: dict) -> str:
  """Which option values and field groups differ, for the mismatch message."""
  parts = []
  s_opt, h_opt = _dict_or_empty(saved.get("opt")), here["opt"]
  opt_diff = [f"{k} {s_opt.get(k)!r} saved vs {h_opt.get(k)!r} here"
              for k in sorted(set(s_opt) | set(h_opt)) if s_opt.get(k) != h_opt.get(k)]
  if opt_diff:
    parts.append(f"opt ({_listing(opt_diff)})")
  s_fields, h_fields = _dict_or_empty(saved.get("fields")), here["fields"]
  by_group = {}
  for name in sorted(set(s_fields) | set(h_fields)):
    if s_fields.get(name) != h_fields.get(name):
      by_group.setdefault(_model_group(name) or "other", []).append(name)
  parts += [f"{g} ({_listing(names)})" for g, names in by_group.items()]
  return "; ".join(parts) or "the model digest (no single field differs: another field layout)"


def _dict_or_empty(value) -> dict:
  """A saved record that should be a dict; {} for anything else (a malformed file)."""
  return value if isinstance(value, dict) else {}


def _generator_state_problems(state: dict, env, randomizer) -> list:
  """The torch Generator states of `state` that set_state would refuse (right shape and dtype,
  corrupt contents) after the simulator was written: tried on scratch generators first."""
  states = [("torch_rng", state.get("torch_rng"), "cpu")]
  if torch.cuda.is_available():
    rngs = state.get("torch_cuda_rng", [])[:torch.cuda.device_count()]
    states += [(f"torch_cuda_rng/{i}", rng, f"cuda:{i}") for i, rng in enumerate(rngs)]
  owners = {"env": env, "env/randomizer": getattr(env, "randomizer", None), "randomizer": randomizer}
  for path, owner in owners.items():
    generator, record = getattr(owner, "generator", None), state
    for key in path.split("/"):
      record = record.get(key) if isinstance(record, dict) else None
    if isinstance(generator, torch.Generator) and isinstance(record, dict):
      states.append((f"{path}/generator", record.get("generator"), generator.device))
  problems = []
  for path, value, device in states:
    if value is None:
      continue
    try:
      torch.Generator(device=device).set_state(value)
    except (RuntimeError, TypeError, ValueError) as e:
      problems.append(f"{path}: not a torch Generator state ({(str(e).splitlines() or [''])[0]})")
  return problems


def _compare(saved, expected, path: str, problems: list):
  """Records where `saved` does not have the structure, shapes and dtypes of `expected`."""
  where = path or "(top level)"
  if isinstance(expected, dict):
    if not isinstance(saved, dict):
      problems.append(f"{where}: a {type(saved).__name__}, expected a dict")
      return
    child = {k: f"{path}/{k}" if path else str(k) for k in {**expected, **saved}}
    problems += [f"{child[k]}: missing" for k in expected if k not in saved]
    problems += [f"{child[k]}: unexpected" for k in saved if k not in expected]
    for k in expected:
      if k in saved:
        _compare(saved[k], expected[k], child[k], problems)
  elif isinstance(expected, (list, tuple)):
    if not isinstance(saved, (list, tuple)) or len(saved) != len(expected):
      problems.append(f"{where}: {_describe(saved)} saved, {_describe(expected)} here")
      return
    for i, (s, e) in enumerate(zip(saved, expected)):
      _compare(s, e, f"{path}/{i}", problems)
  elif isinstance(expected, torch.Tensor):
    if not (isinstance(saved, torch.Tensor) and saved.shape == expected.shape
            and saved.dtype == expected.dtype):
      problems.append(f"{where}: {_describe(saved)} saved, {_describe(expected)} here")
  elif type(saved) is not type(expected):
    problems.append(f"{where}: a {type(saved).__name__} saved, a {type(expected).__name__} here")


def _describe(value) -> str:
  if isinstance(value, torch.Tensor):
    return f"{value.dtype} {tuple(value.shape)}"
  if isinstance(value, (list, tuple)):
    return f"a {type(value).__name__} of {len(value)}"
  return f"a {type(value).__name__}"


def _validate(sim, env, state: dict, randomizer, allow_backend_change: bool, source: str) -> list:
  """Raises CheckpointError on anything that would make the load partial or wrong; returns
  the warnings to issue once everything passed."""
  meta = state["meta"]
  here = _meta(sim)
  # the workspace (per world or per thread) holds nothing saved: trajectories are the same
  fix = "build the simulator (or environment) with the same model, nworld and nbank"
  if meta.get("sizes") != here["sizes"]:
    saved_sizes = meta.get("sizes") if isinstance(meta.get("sizes"), dict) else {}
    diff = {k: (saved_sizes.get(k), v) for k, v in here["sizes"].items() if saved_sizes.get(k) != v}
    raise CheckpointError(f"{source}: sizes do not match this simulator (saved, here): {diff}; {fix}")
  saved_model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
  if saved_model.get("sha256") != here["model"]["sha256"]:
    versions = ""
    if meta.get("mujoco_version") != here["mujoco_version"]:
      versions = (f" (saved with MuJoCo {meta.get('mujoco_version')}, this is {here['mujoco_version']}: "
                  f"a recompiled model can differ in derived fields)")
    raise CheckpointError(
      f"{source} was written for another model: {_model_difference(saved_model, here['model'])}"
      f"{versions}; build the simulator from the same model (XML and options) as the run that "
      f"saved it")
  warns = []
  if _backend_label(meta) != _backend_label(here):
    change = f"backend {_backend_label(meta)!r} saved, {_backend_label(here)!r} here"
    if not allow_backend_change:
      group = f", group_size={meta['group_size']}" if meta.get("group_size") is not None else ""
      raise CheckpointError(f"{source}: {change}; the backends sum in different orders, so the "
                            f"resumed run would not be bit-exact: build the simulator with "
                            f"backend={meta.get('backend')!r}{group}, or pass allow_backend_change=True")
    warns.append(f"{source}: {change} (allow_backend_change=True): the state is restored exactly, but "
                 f"the resumed trajectory is not bit-exact with the saved run")
  if str(meta.get("device")).startswith("cuda") != sim.device.is_cuda:
    warns.append(f"{source}: saved on {meta.get('device')}, loaded on {here['device']}: the resumed "
                 f"trajectory is not bit-exact with the saved run")
  if meta.get("package_version") != here["package_version"]:
    warns.append(f"{source} was written by pywarp_sim {meta.get('package_version')}, this is "
                 f"{here['package_version']}: the state is restored, but the resumed run differs from "
                 f"the saved one if the physics changed between the versions")

  if env is None and "env" in state:
    raise CheckpointError(f"{source} holds an environment; load it into the environment, not its sim")
  if env is not None and "env" not in state:
    raise CheckpointError(f"{source} holds a bare Simulator (no 'env' entry); load it into a Simulator")
  if env is None and randomizer is None and "randomizer" in state:
    raise CheckpointError(f"{source} holds a Randomizer state; pass randomizer= to load it")
  if randomizer is not None and "randomizer" not in state:
    raise CheckpointError(f"{source} holds no Randomizer state; call load without randomizer=")
  expected = _payload(sim, env, randomizer)
  saved = {k: v for k, v in state.items() if k not in ("format", "meta", "checksum", "torch_cuda_rng")}
  expected.pop("torch_cuda_rng", None)
  problems = []
  _compare(saved, expected, "", problems)
  cuda_rng = state.get("torch_cuda_rng", [])
  if not (isinstance(cuda_rng, (list, tuple)) and all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8
                                                      for t in cuda_rng)):
    problems.append(f"torch_cuda_rng: {_describe(cuda_rng)} saved, a list of uint8 tensors expected")
  if not problems:  # the layout fits: the generator contents are the last thing load could trip on
    problems = _generator_state_problems(state, env, randomizer)
  if problems:
    raise CheckpointError(f"{source} does not fit this simulator: {_listing(problems)}; {fix} (and "
                          f"the same environment, Randomizer and device) as the run that saved it")
  return warns


# ---- public API -----------------------------------------------------------------------------

def save(obj, path: str | os.PathLike, randomizer=None):
  """Writes the full state of a Simulator or environment to `path`, atomically.

  The checkpoint (state_dict plus a checksum) is written to a temporary file in the same
  directory, flushed and fsynced, then renamed over `path`. If writing fails (disk full, file
  size limit, interrupt) the exception propagates, the temporary file is removed and a
  previous file at `path` is left untouched.
  """
  path = os.fspath(path)
  state = state_dict(obj, randomizer)
  state["checksum"] = _checksum(state)
  directory = os.path.dirname(os.path.abspath(path))
  tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask applies
  try:
    with os.fdopen(fd, "wb") as f:
      torch.save(state, f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
    e.add_note(f"checkpoint.save: {path} was not written; a previous file there is unchanged")
    raise
  with contextlib.suppress(OSError):  # make the rename durable; not every platform can
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
      os.fsync(dir_fd)
    finally:
      os.close(dir_fd)


def load_state_dict(obj, state: dict, randomizer=None, allow_backend_change: bool = False,
                    *, source: str = "checkpoint"):
  """Restores `state` (from state_dict) into a Simulator or environment of the same sizes.

  Everything is checked first (module docstring: format, checksum when present, sizes,
  model fingerprint, backend, every entry's presence, shape and dtype); on any
  mismatch CheckpointError is raised and nothing has been written. allow_backend_change:
  restore a checkpoint saved with another backend (warns: not bit-exact). `source` names the
  checkpoint in messages.
  """
  _check_format(state, source)
  if "checksum" in state:
    _verify_checksum(state, source)
  sim, env = _split(obj)
  warns = _validate(sim, env, state, randomizer, allow_backend_change, source)
  for message in warns:  # before any write: with warnings as errors, nothing is changed either
    warnings.warn(message, CheckpointWarning, stacklevel=3)
  for k in STATE:
    wp.to_torch(getattr(sim.data, k)).copy_(state["sim"][k])
  for k, a in _banks(sim).items():
    wp.to_torch(a).copy_(state["banks"][k])
  for k, t in _health_arrays(sim).items():
    t.copy_(state["health_arrays"][k])
  torch.set_rng_state(state["torch_rng"])
  if "torch_cuda_rng" in state and torch.cuda.is_available():
    for i, rng in enumerate(state["torch_cuda_rng"][:torch.cuda.device_count()]):
      torch.cuda.set_rng_state(rng, i)
  if randomizer is not None:
    randomizer.load_state_dict(state["randomizer"])
  sim.forward()
  if env is not None:
    env.load_state_dict(state["env"])


def load(obj, path: str | os.PathLike, randomizer=None, allow_backend_change: bool = False):
  """Restores a checkpoint written by `save` into a Simulator or environment (in place).

  The file is read with torch.load(weights_only=True): it is never unpickled as code. An
  unreadable, corrupted, crafted or mismatched file raises CheckpointError naming the file
  and what is wrong, and leaves the simulator unchanged (load_state_dict); a missing file
  raises FileNotFoundError.
  """
  path = os.fspath(path)
  source = f"checkpoint {path}"
  with open(path, "rb") as f:
    try:
      state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:
      if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
        reason = next((line.strip() for line in str(e).splitlines() if "WeightsUnpickler error" in line),
                      "")
        reason = reason.split(". Please")[0]  # torch goes on to suggest allowlisting it: not here
        raise CheckpointError(
          f"{source} holds objects other than tensors and plain containers ({reason or 'see the cause'}): "
          f"pywarp_sim checkpoints never do, so it is corrupted or was not written by "
          f"checkpoint.save; it was not loaded (unpickling it could run arbitrary code)") from e
      first_line = (str(e).splitlines() or [""])[0]
      raise CheckpointError(f"{source} cannot be read ({type(e).__name__}: {first_line}): the file is "
                            f"truncated, corrupted or not a torch zip; nothing was loaded (restore "
                            f"the file from a copy)") from e
  load_state_dict(obj, state, randomizer, allow_backend_change, source=source)
