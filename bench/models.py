"""Real robots against MuJoCo C: every scene XML of a directory of robots (a mujoco_menagerie
checkout), as shipped, on both backends.

  python -m bench models --path DIR [--robots unitree_g1,...] [--states 16] [--no-speed] [--json OUT]
  python -m bench models --path DIR --fill-missing-meshes   # placeholders for absent visual meshes
  python -m bench models --table OUT.jsonl                  # the Markdown table of a run

Per scene (each robot folder's scene*.xml), one JSON line:
  load             per backend "loads" or the reason it was refused ("UnsupportedModelError: ...")
  states           dropped and tumbling states from MuJoCo C (`tumbling_states`): the robot's
                   home keyframe (qpos0 without one) lifted, tilted and thrown, stepped by MuJoCo C
                   at converged solver settings (CONVERGED), sampled while falling and on the floor
  contact_count_agree / contact_set_agree
                   fraction of the states where our mj_forward finds as many contacts as MuJoCo C /
                   the same geom pairs with multiplicity
  qacc_rel_err     worst over the states whose contact sets agree of
                   max|ours - MuJoCo| / max(max|MuJoCo|, 1), Newton at CONVERGED settings and GJK/EPA
                   at CONVERGED_CCD, with the pyramidal and the elliptic cone (both simulators at the
                   same settings: MJX-tuned scenes ship 1-4 solver iterations, where MuJoCo itself has
                   not converged; at the default ccd_tolerance 1e-6 EPA stops on a face whose normal
                   is off by up to ~5e-3 rad on curved shapes (cylinders, a sphere in a height-field
                   prism), in MuJoCo as in ours, and MuJoCo's own qacc moves by up to 6e-3 when it is
                   tightened)
  qacc_rel_err_<cone>_ccd_shipped
                   the same with the scene's own ccd_tolerance / ccd_iterations (the column before
                   CONVERGED_CCD), reported beside it
  qacc_f32_floor   per cone, worst over the same states of MuJoCo C's own qacc change (same metric)
                   when every qpos coordinate moves by one float32 ulp (FLOOR_TRIES random signs): how
                   far float32 rounding of the state alone moves the answer, a lower bound on what a
                   float32 simulator can reach on that state
  sensordata_rel_err
                   worst over the same states and every sensor of max|ours - MuJoCo| over its
                   columns / max(max|MuJoCo| over its columns, 1), with the scene's own cone
  speed            world-steps/s at NWORLD worlds from qpos0 with random controls, native (OpenMP,
                   every core) and MuJoCo C (mujoco.rollout, as many threads), bench/backends.py's
                   throughput record, shipped solver settings; a world whose state goes
                   non-finite is reset on both (MuJoCo's mj_step resets it; native's auto_reset),
                   counted in native_auto_resets / mujoco_badqacc_warnings (stepping such worlds on
                   as NaN sends every pair through GJK/EPA to ccd_iterations and the solver to
                   its iteration cap: Adam Lite ran at 0.08x MuJoCo that way)

A snapshot without some large visual-only mesh files (tests and a sandbox's mirror) takes
tetrahedra of the same names (`fill_missing_meshes`): the geoms that use them must neither
collide nor carry mass, which `fill_missing_meshes` checks by compiling the scene with
placeholders of two sizes and requiring the same `physics_fingerprint` and no colliding geom on
a placeholder.
"""

import glob
import json
import os
import struct
import time
import warnings

import mujoco
import numpy as np

from . import common

# Menagerie's legged robots (every humanoid, biped and quadruped)
ROBOTS = (
  "agility_cassie", "anybotics_anymal_b", "anybotics_anymal_c", "apptronik_apollo", "berkeley_humanoid",
  "booster_t1", "boston_dynamics_spot", "fourier_n1", "google_barkour_v0", "google_barkour_vb", "pal_talos",
  "pndbotics_adam_lite", "robotis_op3", "toddlerbot_2xc", "toddlerbot_2xm", "unitree_a1", "unitree_g1",
  "unitree_go1", "unitree_go2", "unitree_h1",
)
BACKENDS = ("warp", "native")
# converged solver settings for the state comparisons (both simulators), as tests/test_contact
CONVERGED = dict(iterations=200, ls_iterations=50, tolerance=1e-10)
# converged GJK/EPA for the comparisons (both simulators; the native step's largest ccd_iterations,
# native_backend's ccd_max_iterations): EPA runs until its polytope no longer improves
CONVERGED_CCD = dict(ccd_tolerance=1e-12, ccd_iterations=50)
FLOOR_TRIES = 8
CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}
NSTATES = 16
NWORLD = 64
DROP_HEIGHT = 0.3     # m above the keyframe's root height
TILT = 0.6            # rad, largest tilt of the dropped root about a random horizontal axis
THROW = 0.5           # standard deviation of the thrown qvel (rad/s, m/s)
FALL_SECONDS = 1.0    # simulated time of each drop; states are sampled over it
PLACEHOLDER_SIZES = (0.02, 0.05)  # m: edge of the placeholder tetrahedra, the fingerprint at both


# ---- scenes and placeholder meshes -----------------------------------------------------------

def scenes(path: str, robots=None) -> list:
  """(robot, scene file) for every scene*.xml of each robot folder under path."""
  robots = list(robots) if robots else sorted(r for r in ROBOTS if os.path.isdir(os.path.join(path, r)))
  out = []
  for robot in robots:
    files = sorted(glob.glob(os.path.join(path, robot, "scene*.xml")))
    if not files:
      raise FileNotFoundError(f"{os.path.join(path, robot)} has no scene*.xml; --path names the folder "
                              "that holds the robot folders (a mujoco_menagerie checkout)")
    out += [(robot, os.path.basename(f)) for f in files]
  return out


def physics_fingerprint(mjm: mujoco.MjModel) -> np.ndarray:
  """Body masses, inertias, inertial frames and geom contact masks: what a visual mesh would
  change if it collided or carried mass."""
  return np.concatenate([mjm.body_mass, mjm.body_inertia.ravel(), mjm.body_ipos.ravel(),
                         mjm.body_iquat.ravel(), mjm.geom_contype, mjm.geom_conaffinity])


def missing_meshes(xml: str) -> dict:
  """{mesh name: (file path, scale)} for the meshes a scene names whose file is not on disk.
  The path is the one MuJoCo opens: the model file's folder / compiler meshdir / file (MjSpec
  reports an unopened file as the model folder / file)."""
  spec = mujoco.MjSpec.from_file(xml)
  root = os.path.dirname(os.path.abspath(xml))
  out = {}
  for mesh in spec.meshes:
    if not mesh.file:
      continue
    rel = os.path.relpath(mesh.file, spec.modelfiledir) if os.path.isabs(mesh.file) else mesh.file
    full = os.path.join(root, spec.meshdir or "", rel)
    if not os.path.exists(full):
      out[mesh.name] = (full, np.array(mesh.scale, float))
  return out


# a tetrahedron with outward (counter-clockwise) faces
_TETRA_VERTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
_TETRA_FACES = ((0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3))


def write_placeholder(path: str, scale: np.ndarray, size: float):
  """A tetrahedron of edge `size` metres after the mesh's scale, as STL (binary) or OBJ by the
  file's extension."""
  verts = _TETRA_VERTS * (size / np.where(np.abs(scale) > 0, np.abs(scale), 1.0))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  ext = os.path.splitext(path)[1].lower()
  if ext == ".stl":
    with open(path, "wb") as f:
      f.write(b"placeholder".ljust(80, b" ") + struct.pack("<I", len(_TETRA_FACES)))
      for face in _TETRA_FACES:
        f.write(struct.pack("<12fH", 0, 0, 0, *verts[list(face)].ravel(), 0))
  elif ext == ".obj":
    with open(path, "w") as f:
      f.write("".join(f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in verts))
      f.write("".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in _TETRA_FACES))
  else:
    raise ValueError(f"{path}: placeholders are written as .stl or .obj, not '{ext}'")


def fill_missing_meshes(xml: str) -> dict:
  """Writes placeholders for the scene's absent mesh files and checks that they change no
  physics: the scene compiled with placeholders of both PLACEHOLDER_SIZES has the same
  physics_fingerprint, and no geom on a placeholder collides. Returns {"placeholders": [paths],
  "physics_unchanged": bool, "colliding": [geom names]}."""
  missing = missing_meshes(xml)
  if not missing:
    return {"placeholders": [], "physics_unchanged": True, "colliding": []}
  prints = []
  for size in PLACEHOLDER_SIZES:
    for path, scale in missing.values():
      write_placeholder(path, scale, size)
    mujoco.mj_clearCache(mujoco.mj_getCache())  # MuJoCo's asset cache would keep the first size
    mjm = mujoco.MjModel.from_xml_path(xml)
    prints.append(physics_fingerprint(mjm))
  ids = {mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_MESH, name) for name in missing}
  colliding = [mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_GEOM, g) or f"geom {g}" for g in range(mjm.ngeom)
               if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and int(mjm.geom_dataid[g]) in ids
               and (mjm.geom_contype[g] or mjm.geom_conaffinity[g])]
  return {"placeholders": sorted(p for p, _ in missing.values()),
          "physics_unchanged": bool(np.array_equal(prints[0], prints[1])), "colliding": colliding}


# ---- loading and MuJoCo C states --------------------------------------------------------------

def simulator(mjm, nworld: int, backend: str, sensors: str = "evaluate"):
  import pywarp_sim as pws
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return pws.Simulator(pws.put_model(mjm, "cpu", sensors=sensors), nworld=nworld, device="cpu",
                         backend=backend, sensors=sensors)


def try_load(mjm, backend: str, sensors: str = "evaluate") -> str | None:
  """None when the model loads on the backend, else the error ("Type: message")."""
  from pywarp_sim.errors import UnsupportedModelError
  try:
    simulator(mjm, 1, backend, sensors)
  except (UnsupportedModelError, ValueError, RuntimeError) as e:
    return f"{type(e).__name__}: {e}"
  return None


def converged(mjm, cone=None, ccd: bool = False) -> mujoco.MjModel:
  """A copy of mjm with Newton at CONVERGED settings (and the cone, when given; GJK/EPA at
  CONVERGED_CCD when ccd)."""
  m = mjm.__copy__()
  for k, v in {**CONVERGED, **(CONVERGED_CCD if ccd else {})}.items():
    setattr(m.opt, k, v)
  m.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
  if cone is not None:
    m.opt.cone = cone
  return m


def home(mjm) -> mujoco.MjData:
  """MjData at the home keyframe (the first; qpos0 without one), forward run."""
  mjd = mujoco.MjData(mjm)
  if mjm.nkey:
    mujoco.mj_resetDataKeyframe(mjm, mjd, 0)
  mujoco.mj_forward(mjm, mjd)
  return mjd


def _free_root(mjm) -> bool:
  return mjm.njnt > 0 and mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and mjm.jnt_qposadr[0] == 0


def tumbling_states(mjm, n: int = NSTATES, seed: int = 0) -> list:
  """n MuJoCo C states (qpos, qvel, ctrl, act, qacc_warmstart; float32 values, the precision
  of our Data), Newton at CONVERGED settings (the scene's own ccd settings):
  two drops from the home keyframe lifted by DROP_HEIGHT, the root tilted by up to TILT about a
  random horizontal axis and every dof thrown with N(0, THROW) velocities (the keyframe's
  controls held), each sampled n/2 times evenly over FALL_SECONDS (falling, landing, tumbling)."""
  m = converged(mjm)
  rng = np.random.default_rng(seed)
  nsteps = max(1, int(round(FALL_SECONDS / m.opt.timestep)))
  out = []
  for drop in range(2):
    mjd = home(m)
    if _free_root(m):
      mjd.qpos[2] += DROP_HEIGHT
      axis = np.array([*rng.normal(size=2), 0.0])
      tilt = np.zeros(4)
      mujoco.mju_axisAngle2Quat(tilt, axis / np.linalg.norm(axis), rng.uniform(-TILT, TILT))
      quat = np.zeros(4)
      mujoco.mju_mulQuat(quat, tilt, mjd.qpos[3:7])
      mjd.qpos[3:7] = quat
    mjd.qvel[:] = rng.normal(0, THROW, m.nv)
    count = n // 2 + (n % 2 if drop == 0 else 0)
    if count == 0:  # one state: the first drop alone
      break
    sample = set(np.linspace(nsteps / count, nsteps, count).round().astype(int))
    for k in range(1, nsteps + 1):
      mujoco.mj_step(m, mjd)
      if k in sample:  # rounded to float32, so that both simulators start from the same state
        out.append(tuple(np.asarray(a, np.float32).astype(np.float64)
                         for a in (mjd.qpos, mjd.qvel, mjd.ctrl, mjd.act, mjd.qacc_warmstart)))
  return out


def _contact_set(geom) -> list:
  return sorted(tuple(sorted(int(g) for g in pair)) for pair in geom)


def _sensor_rel_err(mjm, ours: np.ndarray, ref: np.ndarray) -> tuple:
  """(worst error, sensor name): per sensor max|ours - ref| / max(max|ref|, 1) over its columns."""
  worst, name = 0.0, None
  for i in range(mjm.nsensor):
    cols = slice(mjm.sensor_adr[i], mjm.sensor_adr[i] + mjm.sensor_dim[i])
    err = float(np.abs(ours[cols] - ref[cols]).max() / max(np.abs(ref[cols]).max(), 1.0))
    if err > worst or name is None:
      worst, name = err, mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_SENSOR, i) or f"sensor {i}"
  return worst, name


def compare_states(m, backend: str, sts: list, sensors: str = "evaluate") -> dict:
  """Our mj_forward on MuJoCo's states with m's options (both simulators): per state, whether
  the contact counts and sets (geom pairs with multiplicity) agree, the qacc relative error,
  contact position and depth errors (sets equal) and the sensordata error (sensors evaluated)."""
  sim = simulator(m, len(sts), backend, sensors)
  d = sim.data
  d.qpos.assign(np.array([s[0] for s in sts], np.float32))
  d.qvel.assign(np.array([s[1] for s in sts], np.float32))
  if m.nu:
    d.ctrl.assign(np.array([s[2] for s in sts], np.float32))
  if m.na:
    d.act.assign(np.array([s[3] for s in sts], np.float32))
  d.qacc_warmstart.assign(np.array([s[4] for s in sts], np.float32))
  sim.forward()
  ncon, geom, qacc = d.contact.ncon.numpy(), d.contact.geom.numpy(), d.qacc.numpy()
  pos, dist = d.contact.pos.numpy(), d.contact.dist.numpy()
  sensordata = sim.sensordata.cpu().numpy() if sensors == "evaluate" and m.nsensordata else None
  rows = []
  for w, (qpos, qvel, ctrl, act, warm) in enumerate(sts):
    mjd = mujoco.MjData(m)
    mjd.qpos[:], mjd.qvel[:], mjd.ctrl[:], mjd.act[:], mjd.qacc_warmstart[:] = qpos, qvel, ctrl, act, warm
    mujoco.mj_forward(m, mjd)
    same = _contact_set(geom[w, :ncon[w]]) == _contact_set([c.geom for c in mjd.contact[:mjd.ncon]])
    err = np.abs(qacc[w] - mjd.qacc).max() / max(np.abs(mjd.qacc).max(), 1.0)
    row = {"ncon": int(ncon[w]), "ncon_mujoco": int(mjd.ncon), "contact_set_equal": bool(same),
           "qacc_rel_err": float(err), "qacc_max_abs_mujoco": float(np.abs(mjd.qacc).max())}
    if same and mjd.ncon:  # contacts in MuJoCo's order: position and depth, contact by contact
      row["contact_pos_err"] = float(max(np.abs(pos[w, k] - c.pos).max() for k, c in enumerate(mjd.contact[:mjd.ncon])))
      row["contact_dist_err"] = float(max(abs(dist[w, k] - c.dist) for k, c in enumerate(mjd.contact[:mjd.ncon])))
    if sensordata is not None:
      row["sensordata_rel_err"], row["sensordata_worst"] = _sensor_rel_err(m, sensordata[w], mjd.sensordata)
    rows.append(row)
  return {"states": rows}


def f32_floor(m, sts: list, tries: int = FLOOR_TRIES, seed: int = 0) -> list:
  """Per state, MuJoCo C's largest qacc change (max|change| / max(max|qacc|, 1)) over `tries`
  forwards with every qpos coordinate moved by one float32 ulp (random signs); None where a
  perturbation changes the contact count (another problem, not rounding)."""
  rng = np.random.default_rng(seed)
  out = []
  for qpos, qvel, ctrl, act, warm in sts:
    ref = mujoco.MjData(m)
    ref.qpos[:], ref.qvel[:], ref.ctrl[:], ref.act[:], ref.qacc_warmstart[:] = qpos, qvel, ctrl, act, warm
    mujoco.mj_forward(m, ref)
    ulp = np.spacing(np.abs(qpos).astype(np.float32)).astype(np.float64)
    worst = 0.0
    for _ in range(tries):
      mjd = mujoco.MjData(m)
      mjd.qpos[:] = qpos + ulp * rng.choice([-1.0, 1.0], m.nq)
      mjd.qvel[:], mjd.ctrl[:], mjd.act[:], mjd.qacc_warmstart[:] = qvel, ctrl, act, warm
      mujoco.mj_forward(m, mjd)
      if mjd.ncon != ref.ncon:
        worst = None
        break
      worst = max(worst, float(np.abs(mjd.qacc - ref.qacc).max() / max(np.abs(ref.qacc).max(), 1.0)))
    out.append(worst)
  return out


def summarize(rows_by_cone: dict, shipped_ccd: dict | None = None, floors: dict | None = None) -> dict:
  """The per-scene columns from compare_states rows of each cone (same states); shipped_ccd: rows
  per cone at the scene's own ccd settings; floors: f32_floor per cone."""
  rows = next(iter(rows_by_cone.values()))
  agree = [r["contact_set_equal"] for r in rows]
  out = {"nstates": len(rows),
         "contact_count_agree": float(np.mean([r["ncon"] == r["ncon_mujoco"] for r in rows])),
         "contact_set_agree": float(np.mean(agree)),
         "ncon_max_mujoco": max(r["ncon_mujoco"] for r in rows)}
  for cone, rs in rows_by_cone.items():
    errs = [r["qacc_rel_err"] for r, a in zip(rs, agree) if a]
    out[f"qacc_rel_err_{cone}"] = max(errs) if errs else None
  for cone, rs in (shipped_ccd or {}).items():
    errs = [r["qacc_rel_err"] for r, a in zip(rs, agree) if a]
    out[f"qacc_rel_err_{cone}_ccd_shipped"] = max(errs) if errs else None
  for cone, fl in (floors or {}).items():
    vals = [f for f, a in zip(fl, agree) if a and f is not None]
    out[f"qacc_f32_floor_{cone}"] = max(vals) if vals else None
  sens = [(r["sensordata_rel_err"], r["sensordata_worst"]) for r, a in zip(rows, agree)
          if a and "sensordata_rel_err" in r]
  if sens:
    out["sensordata_rel_err"], out["sensordata_worst"] = max(sens)
  sens = [r["sensordata_rel_err"] for r, a in zip(next(iter((shipped_ccd or {None: []}).values())), agree)
          if a and "sensordata_rel_err" in r]
  if sens:
    out["sensordata_rel_err_ccd_shipped"] = max(sens)
  return out


def speed(xml: str, nworld: int = NWORLD, seconds: float = 3.0) -> dict:
  """Native and MuJoCo C world-steps/s at nworld worlds on every core (bench/backends.py)."""
  from . import backends
  out = {"nworld": nworld, "cpu_count": os.cpu_count()}
  for backend in ("native", "mujoco"):
    rec = backends.run_throughput(backend, xml, "cpu", nworld, steps=100000, max_seconds=seconds,
                                  auto_reset=True)
    out[f"{backend}_steps_per_s"] = rec.get("steps_per_s")
    for key in ("auto_resets", "mujoco_badqacc_warnings"):
      if key in rec:
        out[key if key.startswith("mujoco") else f"{backend}_{key}"] = rec[key]
    if "error" in rec:
      out[f"{backend}_error"] = rec["error"]
  if out["native_steps_per_s"] and out["mujoco_steps_per_s"]:
    out["native_over_mujoco"] = out["native_steps_per_s"] / out["mujoco_steps_per_s"]
  out["loadavg_at_end"] = os.getloadavg()[0]
  return out


def sensor_types(mjm) -> list:
  return sorted({mujoco.mjtSensor(int(t)).name[len("mjSENS_"):].lower() for t in mjm.sensor_type})


def check_model(path: str, robot: str, scene: str, nstates: int = NSTATES, with_speed: bool = True) -> dict:
  """One scene's record (module docstring): load per backend, contacts, qacc per cone,
  sensordata and speed. A scene refused only for a sensor is compared with sensors='skip'
  (the record says so)."""
  xml = os.path.join(path, robot, scene)
  rec = {"robot": robot, "scene": scene}
  t0 = time.perf_counter()
  try:
    mjm = mujoco.MjModel.from_xml_path(xml)
  except ValueError as e:
    rec["load"] = {b: f"MuJoCo: {e}" for b in BACKENDS}
    return rec
  rec.update(nv=int(mjm.nv), ngeom=int(mjm.ngeom), nsensor=int(mjm.nsensor), sensor_types=sensor_types(mjm),
             solver_iterations_shipped=int(mjm.opt.iterations), cone_shipped=mujoco.mjtCone(mjm.opt.cone).name)
  rec["load"] = {b: try_load(mjm, b) or "loads" for b in BACKENDS}
  sts = floors = None
  for b in BACKENDS:
    sensors = "evaluate"
    if rec["load"][b] != "loads":
      if try_load(mjm, b, "skip") is not None:
        continue
      sensors = rec[f"{b}_compared_with"] = "skip"
    sts = sts or tumbling_states(mjm, nstates)
    rows = {cone: compare_states(converged(mjm, c, ccd=True), b, sts, sensors)["states"] for cone, c in CONES.items()}
    shipped = {cone: compare_states(converged(mjm, c), b, sts, sensors)["states"] for cone, c in CONES.items()}
    floors = floors or {cone: f32_floor(converged(mjm, c, ccd=True), sts) for cone, c in CONES.items()}
    first = [k for k in CONES if CONES[k] == mjm.opt.cone]  # the scene's own cone first (sensordata)
    order = lambda d: {**{k: d[k] for k in first}, **d}
    rec[b] = summarize(order(rows), order(shipped), floors)
  if with_speed and rec["load"]["native"] == "loads":
    rec["speed"] = speed(xml)
  rec["seconds"] = time.perf_counter() - t0
  return rec


# ---- the Markdown table ---------------------------------------------------------------------

def _fmt(x, spec=".1e") -> str:
  return "–" if x is None else format(x, spec)


def _load_cell(reason: str, width: int = 70) -> str:
  """"yes", or "no: " and the refusal's first clause (without the error type and backend)."""
  if reason == "loads":
    return "yes"
  text = reason.split(": ", 1)[-1].split(";")[0]
  for prefix in ("backend='native' ", "backend='warp' "):
    text = text.removeprefix(prefix)
  return "no: " + (text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …")


def table(records: list) -> str:
  """Markdown table of check_model records, one row per scene: the accuracy columns from the
  native backend, or the Warp backend's where native refuses the scene (column "compared")."""
  head = ("| robot | scene | warp | native | compared | contact counts = | contact sets = | qacc pyramidal "
          "| qacc elliptic | sensordata | native / MuJoCo C steps/s (64 worlds) |")
  lines = [head, "|" + "---|" * 11]
  for r in records:
    compared = "native" if r.get("native") else "warp" if r.get("warp") else "–"
    acc = r.get(compared) or {}
    sp = r.get("speed") or {}
    ratio = (f"{sp['native_steps_per_s'] / 1e3:.1f}k / {sp['mujoco_steps_per_s'] / 1e3:.1f}k"
             if sp.get("native_over_mujoco") else "–")
    sens = "–" if "sensordata_rel_err" not in acc else _fmt(acc["sensordata_rel_err"])
    lines.append(
      f"| {r['robot']} | {r['scene']} | {_load_cell(r['load']['warp'])} | {_load_cell(r['load']['native'])} "
      f"| {compared} | {_fmt(acc.get('contact_count_agree'), '.0%')} | {_fmt(acc.get('contact_set_agree'), '.0%')} "
      f"| {_fmt(acc.get('qacc_rel_err_pyramidal'))} | {_fmt(acc.get('qacc_rel_err_elliptic'))} | {sens} | {ratio} |")
  return "\n".join(lines)


def run(path: str, robots=None, nstates: int = NSTATES, with_speed: bool = True, out: str | None = None,
        fill: bool = False) -> list:
  """check_model over every scene (fill: write placeholders first); prints and returns the
  JSON records, appending them to `out`."""
  recs = []
  for robot, scene in scenes(path, robots):
    if fill:
      report = fill_missing_meshes(os.path.join(path, robot, scene))
      print(json.dumps({"robot": robot, "scene": scene, **report}), flush=True)
      continue
    rec = check_model(path, robot, scene, nstates, with_speed)
    rec.update(kind="models", mujoco=mujoco.__version__, machine=common.cpu_name(),
               date=time.strftime("%Y-%m-%d"), loadavg_at_end=os.getloadavg()[0])
    print(json.dumps(rec), flush=True)
    if out:
      with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    recs.append(rec)
  return recs
