"""A robot's control loop between a policy and the motors, written once.

The RL envs (envs/humanoid.py) and the academy (batched replays, robot excitations, policy
evaluation on robots) all run this code, so a policy trained in an env meets the same
control law on a digital twin or a robot.

* `pd_ctrl`: the PD law, joint target -> motor ctrl, clipped to the ctrl range.
* `clip_ctrl`: the ctrl range alone (torque actions, open-loop commands).
* `DelayLine`: per-world latency of the commands reaching the motors.
* `foot_contacts`: which foot geoms touch something (the robot's contact switches).

`pd_ctrl` and `clip_ctrl` take torch tensors (on any device, no host sync) or numpy arrays;
the arithmetic is the same for both, in the dtype that the usual promotion of the inputs
gives (float32 in the envs, float64 in the academy's host-side loops).
"""

from __future__ import annotations

import numpy as np
import torch
import warp as wp


def pd_ctrl(q, qd, target, kp, kd, force_per_ctrl, ctrl_lo, ctrl_hi):
  """The motor commands of a joint-space PD loop:
  ``ctrl = clip((kp (target - q) - kd qd) / force_per_ctrl, ctrl_lo, ctrl_hi)``.

  Args (broadcast together; e.g. (nworld, nu) states with (nu,) gains):
    q: joint positions, rad. qd: joint velocities, rad/s. target: joint targets, rad.
    kp: N m / rad. kd: N m s / rad.
    force_per_ctrl: joint torque per unit ctrl, N m (gear * gain of a motor).
    ctrl_lo, ctrl_hi: ctrl range (scalars or per actuator; +-inf for an unlimited motor).
  Returns the ctrl (unitless), a torch tensor when q is one, else a numpy array.
  """
  tau = kp * (target - q) - kd * qd
  return clip_ctrl(tau / force_per_ctrl, ctrl_lo, ctrl_hi)


def clip_ctrl(ctrl, ctrl_lo, ctrl_hi):
  """`ctrl` clipped to [ctrl_lo, ctrl_hi] (torch.clamp for tensors, np.clip otherwise)."""
  if torch.is_tensor(ctrl):
    return torch.clamp(ctrl, ctrl_lo, ctrl_hi)
  return np.clip(ctrl, ctrl_lo, ctrl_hi)


class DelayLine:
  """Per-world delay of commands: what `push` returns at call k is what was pushed at call
  k - delay[world] (zeros before anything was pushed, or after `clear`), as a robot whose
  command queue is emptied at reset.

  Args:
    nworld, width: the commands pushed are (nworld, width).
    max_delay: the largest delay, in calls of `push`.
    device, dtype: of the ring buffer.
  The delay is given to each `push` ((nworld,) integer tensor or an int), so a caller can
  change a world's delay between calls. State: `buffer` (nworld, max_delay + 1, width) and
  `pos` (the slot of the newest command).
  """

  def __init__(self, nworld: int, width: int, max_delay: int, device="cpu", dtype=torch.float32):
    if max_delay < 0:
      raise ValueError(f"max_delay must be >= 0, got {max_delay}")
    self.buffer = torch.zeros(nworld, int(max_delay) + 1, width, device=device, dtype=dtype)
    self.pos = 0

  @property
  def max_delay(self) -> int:
    return self.buffer.shape[1] - 1

  def clear(self, mask: torch.Tensor | None = None):
    """Forgets the commands of the worlds in `mask` ((nworld,) bool; None: all), no host sync."""
    if mask is None:
      self.buffer.zero_()
    else:
      self.buffer.copy_(torch.where(mask[:, None, None], torch.zeros_like(self.buffer), self.buffer))

  def push(self, command: torch.Tensor, delay) -> torch.Tensor:
    """Pushes `command` (nworld, width) and returns the one of `delay` calls ago (nworld, width).
    With max_delay 0 it returns `command` itself."""
    size = self.buffer.shape[1]
    if size == 1:
      return command
    self.pos = (self.pos + 1) % size
    self.buffer[:, self.pos].copy_(command)
    if not torch.is_tensor(delay) or delay.dim() == 0:
      return self.buffer[:, (self.pos - int(delay)) % size]
    idx = torch.remainder(self.pos - delay, size)
    return self.buffer.gather(1, idx[:, None, None].expand(-1, 1, self.buffer.shape[2]))[:, 0]


def foot_contacts(sim, foot_geoms: torch.Tensor) -> torch.Tensor:
  """(nworld, nfoot) bool: foot geom foot_geoms[j] (geom ids, (nfoot,) long tensor on the
  simulator's torch device) is in an active (not excluded) contact of world i, as found by
  the last forward pass or step of `sim` (a Simulator). No host sync."""
  c = sim.data.contact
  dev = foot_geoms.device
  if c.nconmax == 0:
    return torch.zeros(sim.nworld, len(foot_geoms), dtype=torch.bool, device=dev)
  geom = wp.to_torch(c.geom)                     # (nworld, cap, 2)
  ncon = wp.to_torch(c.ncon)                     # (nworld,)
  exclude = wp.to_torch(c.exclude)               # (nworld, cap)
  cap = geom.shape[1]
  valid = (torch.arange(cap, device=dev)[None] < ncon[:, None]) & (exclude == 0)
  hit = (geom[:, :, None, :] == foot_geoms[None, None, :, None]).any(-1)  # (nworld, cap, nfoot)
  return (hit & valid[:, :, None]).any(1)
