"""Instruction counts of a whole env step, two-agent sumo against humanoid-stand, split into
the physics step, the opponent's inference and the rest (callgrind), for the self-play
throughput criterion (bench/selfplay.py) on a shared machine where timings are not reportable.

  OMP_NUM_THREADS=1 valgrind --tool=callgrind --collect-atstart=no \\
      --callgrind-out-file=OUT.%p python -m bench.callgrind_selfplay run [--num-envs 256] \\
      [--warm-steps 20] [--env-steps 3] [--module build/cp311-*/_native*.so]
  python -m bench.callgrind_selfplay report OUT.<pid>.*

`run` builds both envs as `bench.selfplay.throughput` does (agent B's actions from an
OpponentBatch of `--nslot` snapshots, random actions 0.2 N(0, 1)), steps each `--warm-steps`
env steps uncollected, then `--env-steps` env steps collected. A small C library compiled on
the fly (gcc, valgrind/callgrind.h) switches collection on and off and dumps the counts at
every boundary between the parts of a step, each dump labelled "<env>|<part>|<size>": physics
(each `Simulator.step` call: its Python wrapper, the binding and the native step), opponent
(the OpponentBatch call) and rest (the PD law, observations, rewards, terminations, resets and
the Python between them). `report` sums the dumps of one run per env and part and prints
instructions per env step (and per world), with the native StepPlan::step's share of physics
(inclusive, from the call sites; `--module` of a build folder's copy carries its symbols).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import subprocess
import tempfile
from collections import defaultdict

from . import common

KINDS = ("physics", "opponent", "rest")

_MARKER_C = r"""
#include <valgrind/callgrind.h>
void pws_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
void pws_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


def _markers():
  """The client-request library (module doc), compiled into a temporary folder."""
  d = tempfile.mkdtemp(prefix="pws_cg_")
  src, lib = os.path.join(d, "requests.c"), os.path.join(d, "librequests.so")
  with open(src, "w") as f:
    f.write(_MARKER_C)
  subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", lib, src], check=True)
  lib = ctypes.CDLL(lib)
  lib.pws_dump.argtypes = [ctypes.c_char_p]
  return lib


def run(a):
  if a.module:
    common.use_native_build(a.module)
  import torch
  from .selfplay import throughput_envs
  torch.set_num_threads(1)
  lib = _markers()
  envs_, random_actions = throughput_envs(a.num_envs, "cpu", a.nslot, "native")
  for name, env in envs_.items():
    if env.sim.backend != "native":
      raise SystemExit(f"{name} runs on the {env.sim.backend} backend; this counts the native step")
  with torch.inference_mode():
    for name, env in envs_.items():
      for _ in range(a.warm_steps):
        env.step(random_actions())
      tag = f"{a.num_envs} worlds {a.env_steps} env steps"

      def region(kind, fn, *args, _name=name, _tag=tag, **kw):
        lib.pws_dump(f"{_name}|rest|{_tag}".encode())  # what ran since the last dump
        out = fn(*args, **kw)
        lib.pws_dump(f"{_name}|{kind}|{_tag}".encode())
        return out
      sim_step = (lambda *args, **kw: None) if a.no_physics else env.sim.step
      env.sim.step = lambda *args, _s=sim_step, **kw: region("physics", _s, *args, **kw)
      opponent = getattr(env, "opponent", None)
      if opponent is not None:
        env.opponent = lambda obs, _o=opponent: region("opponent", _o, obs)
      actions = [random_actions() for _ in range(a.env_steps)]
      lib.pws_dump(b"outside")
      lib.pws_toggle()  # collection on
      for act in actions:
        env.step(act)
      lib.pws_dump(f"{name}|rest|{tag}".encode())
      lib.pws_toggle()  # off
      del env.sim.step
      if opponent is not None:
        env.opponent = opponent
      print(f"{name}: {a.num_envs} worlds, {a.env_steps} env steps after {a.warm_steps}, mean contacts "
            f"per world {float(env.sim.ncon.float().mean()):.3f}", flush=True)


def _dump(path: str) -> tuple:
  """(trigger label, total Ir, Ir inclusive of StepPlan::step) of one callgrind dump."""
  label, total, native = "", 0, 0
  names, current, pending = {}, None, None
  with open(path, errors="replace") as f:
    for line in f:
      if line.startswith("desc: Trigger: Client Request: "):
        label = line.split("Client Request: ", 1)[1].strip()
      elif line.startswith("totals:"):
        total = int(line.split()[1])
      elif line.startswith("cfn="):
        m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.strip())
        if m.group(2):
          names[m.group(1)] = m.group(2)
        pending = names.get(m.group(1), "")
      elif line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
        if m.group(2):
          names[m.group(1)] = m.group(2)
        current, pending = names.get(m.group(1), ""), None
      elif line.startswith("calls=") and pending is not None:
        inclusive_next = pending
        pending = ("calls", inclusive_next)
      elif isinstance(pending, tuple):
        # the cost line after calls=: inclusive cost of that call site
        if "StepPlan::step(int, int)" in pending[1] and "StepPlan::step(int, int)" not in (current or ""):
          native += int(line.split()[1])
        pending = None
  return label, total, native


def summarise(paths: list) -> dict:
  """{env: {"nworld", "env_steps", and instructions per env step: "env_step", "physics",
  "native" (StepPlan::step inside physics), "opponent", "rest"}} from every dump of one run."""
  sums = defaultdict(lambda: defaultdict(int))
  tags = {}
  for path in paths:
    label, total, native = _dump(path)
    parts = label.split("|")
    if len(parts) != 3:
      continue  # "outside" and the dump at exit
    env, kind, tag = parts
    if kind not in KINDS:
      raise ValueError(f"{path}: unknown part '{kind}' in the dump label '{label}'")
    sums[env][kind] += total
    sums[env]["native"] += native
    tags[env] = tag
  if not sums:
    raise ValueError(f"no dump of `bench.callgrind_selfplay run` among {len(paths)} files")
  out = {}
  for env, s in sums.items():
    m = re.match(r"(\d+) worlds (\d+) env steps", tags[env])
    nworld, steps = int(m.group(1)), int(m.group(2))
    per = {k: s[k] / steps for k in (*KINDS, "native")}
    out[env] = {"nworld": nworld, "env_steps": steps, "env_step": sum(per[k] for k in KINDS), **per}
  return out


def report(paths: list):
  for env, r in summarise(paths).items():
    print(f"{env} ({r['nworld']} worlds, {r['env_steps']} env steps): instructions per env step, "
          f"per world in brackets")
    for name, v in (("env step", r["env_step"]), ("physics (Simulator.step)", r["physics"]),
                    ("  native StepPlan::step", r["native"]),
                    ("  host side of Simulator.step", r["physics"] - r["native"]),
                    ("opponent inference", r["opponent"]),
                    ("rest (PD law, obs, rewards, resets, Python)", r["rest"])):
      print(f"  {name:44s} {v:14,.0f}  ({v / r['nworld']:12,.0f})")


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m bench.callgrind_selfplay", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="cmd", required=True)
  r = sub.add_parser("run")
  r.add_argument("--num-envs", type=int, default=256)
  r.add_argument("--nslot", type=int, default=8)
  r.add_argument("--warm-steps", type=int, default=20)
  r.add_argument("--env-steps", type=int, default=3)
  r.add_argument("--module", default=None, help="path of a pywarp_sim._native build to load instead")
  r.add_argument("--no-physics", action="store_true",
                 help="Simulator.step does nothing in the counted steps (the warm-up steps run it): "
                      "the other parts at a world count whose physics would take callgrind too long")
  q = sub.add_parser("report")
  q.add_argument("dumps", nargs="+", help="every dump file of one run (OUT.<pid>.*)")
  a = p.parse_args(argv)
  if a.cmd == "run":
    run(a)
  else:
    report(a.dumps)


if __name__ == "__main__":
  main()
