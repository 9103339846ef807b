"""Menagerie robots that collide with meshes, against MuJoCo C, as shipped (scene.xml
unmodified, MuJoCo 4's multicontact over hull polygons for the mesh pairs): which load on each
backend, 100 steps from the home keyframe healthy, contact sets and qacc against MuJoCo C at a
few states, and steps/s of the native backend (1 and 256 worlds) against MuJoCo C
single-threaded on the same cores; and whether the same scenes load with multiCCD disabled
(MuJoCo's own flag: every convex pair then returns one contact).

  python -m bench.menagerie_mesh --path MENAGERIE [--robots unitree_g1,...] [--out FILE.json]

Menagerie is not part of the repository (tests/test_menagerie_mesh.py reads PWS_MENAGERIE).
bench/models.py (`python -m bench models`) runs every legged robot's scenes, tumbling; this
module keeps the mesh robots' standing and dropped survey on its loading, state comparison and
placeholder functions.
A snapshot without the large visual-only mesh files can take small placeholders of the same
names: those geoms neither collide nor carry mass here (`physics_fingerprint` is unchanged by
the placeholder's size), so the physics does not change.
"""

import argparse
import json
import os
import platform
import time
import warnings

import mujoco
import numpy as np

from . import models
from .models import BACKENDS, CONVERGED, home, physics_fingerprint, simulator, try_load  # noqa: F401 (tests use them here)

# robot folder -> scene file (Talos ships two scenes, motor and position actuators)
ROBOTS = {
  "unitree_g1": "scene.xml", "robotis_op3": "scene.xml", "pal_talos": "scene_motor.xml",
  "fourier_n1": "scene.xml", "boston_dynamics_spot": "scene.xml",
  "google_barkour_v0": "scene.xml", "google_barkour_vb": "scene.xml",
  "toddlerbot_2xc": "scene.xml", "toddlerbot_2xm": "scene.xml",
}
NSTEPS = 100
NOTES = [
  "as_shipped: the scene as Menagerie ships it (mesh pairs through MuJoCo 4's multicontact over hull "
  "polygons), measured; multiccd_disabled: whether the same scene loads with MuJoCo's multiCCD flag "
  "disabled (every convex pair then gives one contact)",
  "states: MuJoCo C, converged solver (iterations 200, ls_iterations 50, tolerance 1e-10): standing "
  "from the home keyframe (steps 1, 50, 100) and dropped from 5 cm (every 30 steps of 150); "
  "qacc_rel_err = max|ours - MuJoCo| / max(max|MuJoCo|, 1)",
  "speed: native over all OpenMP threads (cpu_count), MuJoCo C mj_step on one thread, world-steps "
  "per wall second over 2 s from the home keyframe with the shipped solver settings; the machine "
  "is shared with other jobs (loadavg_at_end), so speeds vary between runs",
  "visual-only mesh files missing from a snapshot may be small placeholders: physics_fingerprint "
  "(masses, inertias, contact masks) does not depend on them",
]


def load(path: str, robot: str, multiccd: bool = True) -> mujoco.MjModel:
  mjm = mujoco.MjModel.from_xml_path(os.path.join(path, robot, ROBOTS[robot]))
  if not multiccd:
    mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_MULTICCD)
  return mjm


def _type(t: int) -> str:
  return mujoco.mjtGeom(int(t)).name.replace("mjGEOM_", "").lower()


def mesh_pair_types(mjm) -> dict:
  """Candidate geom pairs with a mesh, counted by type pair ("box-mesh": n), from the pair table
  built with multiCCD disabled (where every mesh pair loads)."""
  import pywarp_sim as pws
  m = mjm.__copy__()
  m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_MULTICCD)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    host = pws.put_model(m, "cpu").collision.host
  counts = {}
  for g1, g2 in zip(host["geom1"], host["geom2"]):
    t1, t2 = sorted((int(m.geom_type[g1]), int(m.geom_type[g2])))
    if t2 == mujoco.mjtGeom.mjGEOM_MESH:
      key = f"{_type(t1)}-{_type(t2)}"
      counts[key] = counts.get(key, 0) + 1
  return counts


def _set_state(sim, mjd, worlds=slice(None)):
  import torch
  sim.qpos[worlds] = torch.as_tensor(mjd.qpos, dtype=sim.qpos.dtype)
  sim.qvel[worlds] = torch.as_tensor(mjd.qvel, dtype=sim.qvel.dtype)
  if mjd.ctrl.size:
    sim.ctrl[worlds] = torch.as_tensor(mjd.ctrl, dtype=sim.ctrl.dtype)
  if mjd.act.size:
    sim.act[worlds] = torch.as_tensor(mjd.act, dtype=sim.act.dtype)


def health(mjm, backend: str, nsteps: int = NSTEPS) -> dict:
  """nsteps from the home keyframe (its controls held): finite state, no health flag, and
  the lowest body origin's height at the end against MuJoCo's."""
  import torch
  sim = simulator(mjm, 1, backend)
  mjd = home(mjm)
  _set_state(sim, mjd)
  sim.step(nsteps)
  for _ in range(nsteps):
    mujoco.mj_step(mjm, mjd)
  return {"steps": nsteps, "finite": bool(torch.isfinite(sim.qpos).all()),
          "health": int(sim.health[0]), "root_height": float(sim.qpos[0, 2]),
          "root_height_mujoco": float(mjd.qpos[2])}


def states(mjm, seed: int = 0) -> list:
  """MuJoCo C states (qpos, qvel, ctrl, act, qacc_warmstart): standing from the home keyframe
  (steps 1, 50, 100) and dropped from 5 cm above it with small random velocities (every 30
  steps of 150), converged solver settings."""
  m = mjm.__copy__()
  for k, v in CONVERGED.items():
    setattr(m.opt, k, v)
  out = []
  rng = np.random.default_rng(seed)
  for drop in (False, True):
    mjd = home(m)
    if drop:
      mjd.qpos[2] += 0.05
      mjd.qvel[:] = rng.normal(0, 0.3, m.nv)
    for k in range(1, 151 if drop else 101):
      mujoco.mj_step(m, mjd)
      if (k % 30 == 0) if drop else k in (1, 50, 100):
        out.append(tuple(np.array(a) for a in (mjd.qpos, mjd.qvel, mjd.ctrl, mjd.act, mjd.qacc_warmstart)))
  return out


def compare_states(mjm, backend: str, sts: list) -> dict:
  """bench.models.compare_states at converged iterations with the scene's own solver and cone."""
  m = mjm.__copy__()
  for k, v in CONVERGED.items():
    setattr(m.opt, k, v)
  return models.compare_states(m, backend, sts)


def speed(mjm, seconds: float = 2.0) -> dict:
  """Steps/s: native at 1 and 256 worlds (all OpenMP threads), MuJoCo C's mj_step on one
  thread; from the home keyframe, world-steps per wall second after a warm-up."""
  import pywarp_sim as pws
  out = {"threads": os.cpu_count()}
  for nworld in (1, 256):
    sim = simulator(mjm, nworld, "native")
    _set_state(sim, home(mjm))
    sim.step(2)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
      sim.step(10)
      n += 10
    out[f"native_{nworld}_steps_per_s"] = n * nworld / (time.perf_counter() - t0)
    out[f"native_{nworld}_health"] = int((sim.health != 0).sum())
  mjd = home(mjm)
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    for _ in range(50):
      mujoco.mj_step(mjm, mjd)
    n += 50
  out["mujoco_1thread_steps_per_s"] = n / (time.perf_counter() - t0)
  del pws
  return out


def survey(path: str, robot: str, with_speed: bool = True) -> dict:
  shipped = load(path, robot)
  rec = {"robot": robot, "scene": ROBOTS[robot], "ngeom": int(shipped.ngeom), "nv": int(shipped.nv),
         "collision_meshes": int(sum(1 for g in range(shipped.ngeom) if shipped.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH
                                     and (shipped.geom_contype[g] or shipped.geom_conaffinity[g]))),
         "mesh_pairs": mesh_pair_types(shipped)}
  for key, mjm in (("as_shipped", shipped), ("multiccd_disabled", load(path, robot, multiccd=False))):
    variant = {"load": {b: try_load(mjm, b) or "loads" for b in BACKENDS}}
    if key == "as_shipped":
      sts = states(mjm)
      for b in BACKENDS:
        if variant["load"][b] == "loads":
          variant[b] = {"health": health(mjm, b), **compare_states(mjm, b, sts)}
      if with_speed and variant["load"]["native"] == "loads":
        variant["speed"] = speed(mjm)
    rec[key] = variant
  return rec


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--path", required=True, help="a mujoco_menagerie checkout")
  ap.add_argument("--robots", default=",".join(ROBOTS))
  ap.add_argument("--no-speed", action="store_true")
  ap.add_argument("--out")
  args = ap.parse_args(argv)
  recs = []
  for robot in args.robots.split(","):
    t0 = time.perf_counter()
    rec = survey(args.path, robot, not args.no_speed)
    rec["seconds"] = time.perf_counter() - t0
    recs.append(rec)
    print(json.dumps(rec), flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"mujoco": mujoco.__version__, "machine": platform.processor() or platform.machine(),
                 "cpu_count": os.cpu_count(), "loadavg_at_end": os.getloadavg(), "notes": NOTES,
                 "robots": recs}, f, indent=1)


if __name__ == "__main__":
  main()
