"""Data-parallel training on torch.distributed, launched by torchrun.

  torchrun --nproc_per_node=2 -m pywarp_sim.train --task humanoid-walk --device cuda --num-envs 4096
  torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\
      -m pywarp_sim.train --device cuda --num-envs 4096
  torchrun --nproc_per_node=2 -m pywarp_sim.train --device cpu --num-envs 256     # gloo, CI

Each rank owns its own Simulator shard (`--num-envs` worlds per rank) on `cuda:LOCAL_RANK` or
the CPU. Its worlds are global worlds [rank N, (rank + 1) N) of one batch of R x N
(`world_shard`: the env's world_offset and num_envs_total, TaskCfg and HumanoidEnvCfg), and
every random draw of a world (reset noise, domain randomisation, pushes, observation and action
noise, events, command resampling) is that global world's draw in one env of R x N worlds with
the same seed (randomize.WorldDraws): R ranks simulate exactly the worlds of one process with
R x N envs, and no two ranks the same ones. Policy sampling is seeded per rank (rank_seed).
A task whose config has no world_offset (a plain factory) gets rank_seed's seed instead, so
its ranks still differ. rsl-rl-lib's PPO does the rest: parameters broadcast
from rank 0 before the first iteration, gradients averaged over ranks after each backward pass,
observation-normaliser statistics all-reduced, rank 0 alone writes TensorBoard logs and
checkpoints. rsl-rl initialises NCCL on CUDA devices itself; `DistributedRunner` adds CPU
ranks over gloo (rsl-rl 5.5.1 insists on `cuda:LOCAL_RANK`) and standardises advantages over
all ranks (rsl-rl does it per rank).

One update on R ranks. R ranks with N envs each make the same PPO update as one process with
R x N envs, to float rounding (tests/test_distributed.py: 2 x 8 vs 1 x 16 envs, parameters
within 1.3e-7 after one update, with reset noise and domain randomisation), when
  * the rollouts are the same: the envs sharded by global world (world_shard, with the same
    env seed on every rank; reset noise and domain randomisation may be on: tests use
    humanoid-walk's reset noise and command resampling with randomised masses, damping,
    gains, latency, pushes and noise), the same torch seed on every rank, and the action
    noise drawn by RankShareGaussian (actor distribution_cfg class_name
    "pywarp_sim.distributed:RankShareGaussian": rank r takes its rows of the noise of all
    R x N envs, where rsl-rl's GaussianDistribution draws N rows from each rank's generator);
  * each rank's minibatch is its whole rollout (num_mini_batches = 1): rsl-rl shuffles each
    rank's rollout on its own (torch.randperm of N x T samples) and averages the ranks'
    minibatch-mean gradients, which is the mean over the union of the ranks' minibatches;
    one process's minibatch of R x N x T / M samples is another random subset, so for M > 1
    the R-rank update is an equally valid but different sample of the same gradient;
  * advantages are standardised over the whole rollout (rsl-rl's default), here over all
    ranks (DistributedRunner); per-minibatch standardisation stays per rank.
Gradients are averaged over ranks, the observation normaliser's moments and the adaptive
learning rate's KL all-reduced, by rsl-rl itself. Training under torchrun (pywarp_sim.train)
shards the envs by global world but keeps rank_seed's torch seeds and rsl-rl's
GaussianDistribution: its worlds draw what one process's R x N worlds draw (each draw a
function of the seed, the env step and the global world), its action noise is per rank, so its
updates are those of one process with R x N envs in distribution, not bitwise.

Cost of the global-world draws: none beyond a rank's own worlds. The draws are counter-based
(randomize.WorldDraws: each call takes one key from the env's generator and hashes the key with
each element's global index in one Warp kernel), so a rank computes its N rows only and the
draw time per env step does not grow with R (python -m bench.distributed, draw_cost).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import torch


@dataclasses.dataclass(frozen=True)
class Rank:
  """This process's place in a torchrun job (WORLD_SIZE 1: a plain single process)."""
  rank: int = 0          # global rank (RANK)
  local_rank: int = 0    # rank on this node (LOCAL_RANK): the CUDA device index
  world_size: int = 1    # processes in the job (WORLD_SIZE)

  @property
  def distributed(self) -> bool:
    return self.world_size > 1

  @property
  def main(self) -> bool:
    """Rank 0: the process that writes logs, checkpoints and summaries."""
    return self.rank == 0


def current() -> Rank:
  """The Rank from torchrun's environment variables; ValueError naming an inconsistent one."""
  def read(name, default):
    text = os.environ.get(name, default)
    try:
      return int(text)
    except ValueError:
      raise ValueError(f"environment variable {name}={text!r} is not an integer (torchrun sets it)") from None
  r = Rank(read("RANK", "0"), read("LOCAL_RANK", "0"), read("WORLD_SIZE", "1"))
  if r.world_size < 1 or not 0 <= r.rank < r.world_size or r.local_rank < 0:
    raise ValueError(f"inconsistent torchrun environment: RANK={r.rank}, LOCAL_RANK={r.local_rank}, "
                     f"WORLD_SIZE={r.world_size}")
  return r


def rank_device(device: str, rank: Rank) -> str:
  """The device of this rank: `cuda:LOCAL_RANK` when `device` is a CUDA device, else "cpu"."""
  if not rank.distributed:
    return device
  if str(device).startswith("cuda"):
    if not torch.cuda.is_available() or rank.local_rank >= torch.cuda.device_count():
      raise ValueError(f"rank {rank.rank} needs cuda:{rank.local_rank}, but this node has "
                       f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} CUDA device(s); "
                       f"start at most that many processes per node (--nproc_per_node)")
    return f"cuda:{rank.local_rank}"
  return "cpu"


def rank_seed(seed: int, rank: Rank) -> int:
  """The seed of this rank's policy sampling (and of the envs of a task that cannot be
  sharded by global world): seed + global rank."""
  return int(seed) + rank.rank


def world_shard(num_envs: int, rank: Rank) -> dict:
  """The env overrides that make this rank's `num_envs` worlds the global worlds
  [rank num_envs, (rank + 1) num_envs) of world_size x num_envs (TaskCfg / HumanoidEnvCfg
  world_offset and num_envs_total); give every rank the same env seed. {} when not
  distributed (an unsharded env, bit for bit as before)."""
  if not rank.distributed:
    return {}
  return {"world_offset": rank.rank * int(num_envs), "num_envs_total": rank.world_size * int(num_envs)}


def pin_cpu_cores(rank: Rank, cores_per_rank: int) -> tuple[int, ...]:
  """Pins this process to cores of its own: local rank r takes cores [r k, (r + 1) k) of the
  cores it may run on (os.sched_getaffinity, in order), k = cores_per_rank, so that the ranks of
  one node never share a core (torchrun leaves every rank on every core, and busy-waiting
  OpenMP threads of two ranks on one core slow both). Sets torch's intra-op threads to k; the
  native CPU step's OpenMP threads are per Simulator (pin_simulator_threads). Returns the
  cores. ValueError naming the counts when this node has too few cores for its local rank."""
  k = int(cores_per_rank)
  if k < 1:
    raise ValueError(f"cores_per_rank must be >= 1, got {cores_per_rank}")
  allowed = sorted(os.sched_getaffinity(0))
  first = rank.local_rank * k
  if first + k > len(allowed):
    raise ValueError(f"local rank {rank.local_rank} needs cores {first}..{first + k - 1} of this node's "
                     f"{len(allowed)} allowed cores ({k} per rank); start fewer ranks per node "
                     f"(--nproc_per_node) or give each fewer cores")
  cores = tuple(allowed[first:first + k])
  os.sched_setaffinity(0, cores)
  torch.set_num_threads(k)
  return cores


def pin_simulator_threads(sim, cores: tuple[int, ...]) -> None:
  """The native CPU step of `sim` (backend="simt": its lane-group emulation and native forward)
  runs one OpenMP thread per pinned core (pin_cpu_cores): the process's OpenMP runtime counted
  the cores before the pinning. Other backends and devices have no thread count to set."""
  if sim.backend in ("native", "simt") and not sim.device.is_cuda:
    from . import native_backend
    native_backend.set_num_threads(sim, len(cores))  # simt: its forward
    if sim.backend == "simt":  # its step's emulation
      from . import simt
      simt.plan(sim).num_threads = len(cores)


def any_rank(flag: bool, device="cpu") -> bool:
  """True on every rank when `flag` is True on any rank (an all-reduce of one int); the flag
  itself when not distributed. Decisions that end the training loop go through it, so that no
  rank waits in a collective the others left."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return bool(flag)
  t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
  torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
  return bool(t.item())


def all_ranks_equal(tensors, device="cpu") -> bool:
  """Whether the concatenation of `tensors` is bit-identical on every rank (a checksum
  gathered from all ranks); True when not distributed."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return True
  flat = torch.cat([t.detach().reshape(-1).double().cpu() for t in tensors])
  mine = torch.tensor([float(flat.sum()), float((flat * flat).sum()), float(flat.abs().max())],
                      dtype=torch.float64, device=device)
  everyone = [torch.zeros_like(mine) for _ in range(torch.distributed.get_world_size())]
  torch.distributed.all_gather(everyone, mine)
  return all(torch.equal(everyone[0], other) for other in everyone[1:])


def group_rank() -> Rank:
  """This process's place in the initialised default process group; Rank() (one process)
  when none is initialised. Work split with `shard` follows it, so code that shards (the
  academy's calibration) runs unsharded outside a distributed job."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return Rank()
  return Rank(torch.distributed.get_rank(), current().local_rank, torch.distributed.get_world_size())


def init_process_group(device: str) -> Rank:
  """Joins the torchrun job when WORLD_SIZE > 1 (gloo for CPU ranks, NCCL for CUDA ones;
  rsl-rl's runner does this itself for training) and returns this process's Rank. A plain
  process (no torchrun) stays one rank."""
  rank = current()
  if rank.distributed and not torch.distributed.is_initialized():
    cuda = str(device).startswith("cuda")
    if cuda:
      torch.cuda.set_device(rank.local_rank)
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo", rank=rank.rank,
                                         world_size=rank.world_size)
  return rank


def shard(n: int, rank: Rank) -> tuple[int, int]:
  """Rows [lo, hi) of n that `rank` works on: equal shares of ceil(n / world_size) rows, the
  last ones running past n (those rows are padding: the caller repeats a real row there and
  drops the results), so every rank holds a share of the same size for `gather_shares`."""
  share = -(-int(n) // rank.world_size)
  return rank.rank * share, (rank.rank + 1) * share


def gather_shares(x: torch.Tensor, n: int, dim: int = 0) -> torch.Tensor:
  """Every rank's share `x` (the rows `shard(n, rank)` along `dim`, all shares of one size)
  concatenated in rank order along `dim` and cut to n rows: the whole batch, on every rank
  (an all_gather). `x` itself when not distributed."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return x.narrow(dim, 0, n)
  x = x.contiguous()
  parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
  torch.distributed.all_gather(parts, x)
  # contiguous, as a one-process batch is: what follows sees the same memory layout
  return torch.cat(parts, dim).narrow(dim, 0, n).contiguous()


def broadcast_object(obj, src: int = 0):
  """Rank `src`'s `obj` on every rank (pickled by torch.distributed: objects of this job
  only); `obj` itself when not distributed. What only one process may do (run a real robot)
  happens on `src`, the others receive its result."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return obj
  box = [obj]
  torch.distributed.broadcast_object_list(box, src=src)
  return box[0]


def finish() -> None:
  """The end of a distributed run: every rank waits for the others, then the process group is
  destroyed (a gloo group left alive at interpreter exit can abort the process)."""
  if torch.distributed.is_available() and torch.distributed.is_initialized():
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def standardise_over_ranks(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
  """(x - mean) / (std + eps) with the mean and the unbiased std of all ranks' x together
  (two all-reduces): what one process holding every rank's x computes with torch's mean and
  std, up to the order of the float sums. x itself is standardised locally when not
  distributed."""
  if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
    return (x - x.mean()) / (x.std() + eps)
  acc = torch.stack([x.sum(), torch.tensor(float(x.numel()), dtype=x.dtype, device=x.device)])
  torch.distributed.all_reduce(acc)
  mean = acc[0] / acc[1]
  ss = (x - mean).square().sum()
  torch.distributed.all_reduce(ss)
  return (x - mean) / (torch.sqrt(ss / (acc[1] - 1)) + eps)


def runner_class():
  """rsl-rl's OnPolicyRunner, extended with CPU ranks over gloo (CUDA ranks: rsl-rl's NCCL)
  and advantages standardised over all ranks."""
  from rsl_rl.runners import OnPolicyRunner

  class DistributedRunner(OnPolicyRunner):
    """OnPolicyRunner whose multi-process set-up also accepts CPU ranks (gloo); on CUDA it is
    rsl-rl's own (NCCL, device cuda:LOCAL_RANK).

    One change to PPO on several ranks: rsl-rl 5.5.1 standardises each rank's advantages with
    that rank's own mean and std; here they are standardised with the mean and std of every
    rank's rollout together (standardise_over_ranks), as one process with all the envs does.
    With that, gradients (averaged over ranks by rsl-rl), observation-normaliser statistics
    (all-reduced by rsl-rl) and the adaptive learning rate (mean KL over ranks) of R ranks
    with N envs each are those of one process with R x N envs, up to float rounding, when
    each rank's minibatch is its whole rollout (num_mini_batches = 1; module doc, One update
    on R ranks). Per-minibatch advantage standardisation stays per rank."""

    def __init__(self, env, train_cfg: dict, log_dir: str | None = None, device: str = "cpu"):
      super().__init__(env, train_cfg, log_dir=log_dir, device=device)
      if self.is_distributed and not self.alg.normalize_advantage_per_mini_batch:
        alg, returns_of_rank = self.alg, self.alg.compute_returns

        def compute_returns(obs):
          returns_of_rank(obs)  # returns; advantages standardised on this rank alone ...
          st = alg.storage      # ... replaced by the advantages standardised over all ranks
          st.advantages = standardise_over_ranks(st.returns - st.values)
        alg.compute_returns = compute_returns

    def _configure_multi_gpu(self) -> None:
      rank = current()
      if not rank.distributed or str(self.device).startswith("cuda"):
        return super()._configure_multi_gpu()
      if self.device != "cpu":
        raise ValueError(f"rank {rank.rank}: device {self.device!r}; distributed ranks run on "
                         f"cuda:LOCAL_RANK or the CPU")
      self.gpu_world_size = rank.world_size
      self.is_distributed = True
      self.gpu_local_rank = rank.local_rank
      self.gpu_global_rank = rank.rank
      self.cfg["multi_gpu"] = {"global_rank": rank.rank, "local_rank": rank.local_rank,
                               "world_size": rank.world_size}
      if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="gloo", rank=rank.rank, world_size=rank.world_size)

  return DistributedRunner


@functools.cache
def _rank_share_gaussian():
  from rsl_rl.modules import GaussianDistribution

  class RankShareGaussian(GaussianDistribution):
    """rsl-rl's GaussianDistribution whose action noise on rank r of R is rows
    [r N, (r + 1) N) of one (R N, A) standard-normal draw from torch's default generator: with
    the same torch seed on every rank (not rank_seed's offset) each rank takes its own share
    of the noise that one process with R x N envs draws, so the rollout of R ranks is that
    process's rollout (module doc, One update on R ranks). Costs R times the noise draws per
    rank; the parameters (std) and checkpoints are GaussianDistribution's."""

    def sample(self) -> torch.Tensor:
      mean, std = self.mean, self.std
      rank, n = group_rank(), mean.shape[0]
      eps = torch.randn((rank.world_size * n, *mean.shape[1:]), dtype=mean.dtype, device=mean.device)
      return mean + std * eps[rank.rank * n:(rank.rank + 1) * n]

  return RankShareGaussian


def __getattr__(name: str):
  # "pywarp_sim.distributed:RankShareGaussian" in an actor's distribution_cfg: built on first
  # use, so this module imports without rsl-rl (the optional extra "rl")
  if name == "RankShareGaussian":
    return _rank_share_gaussian()
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
