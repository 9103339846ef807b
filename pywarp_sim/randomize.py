"""Domain randomisation: a declarative spec, sampled on the device per reset.

`DomainRandomization` lists ranges; `Randomizer(sim, spec, seed)` samples them
with its own torch.Generator on the simulator's device, for the worlds being
reset only, and writes the physical ones into the model's per-world parameter
banks (the Simulator must be built with `nbank=nworld`). The rest (PD gain
scales, actuation latency, pushes, noise) are per-world torch tensors that the
environments read (`pywarp_sim.envs`).

Ranges are `(low, high)`, sampled uniformly; `None` turns a term off. Every
`sample` call draws the same amount of randomness whatever the mask, so a
run is reproducible from the seed, and no host sync happens.

Counter-based draws (`WorldDraws`): every per-world draw (first dimension = world) is a
function of the seed, the number of draws made before it and the world's global index only:
each draw takes one 64-bit key from the generator and hashes (key, element index) with
SplitMix64's output function in one Warp kernel (integer arithmetic), so a shard of `nworld` worlds at
`world_offset` of `nworld_total` computes its own rows only, and R shards of N worlds seeded
alike draw bit for bit what one process with R x N worlds draws (a distributed run's ranks:
pywarp_sim.distributed), at the cost of one shard's draws whatever the rank count. The draws
are uniform on torch.rand's float32 grid (2^-24) and normal by Box-Muller; the values differ
from torch.rand's and torch.randn's, the distributions not.

Physical terms and where they go (bank index = world):

=========================  ===============================================  ==================
spec field                 effect                                           granularity
=========================  ===============================================  ==================
body_mass_scale            body_mass and body_inertia *= s (same density)   per world, per body
body_com_offset            body_ipos += u (m, body frame)                   per world, body, axis
dof_damping_scale          dof_damping *= s                                 per world, per dof
dof_armature_scale         dof_armature *= s                                per world, per dof
actuator_strength_scale    actuator_gainprm and biasprm *= s (force * s)    per world, per actuator
gravity_offset             opt.gravity += u (m/s^2)                         per world, per axis
geom_friction_scale        geom_friction *= s                               per world
=========================  ===============================================  ==================

Derived model quantities: the subtree masses and com inertias are computed in
the kernels from the banks at every step, so they follow the sampled values.
`dof_invweight0`, `body_invweight0` and `meaninertia` (used by the constraint
impedance and the solver tolerance scaling) keep their nominal values, as in
MuJoCo when a model's parameters are edited without calling mj_setConst. The
Randomizer writes the banks only; the caller resets the worlds afterwards
(`Simulator.reset(mask)` recomputes the derived quantities, or the next step does).

Friction: `geom_friction_scale` scales each world's geom_friction bank (sliding,
torsional and rolling alike); the collision stage mixes the per-world geom frictions of
every dynamic pair at each step (explicit <pair> elements keep their own friction).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import warp as wp

Range = tuple  # (low, high)


@dataclasses.dataclass
class DomainRandomization:
  """What to randomise, as uniform ranges (low, high); None = keep nominal.

  Physics (written into the per-world banks at reset):
    body_mass_scale: mass and inertia scale per body (the `bodies` or all but the world).
    body_com_offset: com offset per body and axis, m.
    dof_damping_scale, dof_armature_scale: per dof.
    actuator_strength_scale: per actuator, scales the whole actuator force.
    gravity_offset: per axis, m/s^2.
    geom_friction_scale: per world and geom.
  Control (read by the environments):
    kp_scale, kd_scale: per actuator scales of the PD gains of position-target actions.
    latency_steps: (low, high) integers, inclusive: physics steps after an env step starts
      during which the previous action's target is still applied (0 .. decimation).
    push_interval: env steps between pushes (0: none); push_force: (low, high) N, horizontal,
      random direction, applied to `push_body` at its com for `push_duration` env steps.
    obs_noise_std, action_noise_std: std of additive Gaussian noise on observations
      (after scaling) and on actions.
  """
  body_mass_scale: Range | None = None
  body_com_offset: Range | None = None
  dof_damping_scale: Range | None = None
  dof_armature_scale: Range | None = None
  actuator_strength_scale: Range | None = None
  gravity_offset: Range | None = None
  geom_friction_scale: Range | None = None
  kp_scale: Range | None = None
  kd_scale: Range | None = None
  latency_steps: tuple | None = None
  push_interval: int = 0
  push_force: Range | None = None
  push_body: str = "torso"
  push_duration: int = 1
  obs_noise_std: float = 0.0
  action_noise_std: float = 0.0
  bodies: tuple | None = None

  @classmethod
  def from_dict(cls, d: dict | "DomainRandomization" | None) -> "DomainRandomization | None":
    if d is None or isinstance(d, cls):
      return d
    valid = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(d) - valid)
    if bad:
      raise ValueError(f"unknown domain randomisation keys {bad}; valid keys: {sorted(valid)}")
    return cls(**d)

  # fields that live in the model's banks
  _BANK_FIELDS = ("body_mass_scale", "body_com_offset", "dof_damping_scale", "dof_armature_scale",
                  "actuator_strength_scale", "gravity_offset", "geom_friction_scale")

  def needs_banks(self) -> bool:
    return any(getattr(self, f) is not None for f in self._BANK_FIELDS)

  def validate(self):
    for f in dataclasses.fields(self):
      v = getattr(self, f.name)
      if f.name.endswith(("_scale", "_offset", "_force", "_steps")) and v is not None:
        if len(v) != 2 or not v[0] <= v[1]:
          raise ValueError(f"{f.name} must be a (low, high) range with low <= high, got {v}")
        if f.name.endswith("_scale") and v[0] <= 0:
          raise ValueError(f"{f.name} must be positive (a scale), got {v}")
    if self.latency_steps is not None and (self.latency_steps[0] < 0 or
                                           any(int(x) != x for x in self.latency_steps)):
      raise ValueError(f"latency_steps must be non-negative integers, got {self.latency_steps}")
    if self.push_interval < 0 or self.push_duration < 1:
      raise ValueError("push_interval must be >= 0 and push_duration >= 1")
    if self.push_interval and self.push_force is None:
      raise ValueError("push_interval is set but push_force is None; give push_force=(low, high) N")
    if self.obs_noise_std < 0 or self.action_noise_std < 0:
      raise ValueError("obs_noise_std and action_noise_std must be >= 0")


class WorldDraws:
  """Per-world random draws for a shard of `nworld` worlds starting at global world
  `world_offset` of `nworld_total` (None: nworld, one process; module doc, Counter-based
  draws).

  rand(shape), randn(shape) and randint(low, high, shape) take shapes (nworld, ...) and return
  rows [world_offset, world_offset + nworld) of the (nworld_total, ...) draw, on `device`,
  computing only those rows (one Warp kernel launch): element j of global world w is a hash
  of (the call's key, w x width + j), width = the elements per world; each call takes one
  64-bit key from `generator` (the same amount whatever the shape or shard), so the
  generator's state is the stream's state (manual_seed, get_state and set_state work as on
  any generator). Unsharded, any shape may be drawn (element i of the flattened draw is
  element i's hash)."""

  def __init__(self, generator: torch.Generator, nworld: int, device, world_offset: int = 0,
               nworld_total: int | None = None, what: str = "world draws"):
    nworld, world_offset = int(nworld), int(world_offset)
    nworld_total = nworld if nworld_total is None else int(nworld_total)
    if world_offset < 0 or world_offset + nworld > nworld_total:
      raise ValueError(f"{what}: a shard of {nworld} worlds at world_offset={world_offset} does not "
                       f"fit in num_envs_total={nworld_total} worlds; give 0 <= world_offset and "
                       f"world_offset + num_envs <= num_envs_total (rank * num_envs and "
                       f"world_size * num_envs for equal shards)")
    self.generator, self.device, self.what = generator, torch.device(device), what
    self.nworld, self.world_offset, self.nworld_total = nworld, world_offset, nworld_total
    self.sharded = world_offset != 0 or nworld_total != nworld
    self.calls = 0  # draws made (and skipped) so far

  def skip(self, calls: int):
    """Takes the keys of `calls` draws from the generator without drawing anything: the draws
    after it are those that would follow `calls` draws. A caller that leaves out draws when
    its own worlds need none (resets of no world) stays a function of the step count, as
    every shard of one batch must be."""
    for _ in range(int(calls)):
      torch.randint(0, _KEY_HIGH, (1,), generator=self.generator, device=self.device)
    self.calls += int(calls)

  def _draw(self, kernel, shape, dtype, *params) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if self.sharded and (not shape or shape[0] != self.nworld):
      raise ValueError(f"{self.what}: a sharded draw is per world, its shape must start with the "
                       f"shard's {self.nworld} worlds, got {shape}; draw (num_envs, ...) and use "
                       f"the rows you need")
    key = torch.randint(0, _KEY_HIGH, (1,), generator=self.generator, device=self.device)
    self.calls += 1
    out = torch.empty(shape, dtype=dtype, device=self.device)
    numel = out.numel()
    if numel:
      # the global index of this shard's first element: world_offset rows of the same width
      start = self.world_offset * (numel // self.nworld) if self.sharded else 0
      stream = None
      if self.device.type == "cuda":  # after the torch work that made `key`, on its stream
        stream = wp.stream_from_torch(torch.cuda.current_stream(self.device))
      wp.launch(kernel, dim=numel, inputs=[wp.from_torch(key, return_ctype=True), start, *params],
                outputs=[wp.from_torch(out.view(-1), return_ctype=True)],
                device=wp.device_from_torch(self.device), stream=stream)
    return out

  def bits(self, shape) -> torch.Tensor:
    """int64 draws of `shape`: the 64 hash bits of each element (counter_hash)."""
    return self._draw(_draw_bits, shape, torch.int64)

  def rand(self, shape) -> torch.Tensor:
    """Uniform draws in [0, 1) of `shape`: float32 multiples of 2^-24 (torch.rand's grid), the
    hash's top 24 bits."""
    return self._draw(_draw_uniform, shape, torch.float32)

  def randn(self, shape) -> torch.Tensor:
    """Standard-normal draws of `shape` (float32; Box-Muller on two 24-bit uniforms of the
    hash, so |x| <= 5.8)."""
    return self._draw(_draw_normal, shape, torch.float32)

  def randint(self, low: int, high: int, shape) -> torch.Tensor:
    """int64 draws in [low, high) of `shape` (the hash's top 63 bits modulo high - low)."""
    if not high > low:
      raise ValueError(f"{self.what}: randint needs high > low, got low={low}, high={high}")
    return self._draw(_draw_int, shape, torch.int64, int(low), int(high) - int(low))


# SplitMix64 (Steele, Lea and Flood 2014) as a counter-based hash: its output function applied
# to key + counter x golden gamma, counter = the element's global index + 1.
_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_KEY_HIGH = (1 << 63) - 1


def counter_hash(key: int, counter: torch.Tensor) -> torch.Tensor:
  """SplitMix64's output of the state key + counter x gamma, in torch integer ops (a
  reference for the kernels: WorldDraws.bits(shape) of key k is counter_hash(k, index + 1)):
  int64 of counter's shape holding the 64 bits. torch has no unsigned 64-bit arithmetic:
  int64 products wrap modulo 2^64 as unsigned ones do, logical shifts are masked
  arithmetic ones."""
  def signed(c):
    return c - (1 << 64) if c >= 1 << 63 else c

  def shr(x, s):
    return (x >> s) & ((1 << (64 - s)) - 1)
  z = counter.to(torch.int64) * signed(_GAMMA) + signed(int(key) % (1 << 64))
  z = (z ^ shr(z, 30)) * signed(_MIX1)
  z = (z ^ shr(z, 27)) * signed(_MIX2)
  return z ^ shr(z, 31)


_WGAMMA = wp.constant(wp.uint64(_GAMMA))
_WMIX1 = wp.constant(wp.uint64(_MIX1))
_WMIX2 = wp.constant(wp.uint64(_MIX2))


@wp.func
def _hash(key: wp.int64, index: wp.int64) -> wp.uint64:
  """SplitMix64's output of key + (index + 1) gamma (uint64 arithmetic wraps modulo 2^64)."""
  z = wp.uint64(key) + wp.uint64(index + wp.int64(1)) * _WGAMMA
  z = (z ^ (z >> wp.uint64(30))) * _WMIX1
  z = (z ^ (z >> wp.uint64(27))) * _WMIX2
  return z ^ (z >> wp.uint64(31))


@wp.kernel
def _draw_bits(key: wp.array(dtype=wp.int64), start: wp.int64, out: wp.array(dtype=wp.int64)):
  i = wp.tid()
  out[i] = wp.int64(_hash(key[0], start + wp.int64(i)))


@wp.kernel
def _draw_uniform(key: wp.array(dtype=wp.int64), start: wp.int64, out: wp.array(dtype=wp.float32)):
  i = wp.tid()
  z = _hash(key[0], start + wp.int64(i))
  out[i] = wp.float32(z >> wp.uint64(40)) * 5.9604644775390625e-08  # 2^-24: exact


@wp.kernel
def _draw_normal(key: wp.array(dtype=wp.int64), start: wp.int64, out: wp.array(dtype=wp.float32)):
  i = wp.tid()
  z = _hash(key[0], start + wp.int64(i))
  u1 = (wp.float32(z >> wp.uint64(40)) + 1.0) * 5.9604644775390625e-08  # (0, 1]
  u2 = wp.float32((z >> wp.uint64(16)) & wp.uint64(16777215)) * 5.9604644775390625e-08  # [0, 1)
  out[i] = wp.sqrt(-2.0 * wp.log(u1)) * wp.cos(6.283185307179586 * u2)


@wp.kernel
def _draw_int(key: wp.array(dtype=wp.int64), start: wp.int64, low: wp.int64, span: wp.int64,
              out: wp.array(dtype=wp.int64)):
  i = wp.tid()
  z = _hash(key[0], start + wp.int64(i))
  out[i] = low + wp.mod(wp.int64(z >> wp.uint64(1)), span)


class Randomizer:
  """Samples a DomainRandomization for the reset worlds of `sim`, on its device.

  `world_offset` / `nworld_total`: the sim's worlds are rows [world_offset, world_offset +
  nworld) of nworld_total worlds (a shard of a distributed run, WorldDraws); each world's
  draws are those of that global world in one Randomizer of nworld_total worlds.

  Attributes (torch, on the simulator's device, one row per world):
    kp_scale, kd_scale: (nworld, nu) float, 1 when off.
    latency: (nworld,) int64 physics steps, 0 when off.
    push_force: (nworld, 3) float, N (world frame), the force of the next push.
  """

  def __init__(self, sim, spec: DomainRandomization | dict | None, seed: int = 0,
               world_offset: int = 0, nworld_total: int | None = None):
    spec = DomainRandomization.from_dict(spec) or DomainRandomization()
    spec.validate()
    self.sim, self.spec = sim, spec
    m = sim.model
    n, dev = sim.nworld, sim.torch_device
    if spec.needs_banks() and m.nbank != n:
      raise ValueError(
        f"physical domain randomisation needs one parameter bank per world, but the model has "
        f"nbank={m.nbank} for nworld={n}; build the simulator with "
        f"pws.Simulator(model, nworld={n}, nbank={n})")
    self.generator = torch.Generator(device=dev)
    self.generator.manual_seed(int(seed))
    self.draws = WorldDraws(self.generator, n, dev, world_offset, nworld_total, "Randomizer")
    self._banks = {
      "body_mass": wp.to_torch(m.body_mass), "body_inertia": wp.to_torch(m.body_inertia),
      "body_ipos": wp.to_torch(m.body_ipos), "dof_damping": wp.to_torch(m.dof_damping),
      "dof_armature": wp.to_torch(m.dof_armature),
      "actuator_gainprm": wp.to_torch(m.actuator_gainprm),
      "actuator_biasprm": wp.to_torch(m.actuator_biasprm), "gravity": wp.to_torch(m.opt.gravity),
      "geom_friction": wp.to_torch(m.geom_friction),
    }
    # nominal values from the compiled model (host tables), not from possibly edited banks
    h = m.host
    self.nominal = {
      "body_mass": h["body_mass"][0], "body_inertia": h["body_inertia"][0],
      "body_ipos": h["body_ipos"][0], "dof_damping": h["dof_damping"][0],
      "dof_armature": h["dof_armature"][0], "actuator_gainprm": h["actuator_gainprm"][0],
      "actuator_biasprm": h["actuator_biasprm"][0], "gravity": h["opt_gravity"][0],
      "geom_friction": h["geom_friction"][0],
    }
    self.nominal = {k: torch.as_tensor(v, dtype=torch.float32, device=dev) for k, v in self.nominal.items()}
    body_mask = torch.zeros(m.nbody, dtype=torch.bool, device=dev)
    if spec.bodies is None:
      body_mask[1:] = True
    else:
      names = m.names["body"]
      for b in spec.bodies:
        if b not in names:
          raise ValueError(f"randomisation body '{b}' is not in the model; bodies: {names[1:]}")
        body_mask[names.index(b)] = True
    self._body_mask = body_mask
    if spec.push_interval:
      names = m.names["body"]
      if spec.push_body not in names:
        raise ValueError(f"push_body '{spec.push_body}' is not in the model; bodies: {names[1:]}")
      self.push_bodyid = names.index(spec.push_body)
    self.kp_scale = torch.ones(n, m.nu, device=dev)
    self.kd_scale = torch.ones(n, m.nu, device=dev)
    self.latency = torch.zeros(n, dtype=torch.int64, device=dev)
    self.push_force = torch.zeros(n, 3, device=dev)

  # ---- sampling ----------------------------------------------------------------
  def _uniform(self, rng: Range, shape) -> torch.Tensor:
    return rng[0] + (rng[1] - rng[0]) * self.draws.rand(shape)

  def _mask(self, worlds) -> torch.Tensor:
    n, dev = self.sim.nworld, self.sim.torch_device
    if worlds is None:
      return torch.ones(n, dtype=torch.bool, device=dev)
    w = torch.as_tensor(worlds, device=dev)
    if w.dtype == torch.bool:
      if w.shape != (n,):
        raise ValueError(f"worlds mask must have shape ({n},), got {tuple(w.shape)}")
      return w
    mask = torch.zeros(n, dtype=torch.bool, device=dev)
    mask[w.long()] = True
    return mask

  @torch.no_grad()
  def sample(self, worlds=None):
    """Draws new parameters for `worlds` (None = all, a bool mask or indices) and writes
    them; the other worlds keep theirs. Reset those worlds afterwards."""
    s, m, b = self.spec, self.sim.model, self._banks
    mask = self._mask(worlds)
    n, nb, nv, nu = self.sim.nworld, m.nbody, m.nv, m.nu
    col = mask[:, None]

    def put(bank: torch.Tensor, value: torch.Tensor):
      sel = mask.view(-1, *([1] * (bank.dim() - 1)))
      bank.copy_(torch.where(sel, value, bank))

    if s.body_mass_scale is not None:
      scale = self._uniform(s.body_mass_scale, (n, nb))
      scale = torch.where(self._body_mask[None], scale, torch.ones_like(scale))
      put(b["body_mass"], self.nominal["body_mass"][None] * scale)
      put(b["body_inertia"], self.nominal["body_inertia"][None] * scale[..., None])
    if s.body_com_offset is not None:
      off = self._uniform(s.body_com_offset, (n, nb, 3)) * self._body_mask[None, :, None]
      put(b["body_ipos"], self.nominal["body_ipos"][None] + off)
    if s.dof_damping_scale is not None:
      put(b["dof_damping"], self.nominal["dof_damping"][None] * self._uniform(s.dof_damping_scale, (n, nv)))
    if s.dof_armature_scale is not None:
      put(b["dof_armature"], self.nominal["dof_armature"][None] * self._uniform(s.dof_armature_scale, (n, nv)))
    if s.actuator_strength_scale is not None:
      scale = self._uniform(s.actuator_strength_scale, (n, nu, 1))
      put(b["actuator_gainprm"], self.nominal["actuator_gainprm"][None] * scale)
      put(b["actuator_biasprm"], self.nominal["actuator_biasprm"][None] * scale)
    if s.geom_friction_scale is not None:
      ng = self.nominal["geom_friction"].shape[0]
      put(b["geom_friction"], self.nominal["geom_friction"][None] * self._uniform(s.geom_friction_scale, (n, ng, 1)))
    if s.gravity_offset is not None:
      put(b["gravity"], self.nominal["gravity"][None] + self._uniform(s.gravity_offset, (n, 3)))
    if s.kp_scale is not None:
      self.kp_scale.copy_(torch.where(col, self._uniform(s.kp_scale, (n, nu)), self.kp_scale))
    if s.kd_scale is not None:
      self.kd_scale.copy_(torch.where(col, self._uniform(s.kd_scale, (n, nu)), self.kd_scale))
    if s.latency_steps is not None:
      lo, hi = int(s.latency_steps[0]), int(s.latency_steps[1])
      lat = self.draws.randint(lo, hi + 1, (n,))
      self.latency.copy_(torch.where(mask, lat, self.latency))
    if s.push_interval:
      self.resample_push(mask)

  @torch.no_grad()
  def resample_push(self, mask: torch.Tensor):
    """New horizontal push forces (random direction, magnitude in push_force) for `mask`."""
    n = self.sim.nworld
    mag = self._uniform(self.spec.push_force, (n,))
    ang = self._uniform((0.0, 2.0 * math.pi), (n,))
    f = torch.stack([mag * torch.cos(ang), mag * torch.sin(ang), torch.zeros_like(mag)], dim=-1)
    self.push_force.copy_(torch.where(mask[:, None], f, self.push_force))

  def obs_noise(self, obs: torch.Tensor) -> torch.Tensor:
    if self.spec.obs_noise_std <= 0:
      return obs
    return obs + self.spec.obs_noise_std * self.draws.randn(obs.shape)

  def action_noise(self, actions: torch.Tensor) -> torch.Tensor:
    if self.spec.action_noise_std <= 0:
      return actions
    return actions + self.spec.action_noise_std * self.draws.randn(actions.shape)

  # ---- checkpointing ----------------------------------------------------------
  def state_dict(self) -> dict:
    return {"generator": self.generator.get_state(), "kp_scale": self.kp_scale.cpu(),
            "kd_scale": self.kd_scale.cpu(), "latency": self.latency.cpu(),
            "push_force": self.push_force.cpu()}

  def load_state_dict(self, state: dict):
    self.generator.set_state(state["generator"])
    for k in ("kp_scale", "kd_scale", "latency", "push_force"):
      getattr(self, k).copy_(state[k])
