"""Frozen policies acting for the opponent, several different ones in one batch, on the device.

A `Snapshot` is a frozen copy of an rsl-rl-lib 5.5.1 MLP actor (rsl_rl.models.MLPModel): its
observation normalizer (mean, std, eps) and its linear layers, applied deterministically (the
mean action of its Gaussian, as rsl-rl's act_inference). `snapshot_of(actor)` takes one from a
live actor; `Snapshot.state_dict()` holds only tensors and plain values (checkpointed with
the league).

`OpponentBatch(nworld, nslot)` groups the worlds into `nslot` blocks of consecutive worlds
(nworld / nslot each, the SumoEnv's slots) and holds one snapshot per block, all stacked in
(nslot, ...) tensors; `batch(obs)` evaluates every block's policy on its own worlds with one
batched matrix product per layer (torch.baddbmm over the blocks): fixed shapes, no host sync,
no per-world Python, so it is CUDA-graph friendly, and changing a block's opponent is a copy
into its rows (`set_slot`).
"""

from __future__ import annotations

import dataclasses

import torch

_ACTIVATIONS = {"elu": torch.nn.functional.elu, "relu": torch.relu, "tanh": torch.tanh,
                "selu": torch.nn.functional.selu, "silu": torch.nn.functional.silu}


@dataclasses.dataclass
class Snapshot:
  """A frozen actor: x -> MLP((x - mean) / (std + eps)).

  mean, std: (obs_dim,) observation normalizer. eps: its epsilon (rsl-rl's 1e-2).
  weights[i] (out_i, in_i), biases[i] (out_i,): the linear layers, `activation` between them
  (none after the last). iteration: the learner's iteration it was taken at (-1: unknown).
  """
  mean: torch.Tensor
  std: torch.Tensor
  eps: float
  weights: list
  biases: list
  activation: str = "elu"
  iteration: int = -1

  def __post_init__(self):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f"activation '{self.activation}' is not supported; use one of {sorted(_ACTIVATIONS)}")

  @property
  def obs_dim(self) -> int:
    return self.mean.shape[0]

  @property
  def action_dim(self) -> int:
    return self.biases[-1].shape[0]

  def __call__(self, obs: torch.Tensor) -> torch.Tensor:
    """The actions (n, action_dim) of observations (n, obs_dim), one world at a time in the
    same arithmetic as rsl-rl's actor (a reference for the batched path)."""
    h = (obs - self.mean) / (self.std + self.eps)
    act = _ACTIVATIONS[self.activation]
    for i, (w, b) in enumerate(zip(self.weights, self.biases)):
      h = torch.nn.functional.linear(h, w, b)
      if i + 1 < len(self.weights):
        h = act(h)
    return h

  def to(self, device) -> "Snapshot":
    return dataclasses.replace(self, mean=self.mean.to(device), std=self.std.to(device),
                               weights=[w.to(device) for w in self.weights],
                               biases=[b.to(device) for b in self.biases])

  def state_dict(self) -> dict:
    return {"mean": self.mean.cpu().clone(), "std": self.std.cpu().clone(), "eps": float(self.eps),
            "weights": [w.cpu().clone() for w in self.weights],
            "biases": [b.cpu().clone() for b in self.biases], "activation": self.activation,
            "iteration": int(self.iteration)}

  @classmethod
  def from_state_dict(cls, state: dict, device="cpu") -> "Snapshot":
    return cls(mean=state["mean"], std=state["std"], eps=float(state["eps"]),
               weights=list(state["weights"]), biases=list(state["biases"]),
               activation=state["activation"], iteration=int(state["iteration"])).to(device)


def snapshot_of(actor, activation: str = "elu", iteration: int = -1) -> Snapshot:
  """A frozen copy of an rsl-rl-lib 5.5.1 MLPModel actor (obs normalizer + MLP; the Gaussian's
  std is not needed for the mean action). `activation`: the runner config's actor activation."""
  state = {k: v.detach().clone() for k, v in actor.state_dict().items()}
  layers = sorted({int(k.split(".")[1]) for k in state if k.startswith("mlp.") and k.endswith(".weight")})
  if not layers:
    raise ValueError(f"not an rsl-rl MLPModel actor: no mlp.<i>.weight in its state dict "
                     f"({sorted(state)[:6]} ...)")
  weights = [state[f"mlp.{i}.weight"] for i in layers]
  biases = [state[f"mlp.{i}.bias"] for i in layers]
  dim = weights[0].shape[1]
  if "obs_normalizer._mean" in state:
    mean = state["obs_normalizer._mean"].reshape(dim)
    std = state["obs_normalizer._std"].reshape(dim)
    eps = float(actor.obs_normalizer.eps)
  else:  # obs_normalization=False: the normalizer is the identity
    mean, std, eps = torch.zeros_like(weights[0][0]), torch.ones_like(weights[0][0]), 0.0
  return Snapshot(mean, std, eps, weights, biases, activation, iteration)


class OpponentBatch:
  """One frozen policy per block of worlds (module doc).

  Args: nworld, nslot (divides nworld), like: a Snapshot whose shapes every slot has
  (the slots start as copies of it), device.
  Attributes: slot_ids (nslot,) host list of the ids last given to set_slot (-1: unset).
  """

  def __init__(self, nworld: int, nslot: int, like: Snapshot, device="cpu"):
    if nslot < 1 or nworld % nslot:
      raise ValueError(f"nslot must be >= 1 and divide nworld ({nworld}), got {nslot}")
    self.nworld, self.nslot = int(nworld), int(nslot)
    self.group = self.nworld // self.nslot
    self.activation = like.activation
    self.device = torch.device(device)
    like = like.to(self.device)
    self.mean = like.mean.expand(nslot, -1).clone()
    self.scale = (like.std + like.eps).expand(nslot, -1).clone()
    self.weights = [w.expand(nslot, -1, -1).clone() for w in like.weights]
    self.biases = [b.expand(nslot, -1).clone() for b in like.biases]
    self.slot_ids = [-1] * nslot

  def set_slot(self, slot: int, snapshot: Snapshot, snapshot_id: int = -1):
    """Makes `snapshot` the policy of slot `slot`'s worlds (device copies)."""
    if snapshot.activation != self.activation or len(snapshot.weights) != len(self.weights) or any(
        w.shape != v.shape[1:] for w, v in zip(snapshot.weights, self.weights)):
      raise ValueError("the snapshot's network differs from the batch's (layers, sizes or "
                       "activation); every policy of a league must share one architecture")
    self.mean[slot].copy_(snapshot.mean)
    self.scale[slot].copy_(snapshot.std + snapshot.eps)
    for dst, src in zip(self.weights, snapshot.weights):
      dst[slot].copy_(src)
    for dst, src in zip(self.biases, snapshot.biases):
      dst[slot].copy_(src)
    self.slot_ids[slot] = int(snapshot_id)

  def set_all(self, snapshot: Snapshot, snapshot_id: int = -1):
    for s in range(self.nslot):
      self.set_slot(s, snapshot, snapshot_id)

  @torch.no_grad()
  def __call__(self, obs: torch.Tensor) -> torch.Tensor:
    """Actions (nworld, action_dim) of observations (nworld, obs_dim): world w gets slot
    w // (nworld / nslot)'s policy."""
    s, g = self.nslot, self.group
    h = (obs.reshape(s, g, -1) - self.mean[:, None]) / self.scale[:, None]
    act = _ACTIVATIONS[self.activation]
    last = len(self.weights) - 1
    for i, (w, b) in enumerate(zip(self.weights, self.biases)):
      h = torch.baddbmm(b[:, None], h, w.transpose(1, 2))
      if i < last:
        h = act(h)
    return h.reshape(self.nworld, -1)
