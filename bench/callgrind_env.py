"""Instruction counts of the native step inside an env (callgrind), for comparing the
two-robot self-play world with the one-robot humanoid world on a shared machine, where
timings are not reportable but instruction counts are.

  valgrind --tool=callgrind --callgrind-out-file=OUT '--toggle-collect=*StepPlan::step(int, int)' \
      python -m bench.callgrind_env sumo|humanoid [--num-envs 8] [--env-steps 5] [--module SO]

Collection runs only inside the native step (StepPlan::step), so the count is the physics of
`--env-steps` env steps (each `decimation` = 4 Simulator steps) of `--num-envs` worlds from the
env's reset, agent A's (or the single robot's) actions 0.2 N(0, 1), agent B's zero; divide
"Collected" by num_envs * env_steps * 4 for instructions per world-step. 8 worlds are one lane
group (kernels/step_lanes.h), the path the 256-world throughput runs. `--module` loads another
build of pywarp_sim._native (e.g. one configured with -DCMAKE_CXX_FLAGS=-g, whose per-line
counts `callgrind_annotate` attributes to the kernels' source lines); the same states come
out of any build whose results are bit for bit the same.
"""

from __future__ import annotations

import argparse

from . import common


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m bench.callgrind_env", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("env", choices=["sumo", "humanoid"])
  p.add_argument("--num-envs", type=int, default=8)
  p.add_argument("--env-steps", type=int, default=5)
  p.add_argument("--module", default=None, help="path of a pywarp_sim._native build to load instead")
  a = p.parse_args(argv)
  if a.module:
    common.use_native_build(a.module)
  import torch
  from pywarp_sim import envs
  torch.manual_seed(0)
  if a.env == "sumo":
    from pywarp_sim.selfplay import SumoCfg, SumoEnv
    env = SumoEnv(SumoCfg(backend="native", validate_actions=False), a.num_envs, "cpu")
  else:
    env = envs.make("humanoid-stand", a.num_envs, "cpu", backend="native", validate_actions=False)
  if env.sim.backend != "native":
    raise SystemExit(f"the env runs on the {env.sim.backend} backend; callgrind_env counts the native step")
  gen = torch.Generator().manual_seed(1)
  with torch.inference_mode():
    env.reset()
    for _ in range(a.env_steps):
      env.step(0.2 * torch.randn(a.num_envs, env.num_actions, generator=gen))
  print(f"{a.env}: {a.num_envs} worlds, {a.env_steps} env steps, mean contacts per world "
        f"{float(env.sim.ncon.float().mean()):.3f}")


if __name__ == "__main__":
  main()
