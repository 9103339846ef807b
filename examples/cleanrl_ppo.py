"""PPO in one file, CleanRL style (ppo_continuous_action.py), on any registered task through
gymnasium's VectorEnv API (`pws.envs.make_gym`): a second RL library's way in, torch only.

  python -m examples.cleanrl_ppo --task humanoid-stand --num-envs 64 --total-timesteps 200000
  python -m examples.cleanrl_ppo --task examples.quadruped:QuadrupedWalkCfg --device cuda --num-envs 4096
  python -m examples.cleanrl_ppo --help                                   # every flag (tyro)

(run from the repository root, which puts `examples` on sys.path). What it uses of the
gymnasium API, and nothing else of the env:

* `single_observation_space` / `single_action_space` (Box) size the networks and give the
  action bounds the sampled actions are clipped to;
* `reset(seed=...)` -> (obs, info); `step(actions)` -> (obs, reward, terminated, truncated,
  info), torch tensors on the env's device (no host copies: the rollout stays on the GPU);
* autoreset in the same step (metadata["autoreset_mode"] SAME_STEP): a done env's returned
  observation already starts its next episode; a time-out is bootstrapped from
  info["final_obs"] (reward += gamma * V(final obs)), a termination is not.

The agent: Gaussian policy (state-independent log std) and value MLPs (tanh, orthogonal
init), observations normalised by running mean and variance, GAE(lambda), clipped surrogate
and value losses, minibatch epochs, linear learning-rate annealing, as CleanRL's script.
`train(Args(...))` returns one record per update (losses, global_step, mean reward) and
saves the agent with --save-path.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn as nn
from torch.distributions.normal import Normal

from pywarp_sim import envs


@dataclasses.dataclass
class Args:
  task: str = "humanoid-stand"
  """registered task or module:Attr (a TaskCfg, HumanoidEnv subclass or factory)"""
  device: str = "cpu"
  """cpu, cuda or cuda:N"""
  seed: int = 1
  num_envs: int = 64
  """parallel worlds"""
  num_steps: int = 24
  """env steps per env per rollout"""
  total_timesteps: int = 200_000
  """env steps over all envs; num_updates = total_timesteps // (num_envs * num_steps)"""
  learning_rate: float = 3e-4
  anneal_lr: bool = True
  gamma: float = 0.99
  gae_lambda: float = 0.95
  num_minibatches: int = 4
  update_epochs: int = 5
  clip_coef: float = 0.2
  clip_vloss: bool = True
  ent_coef: float = 0.0
  vf_coef: float = 0.5
  max_grad_norm: float = 1.0
  hidden: int = 128
  """units of each of the two hidden layers of the policy and value networks"""
  save_path: str = ""
  """write the agent's state_dict (and the observation normaliser's) here at the end"""
  quiet: bool = False


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
  nn.init.orthogonal_(layer.weight, std)
  nn.init.constant_(layer.bias, bias_const)
  return layer


class RunningMeanStd(nn.Module):
  """Running mean and variance of observations (Chan et al.'s parallel update), as
  gymnasium's NormalizeObservation keeps them; normalised x is clipped to +-10."""

  def __init__(self, dim: int):
    super().__init__()
    self.register_buffer("mean", torch.zeros(dim))
    self.register_buffer("var", torch.ones(dim))
    self.register_buffer("count", torch.tensor(1e-4))

  def update(self, x: torch.Tensor):
    batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
    delta, total = batch_mean - self.mean, self.count + n
    self.mean += delta * n / total
    self.var.copy_((self.var * self.count + batch_var * n + delta.square() * self.count * n / total) / total)
    self.count.copy_(total)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-10.0, 10.0)


class Agent(nn.Module):
  def __init__(self, num_obs: int, num_actions: int, hidden: int = 128):
    super().__init__()
    self.obs_rms = RunningMeanStd(num_obs)
    self.critic = nn.Sequential(
      layer_init(nn.Linear(num_obs, hidden)), nn.Tanh(), layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
      layer_init(nn.Linear(hidden, 1), std=1.0))
    self.actor_mean = nn.Sequential(
      layer_init(nn.Linear(num_obs, hidden)), nn.Tanh(), layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
      layer_init(nn.Linear(hidden, num_actions), std=0.01))
    self.actor_logstd = nn.Parameter(torch.zeros(1, num_actions))

  # x: observations normalised by obs_rms (stored so in the rollout, as CleanRL's
  # NormalizeObservation wrapper returns them: the update sees what the rollout saw)
  def get_value(self, x: torch.Tensor) -> torch.Tensor:
    return self.critic(x).squeeze(-1)

  def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
    mean = self.actor_mean(x)
    dist = Normal(mean, self.actor_logstd.expand_as(mean).exp())
    if action is None:
      action = dist.sample()
    return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.critic(x).squeeze(-1)


def train(args: Args, env=None) -> list[dict]:
  """Trains a PPO agent on args.task (or on `env`, a gymnasium VectorEnv with torch outputs
  and SAME_STEP autoreset, e.g. make_gym(task, n, device, **cfg) with config overrides);
  returns one record per update: update, global_step (env steps over all envs so far),
  mean_reward (per env step of the rollout), pg_loss, v_loss, entropy, approx_kl, clipfrac,
  sps (env steps per second)."""
  torch.manual_seed(args.seed)
  if env is None:
    env = envs.make_gym(args.task, args.num_envs, args.device)
  elif env.num_envs != args.num_envs:
    raise ValueError(f"the env has {env.num_envs} envs, args.num_envs is {args.num_envs}")
  dev = torch.device(env.device)
  obs_dim = env.single_observation_space.shape[0]
  act_space = env.single_action_space
  act_dim = act_space.shape[0]
  act_lo = torch.as_tensor(act_space.low, device=dev)
  act_hi = torch.as_tensor(act_space.high, device=dev)
  batch_size = args.num_envs * args.num_steps
  minibatch_size = batch_size // args.num_minibatches
  num_updates = args.total_timesteps // batch_size
  if num_updates < 1 or minibatch_size < 1:
    raise ValueError(f"total_timesteps {args.total_timesteps} is less than one rollout of num_envs * "
                     f"num_steps = {batch_size} env steps (or num_minibatches {args.num_minibatches} "
                     f"exceeds it): raise --total-timesteps")

  agent = Agent(obs_dim, act_dim, args.hidden).to(dev)
  optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
  obs_buf = torch.zeros(args.num_steps, args.num_envs, obs_dim, device=dev)
  act_buf = torch.zeros(args.num_steps, args.num_envs, act_dim, device=dev)
  logp_buf, rew_buf, done_buf, val_buf = (torch.zeros(args.num_steps, args.num_envs, device=dev) for _ in range(4))

  global_step, start = 0, time.perf_counter()
  next_obs, _ = env.reset(seed=args.seed)
  next_done = torch.zeros(args.num_envs, device=dev)
  history = []
  for update in range(num_updates):
    if args.anneal_lr:
      optimizer.param_groups[0]["lr"] = (1.0 - update / num_updates) * args.learning_rate
    for step in range(args.num_steps):
      global_step += args.num_envs
      agent.obs_rms.update(next_obs)
      x = agent.obs_rms(next_obs)
      obs_buf[step], done_buf[step] = x, next_done
      with torch.no_grad():
        action, logprob, _, value = agent.get_action_and_value(x)
      act_buf[step], logp_buf[step], val_buf[step] = action, logprob, value
      next_obs, reward, terminated, truncated, info = env.step(torch.clamp(action, act_lo, act_hi))
      reward = reward.clone()
      if truncated.any():  # a time-out is not the end of the task: bootstrap from the final obs
        with torch.no_grad():
          final_value = agent.get_value(agent.obs_rms(info["final_obs"]))
        reward += args.gamma * torch.where(truncated, final_value, torch.zeros_like(final_value))
      rew_buf[step] = reward
      next_done = (terminated | truncated).float()

    with torch.no_grad():  # GAE(lambda)
      next_value = agent.get_value(agent.obs_rms(next_obs))
      advantages = torch.zeros_like(rew_buf)
      lastgaelam = torch.zeros(args.num_envs, device=dev)
      for t in reversed(range(args.num_steps)):
        nextnonterminal = 1.0 - (next_done if t == args.num_steps - 1 else done_buf[t + 1])
        nextvalues = next_value if t == args.num_steps - 1 else val_buf[t + 1]
        delta = rew_buf[t] + args.gamma * nextvalues * nextnonterminal - val_buf[t]
        lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
        advantages[t] = lastgaelam
      returns = advantages + val_buf

    b_obs, b_act = obs_buf.reshape(-1, obs_dim), act_buf.reshape(-1, act_dim)
    b_logp, b_adv, b_ret, b_val = (x.reshape(-1) for x in (logp_buf, advantages, returns, val_buf))
    clipfracs = []
    for _ in range(args.update_epochs):
      perm = torch.randperm(batch_size, device=dev)
      for mb in perm.split(minibatch_size):
        _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_act[mb])
        logratio = newlogprob - b_logp[mb]
        ratio = logratio.exp()
        with torch.no_grad():
          approx_kl = ((ratio - 1) - logratio).mean()
          clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean())
        mb_adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
        pg_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
        if args.clip_vloss:
          v_clipped = b_val[mb] + (newvalue - b_val[mb]).clamp(-args.clip_coef, args.clip_coef)
          v_loss = 0.5 * torch.max((newvalue - b_ret[mb]).square(), (v_clipped - b_ret[mb]).square()).mean()
        else:
          v_loss = 0.5 * (newvalue - b_ret[mb]).square().mean()
        entropy_loss = entropy.mean()
        loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

    record = {"update": update, "global_step": global_step, "mean_reward": float(rew_buf.mean()),
              "pg_loss": pg_loss.item(), "v_loss": v_loss.item(), "entropy": entropy_loss.item(),
              "approx_kl": float(approx_kl), "clipfrac": float(torch.stack(clipfracs).mean()),
              "sps": global_step / (time.perf_counter() - start)}
    history.append(record)
    if not args.quiet:
      print(f"[cleanrl_ppo] update {update + 1}/{num_updates}  step {global_step}  mean reward "
            f"{record['mean_reward']:.4f}  pg {record['pg_loss']:.4f}  v {record['v_loss']:.4f}  "
            f"kl {record['approx_kl']:.4f}  {record['sps']:.0f} steps/s", flush=True)
  if args.save_path:
    torch.save({"agent": agent.state_dict(), "task": args.task, "obs_dim": obs_dim, "act_dim": act_dim,
                "hidden": args.hidden}, args.save_path)
  return history


def main(argv=None):
  import tyro
  args = tyro.cli(Args, args=argv, description=__doc__)
  history = train(args)
  last = history[-1]
  print(f"[cleanrl_ppo] {args.task}: {last['global_step']} env steps, last mean reward "
        f"{last['mean_reward']:.4f}" + (f", agent saved to {args.save_path}" if args.save_path else ""))
  return history


if __name__ == "__main__":
  main()
