"""The MuJoCo conformance suite against another MuJoCo release: how many states differ.

`python -m bench conformance --mujoco 4.0.1` installs that release beside the locked one
(`build/mujoco-<version>`, pip --target, no dependencies: mujoco and mujoco-core), then in a
subprocess that imports it first:

- per geom-pair type (the pairs of tests/test_collision.py, `--poses` random poses each, the
  tests' pose generator and seeds): poses whose contact count differs from that MuJoCo's, and
  poses with equal counts where a matched contact's depth differs by more than the tests'
  typical tolerance (1e-5 m analytic pairs, 1e-4 m GJK/EPA pairs);
- per model (tests/test_contact.py's contact-rich states of the bundled humanoid and the
  convex-pair humanoids, plus `PWS_EXTRA_MODELS`): states whose contact count or constraint
  rows differ, and states whose Newton qacc differs by more than tests/test_contact.py's max
  tolerance;
- the conformance tests themselves (test_external_models.py, the convex-pair and
  multicontact tests, the contact tests): passed / failed, failed test ids.

Without `--mujoco` it measures the installed (locked) MuJoCo. One JSON object on stdout
(`--json`) or a table; `--out` also writes the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# the tests that compare with MuJoCo contact by contact or state by state
CONFORMANCE_TESTS = [
  "tests/test_external_models.py",
  "tests/test_collision.py::test_primitive_pair",
  "tests/test_collision.py::test_convex_pair_vs_mujoco",
  "tests/test_collision.py::test_convex_shallow_matches_mujoco",
  "tests/test_collision.py::test_single_shot_with_margin",
  "tests/test_collision.py::test_single_shot_multicontact",
  "tests/test_collision.py::test_falling_humanoid",
  "tests/test_contact.py",
]
MODEL_NAMES = ["humanoid", "ball_humanoid", "limb_zoo"]


def site_for(version: str) -> Path:
  """build/mujoco-<version>: that MuJoCo release installed with pip --target (cached)."""
  site = ROOT / "build" / f"mujoco-{version}"
  if not (site / "mujoco" / "__init__.py").is_file():
    site.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
           f"mujoco=={version}", f"mujoco-core=={version}"]
    print(f"conformance: installing MuJoCo {version} into {site.relative_to(ROOT)}", file=sys.stderr)
    if subprocess.run(cmd).returncode != 0:
      raise SystemExit(f"conformance: could not install mujoco=={version} (is it a released "
                       "version? `pip index versions mujoco` lists them)")
  return site


def _pair_counts(poses: int) -> list[dict]:
  import warnings

  import mujoco
  import numpy as np
  import test_collision as tc

  rows = []
  for kind, pairs, tol in (("analytic", tc.PRIMITIVE_PAIRS, tc.DIST_TOL),
                           ("convex", tc.CONVEX_PAIRS, tc.CONVEX_DIST_TOL_TYPICAL)):
    for t1, t2 in pairs:
      print(f"conformance: {t1}-{t2}", file=sys.stderr, flush=True)
      mjm = mujoco.MjModel.from_xml_string(tc._pair_xml(t1, t2))
      seed = tc._seed("convex", t1, t2) if kind == "convex" else tc._seed(t1, t2, 0.0)
      qpos = tc._random_states(mjm, np.random.default_rng(seed), poses)
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, ours, refs = tc._run(mjm, qpos)
      count_differ = depth_differ = touching = contacts = 0
      for o, r in zip(ours, refs):
        if r and abs(r[0]["dist"]) < 1e-5:
          touching += 1  # contact existence is rounding-dependent (as the tests skip them)
          continue
        contacts += len(r)
        if len(o) != len(r):
          count_differ += 1
        elif any(abs(oc["dist"] - rc["dist"]) > tol for oc, rc in tc._match(o, r)):
          depth_differ += 1
      rows.append(dict(pair=f"{t1}-{t2}", collider=kind, poses=poses - touching,
                       mujoco_contacts=contacts, count_differ=count_differ,
                       depth_differ=depth_differ, depth_tol_m=tol))
  return rows


def _model_states() -> list[tuple[str, object]]:
  """(name, mj_model factory) of the models compared state by state."""
  import mujoco
  import oracle

  out = [(n, (lambda n=n: oracle.mj_model(n))) for n in MODEL_NAMES]
  for entry in filter(None, os.environ.get("PWS_EXTRA_MODELS", "").split(os.pathsep)):
    p = Path(entry)
    for f in sorted(p.glob("*.xml")) if p.is_dir() else [p]:
      out.append((str(f), (lambda f=f: mujoco.MjModel.from_xml_path(str(f)))))
  return out


def _model_counts() -> list[dict]:
  import warnings

  import mujoco
  import numpy as np
  import oracle
  import test_contact as tcon

  import pywarp_sim as pws
  from pywarp_sim import forward
  from pywarp_sim.errors import UnsupportedModelError

  rows = []
  for name, make in _model_states():
    for cone in (mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtCone.mjCONE_ELLIPTIC):
      for label, states in (("falling", tcon._states), ("self-touching", tcon._convex_states)):
        mjm = make()
        if label == "self-touching" and not _has_convex_pair(mjm):
          continue  # no GJK/EPA pair: no such states (test_contact draws them for convex models)
        print(f"conformance: {name} {cone.name} {label}", file=sys.stderr, flush=True)
        mjm.opt.cone = cone
        mjm.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
        mjm.opt.iterations, mjm.opt.ls_iterations, mjm.opt.tolerance = 200, 50, 1e-10
        try:
          with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = pws.put_model(mjm, "cpu")
        except UnsupportedModelError as e:
          rows.append(dict(model=name, cone=cone.name, states=label, error=str(e)))
          break
        if name not in MODEL_NAMES:  # an extra model: states from its own MuJoCo rollout
          states = _extra_states(mjm, label)
        else:
          states = states(name, cone)
        qpos, qvel, ctrl, act, warm = states
        d = pws.make_data(m, len(qpos), "cpu")
        oracle.set_state(d, qpos, qvel, ctrl, act)
        d.qacc_warmstart.assign(warm.astype(np.float32))
        forward.forward(m, d)
        ncon, nefc, qacc = d.contact.ncon.numpy(), d.efc.nefc.numpy(), d.qacc.numpy()
        count_differ = qacc_differ = 0
        errs = []
        for w in range(len(qpos)):
          mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
          mjd.qacc_warmstart[:] = warm[w]
          mujoco.mj_forward(mjm, mjd)
          if ncon[w] != mjd.ncon or nefc[w] != mjd.nefc:
            count_differ += 1
            continue
          errs.append(oracle.rel_err(qacc[w], mjd.qacc))
          qacc_differ += errs[-1] > tcon.CONVEX_NEWTON_MAX_TOL
        rows.append(dict(model=name, cone=cone.name, states=label, nstate=len(qpos),
                         count_differ=count_differ, qacc_differ=qacc_differ,
                         qacc_tol=tcon.CONVEX_NEWTON_MAX_TOL,
                         qacc_rel_err_max=float(max(errs)) if errs else None))
  return rows


def _has_convex_pair(mjm) -> bool:
  """Whether some candidate geom pair goes to MuJoCo's convex collider (test_contact's types)."""
  import test_contact as tcon
  types = sorted({int(t) for t in mjm.geom_type})
  return any((a, b) in tcon._CONVEX_PAIRS for a in types for b in types if a <= b)


def _extra_states(mjm, label):
  import numpy as np
  import oracle

  qpos, qvel, ctrl, act = oracle.falling_states(mjm, 12, seed=0 if label == "falling" else 1)
  return qpos, qvel, ctrl, act, np.zeros_like(qvel)


def _pytest(site: Path | None) -> dict:
  """Run the conformance tests under that MuJoCo; passed/failed and the failed ids."""
  import xml.etree.ElementTree as ET

  report = ROOT / "build" / f"conformance-junit-{os.getpid()}.xml"
  env = dict(os.environ)
  if site is not None:
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
  cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *CONFORMANCE_TESTS]
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
  if not report.is_file():
    return dict(error=proc.stdout[-2000:] + proc.stderr[-2000:])
  failed, passed, skipped = [], 0, 0
  for case in ET.parse(report).getroot().iter("testcase"):
    tid = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
    if case.find("failure") is not None or case.find("error") is not None:
      failed.append(tid)
    elif case.find("skipped") is not None:
      skipped += 1
    else:
      passed += 1
  report.unlink()
  return dict(passed=passed, failed=len(failed), skipped=skipped, failed_ids=failed)


def measure(poses: int) -> dict:
  """In this process (the MuJoCo to compare imported first): the counts above."""
  sys.path.insert(0, str(TESTS))
  import mujoco

  t0 = time.time()
  rec = dict(mujoco=mujoco.__version__, pairs=_pair_counts(poses), models=_model_counts())
  rec["seconds"] = round(time.time() - t0, 1)
  return rec


def run(version: str | None, poses: int, tests: bool = True) -> dict:
  """The whole comparison for MuJoCo `version` (None: the installed one)."""
  import mujoco

  site = site_for(version) if version and version != mujoco.__version__ else None
  env = dict(os.environ, PWS_CONFORMANCE_CHILD="1")
  if site is not None:
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
  code = f"import json, bench.conformance as c; print(json.dumps(c.measure({poses})))"
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                        text=True)  # its progress lines go straight to our stderr
  if proc.returncode != 0:
    raise SystemExit(f"conformance: the measurement under MuJoCo {version} failed (see above)")
  rec = json.loads(proc.stdout.strip().splitlines()[-1])
  rec["oracle"] = _oracle_version()
  if tests:
    rec["tests"] = _pytest(site)
  return rec


def _oracle_version() -> str | None:
  from pywarp_sim import versions
  return versions.mujoco_oracle()


def render(rec: dict) -> str:
  lines = [f"MuJoCo {rec['mujoco']} (the pinned oracle is {rec['oracle']})", "",
           "| pair | collider | poses | MuJoCo contacts | count differs | depth differs |",
           "|---|---|---:|---:|---:|---:|"]
  for r in rec["pairs"]:
    lines.append(f"| {r['pair']} | {r['collider']} | {r['poses']} | {r['mujoco_contacts']} | "
                 f"{r['count_differ']} | {r['depth_differ']} |")
  lines += ["", "| model | cone | states | n | count/rows differ | qacc > tol | qacc max |",
            "|---|---|---|---:|---:|---:|---:|"]
  for r in rec["models"]:
    if "error" in r:
      lines.append(f"| {r['model']} | {r['cone']} | rejected: {r['error'][:80]} | | | | |")
      continue
    mx = "—" if r["qacc_rel_err_max"] is None else f"{r['qacc_rel_err_max']:.1e}"
    lines.append(f"| {r['model']} | {r['cone'].replace('mjCONE_', '').lower()} | {r['states']} | "
                 f"{r['nstate']} | {r['count_differ']} | {r['qacc_differ']} | {mx} |")
  t = rec.get("tests")
  if t:
    lines.append("")
    if "error" in t:
      lines.append(f"conformance tests: could not run: {t['error']}")
    else:
      lines.append(f"conformance tests: {t['passed']} passed, {t['failed']} failed, "
                   f"{t['skipped']} skipped")
      lines += [f"  FAILED {tid}" for tid in t["failed_ids"]]
  lines.append(f"({rec['seconds']} s of measurement)")
  return "\n".join(lines)
