"""Instruction counts of one model's step, native against MuJoCo C, from the same states
(callgrind), for comparing the work a step does on a shared machine where timings are not
reportable but instruction counts are.

  valgrind --tool=callgrind --callgrind-out-file=OUT '--toggle-collect=*StepPlan::step(int, int)' \
      python -m bench.callgrind_model XML native --module build/cp311-*/_native*.so [--nworld 8]
  python -m bench.callgrind_model XML mujoco --steps 0 --states S.npz      # the states, once
  valgrind --tool=callgrind --callgrind-out-file=OUT --toggle-collect=mj_step \
      python -m bench.callgrind_model XML mujoco --states S.npz [--nworld 8] [--steps 100]

The states: MuJoCo C steps each world `--warm` seconds from qpos0 under bench's random
controls (common.random_controls, in each actuator's ctrlrange; the controls `bench models`
times with), and both simulators then take `--steps` steps of the `--nworld` worlds from those
states (rounded to float32, the precision of our Data), the controls held. Divide "Collected"
by nworld * steps for instructions per world-step. 8 worlds are one lane group
(kernels/step_lanes.h), the path a 64-world run takes on each thread. OMP_NUM_THREADS=1 keeps
callgrind's serialised threads from counting OpenMP's spinning.
"""

from __future__ import annotations

import argparse
import os
import warnings

import mujoco
import numpy as np

from . import common


def warm_states(mjm, nworld: int, seconds: float) -> tuple:
  """(qpos, qvel, act, qacc_warmstart) per world, float32-rounded, and the controls."""
  ctrl = common.random_controls(mjm, nworld)
  nsteps = int(round(seconds / mjm.opt.timestep))
  rows = []
  for w in range(nworld):
    d = mujoco.MjData(mjm)
    d.ctrl[:] = ctrl[w]
    for _ in range(nsteps):
      mujoco.mj_step(mjm, d)
    rows.append(tuple(np.asarray(a, np.float32).astype(np.float64) for a in (d.qpos, d.qvel, d.act, d.qacc_warmstart)))
  return rows, ctrl


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m bench.callgrind_model", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("xml")
  p.add_argument("backend", choices=["native", "mujoco"])
  p.add_argument("--nworld", type=int, default=8)
  p.add_argument("--steps", type=int, default=100)
  p.add_argument("--warm", type=float, default=1.5, help="seconds MuJoCo C steps from qpos0 first")
  p.add_argument("--states", default=None, help=".npz file of the warm states: written when missing, "
                 "read when present (run once outside callgrind first: MuJoCo's warm-up steps would "
                 "count under --toggle-collect=mj_step)")
  p.add_argument("--module", default=None, help="path of a pywarp_sim._native build to load instead "
                 "(the installed one is stripped: callgrind's --toggle-collect needs the symbols of "
                 "the build folder's copy)")
  a = p.parse_args(argv)
  if a.module:
    common.use_native_build(a.module)
  mjm = mujoco.MjModel.from_xml_path(a.xml)
  if a.states and os.path.exists(a.states):
    z = np.load(a.states)
    rows, ctrl = list(zip(z["qpos"], z["qvel"], z["act"], z["qacc_warmstart"])), z["ctrl"]
  else:
    rows, ctrl = warm_states(mjm, a.nworld, a.warm)
    if a.states:
      np.savez(a.states, **{k: np.array([r[i] for r in rows]) for i, k in
                            enumerate(("qpos", "qvel", "act", "qacc_warmstart"))}, ctrl=ctrl)
  if a.backend == "mujoco":
    ncon = []
    for w, (qpos, qvel, act, warm) in enumerate(rows):
      d = mujoco.MjData(mjm)
      d.qpos[:], d.qvel[:], d.act[:], d.qacc_warmstart[:], d.ctrl[:] = qpos, qvel, act, warm, ctrl[w]
      for _ in range(a.steps):
        mujoco.mj_step(mjm, d)
        ncon.append(d.ncon)
  else:
    import pywarp_sim as pws
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=a.nworld, device="cpu", backend="native")
    if sim.backend != "native":
      raise SystemExit(f"the model runs on the {sim.backend} backend; callgrind_model counts the native step")
    d = sim.data
    d.qpos.assign(np.array([r[0] for r in rows], np.float32))
    d.qvel.assign(np.array([r[1] for r in rows], np.float32))
    if mjm.na:
      d.act.assign(np.array([r[2] for r in rows], np.float32))
    d.qacc_warmstart.assign(np.array([r[3] for r in rows], np.float32))
    if mjm.nu:
      d.ctrl.assign(ctrl.astype(np.float32))
    ncon = []
    for _ in range(a.steps):
      sim.step()
      ncon.extend(int(n) for n in d.contact.ncon.numpy())
  print(f"{a.backend}: {a.nworld} worlds x {a.steps} steps, mean contacts per world-step {np.mean(ncon):.3f}")


if __name__ == "__main__":
  main()
