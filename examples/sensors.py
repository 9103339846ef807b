"""Step a Simulator from Python and read its sensors by name.

  python -m examples.sensors [--nworld 4] [--seconds 1.0] [--device cpu]

Builds the quadruped of quadruped.xml in `nworld` worlds, each dropped from a different
height, holds the bent-knee pose with the position actuators (ctrl = joint target, rad) and
steps. `sim.sensor(name)` is a zero-copy (nworld, dim) view of that sensor's columns of
sensordata in MuJoCo's units: imu_gyro (rad/s), imu_acc (m/s^2, includes gravity: +9.81 on z
at rest), torso_quat (w, x, y, z), fl_knee_pos (rad), *_touch (N, normal force on the foot's
touch zone). Prints them at the end; at rest the four touch forces of a world add up to its
weight (mass * 9.81 N) and the accelerometer reads g.
"""

from __future__ import annotations

import argparse
import os

import torch

import pywarp_sim as pws

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quadruped.xml")
POSE = {"hip": 0.4, "knee": -0.8}  # rad, as examples/quadruped.py's default pose
FEET = ("fl", "fr", "rl", "rr")


def run(nworld: int = 4, seconds: float = 1.0, device: str = "cpu") -> dict:
  """Steps the quadruped for `seconds` and returns {sensor name: (nworld, dim) tensor} of
  every sensor, plus "weight" (nworld,) N: the robot's mass times gravity."""
  model = pws.load_model(MODEL, device)
  sim = pws.Simulator(model, nworld=nworld, device=device)
  mjm = model.mj_model  # the compiled MjModel: names, addresses, timestep
  # the pose as position-actuator targets, and as the start state: feet just above the floor,
  # the worlds dropped from 0, 1, 2, ... cm higher
  target = torch.tensor([POSE[mjm.actuator(i).name.split("_")[1]] for i in range(mjm.nu)],
                        dtype=sim.ctrl.dtype, device=sim.ctrl.device)
  sim.ctrl[:] = target
  qpos = sim.qpos.clone()
  qpos[:, 2] = 0.28 + 0.01 * torch.arange(nworld, device=qpos.device)
  for i in range(mjm.nu):
    qpos[:, mjm.jnt_qposadr[mjm.actuator_trnid[i, 0]]] = target[i]
  sim.qpos.copy_(qpos)
  sim.step(int(round(seconds / mjm.opt.timestep)))
  names = [mjm.sensor(i).name for i in range(mjm.nsensor)]
  out = {name: sim.sensor(name).clone() for name in names}
  mass = float(mjm.body_subtreemass[mjm.body("torso").id])
  out["weight"] = torch.full((nworld,), mass * float(-mjm.opt.gravity[2]))
  return out


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m examples.sensors", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--nworld", type=int, default=4)
  p.add_argument("--seconds", type=float, default=1.0)
  p.add_argument("--device", default="cpu")
  a = p.parse_args(argv)
  s = run(a.nworld, a.seconds, a.device)
  touch = torch.cat([s[f"{foot}_touch"] for foot in FEET], dim=-1)  # (nworld, 4) N
  for w in range(a.nworld):
    print(f"world {w}: gyro {[round(x, 4) for x in s['imu_gyro'][w].tolist()]} rad/s, accelerometer z "
          f"{float(s['imu_acc'][w, 2]):.3f} m/s^2, quat {[round(x, 4) for x in s['torso_quat'][w].tolist()]}, "
          f"fl knee {float(s['fl_knee_pos'][w, 0]):.3f} rad, touch {[round(x, 2) for x in touch[w].tolist()]} N "
          f"(sum {float(touch[w].sum()):.2f} N, weight {float(s['weight'][w]):.2f} N)")


if __name__ == "__main__":
  main()
