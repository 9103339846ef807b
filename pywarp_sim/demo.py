"""Demo: a batch of humanoids stepped together; prints throughput and the state of the batch.

  python -m pywarp_sim.demo [--nworld 256] [--seconds 2.0] [--device cpu|cuda:0]
"""

import argparse
import time

import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim.cli import check_device, nonneg_int, positive_float, positive_int
from pywarp_sim.simulator import BACKENDS


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m pywarp_sim.demo", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", default="humanoid", help="bundled model name, MJCF path or XML")
  parser.add_argument("--nworld", type=positive_int, default=256)
  parser.add_argument("--seconds", type=positive_float, default=2.0, help="simulated time per world, s (> 0)")
  parser.add_argument("--device", default=None, help="cpu or cuda:N (default: cuda if present)")
  parser.add_argument("--backend", default="auto", choices=BACKENDS,
                      help="auto: the native step (OpenMP / CUDA) where it is built and supports the "
                           "model, Warp otherwise")
  parser.add_argument("--seed", type=nonneg_int, default=0)
  return parser


def parse_args(argv=None) -> argparse.Namespace:
  """The parsed command line; exits with code 2 and a message naming the argument when one
  is out of range or the device is missing, before the model is loaded."""
  parser = build_parser()
  args = parser.parse_args(argv)
  if args.device is not None:
    check_device(parser, args.device)
  return args


def main(argv=None):
  args = parse_args(argv)

  device = args.device or ("cuda:0" if wp.is_cuda_available() else "cpu")
  t0 = time.perf_counter()
  sim = pws.Simulator(args.model, nworld=args.nworld, device=device, backend=args.backend)
  m = sim.model
  load_s = time.perf_counter() - t0
  nsteps = max(1, int(round(args.seconds / m.opt.timestep)))

  gen = torch.Generator(device="cpu").manual_seed(args.seed)
  ctrl = (torch.rand((args.nworld, m.nu), generator=gen) * 2 - 1) * 0.3

  t0 = time.perf_counter()
  sim.ctrl[:] = ctrl.to(sim.ctrl.device)
  sim.step(1)  # compiles (or loads cached) kernels
  wp.synchronize_device(sim.device)
  first_s = time.perf_counter() - t0

  t0 = time.perf_counter()
  sim.step(nsteps - 1)
  wp.synchronize_device(sim.device)
  elapsed = time.perf_counter() - t0
  rate = args.nworld * (nsteps - 1) / max(elapsed, 1e-9)

  z = sim.qpos[:, 2]
  healthy = int((sim.health == 0).sum())
  print(f"pywarp_sim demo: {args.nworld} x '{args.model}' (nq={m.nq}, nv={m.nv}, nu={m.nu}) on "
        f"{sim.device}, backend={sim.backend}")
  print(f"  load {load_s:.2f} s, first step (kernel compile/load) {first_s:.2f} s")
  print(f"  {nsteps} steps of {m.opt.timestep * 1e3:.1f} ms = {nsteps * m.opt.timestep:.2f} s simulated")
  ncon = sim.data.contact.ncon.numpy().mean() if sim.data.contact is not None else 0.0
  print(f"  root height min/mean/max: {z.min():.3f} / {z.mean():.3f} / {z.max():.3f} m; "
        f"mean contacts per world {ncon:.1f}; healthy worlds {healthy}/{args.nworld}")
  print(f"  steps/s: {rate:,.0f} (world-steps per second)")


if __name__ == "__main__":
  main()
