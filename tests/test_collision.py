"""Collision stage vs MuJoCo C: candidate pairs, narrowphase contacts, parameters, overflow.

Per contact we compare dist, pos and the full frame (normal and tangents, i.e. MuJoCo's
mju_makeFrame) and the contact parameters with MuJoCo's d.contact after mj_forward.
Narrowphase tests that feed MuJoCo's own geom poses (cast to float32) measure the colliders
alone; only the Warp collision stage can be called on given poses (the native step computes its
own kinematics), so they run on Warp. Tests that start from qpos run Simulator.forward on both
backends (tests/backends.py), which fills the same contact arrays. Outputs are filled with
NaN / -1 before every call, so a kernel that writes nothing fails.
"""

import itertools
import warnings
import zlib

import mujoco
import numpy as np
import pytest
import warp as wp

import pywarp_sim as pws
from pywarp_sim import collision_driver, forward, models, pairs, smooth
from pywarp_sim.errors import UnsupportedModelError

import oracle
from assets import BALL_HUMANOID
from backends import BACKENDS, simulator
from tolerances import (CONTACT_DIST_TOL, CONTACT_FRAME_TOL, CONTACT_MARGIN_BAND_TOL, CONTACT_POS_TOL,
                        CONVEX_EXACT_EXTRA_TOL, EPA_DIST_TYPICAL_TOL, EPA_DIST_WORST_TOL,
                        EPA_NORMAL_MEDIAN_TOL, EPA_POS_TYPICAL_TOL, FLOAT32_ROUNDING_TOL, GJK_DIST_TOL,
                        GJK_FRAME_TOL, SINGLE_SHOT_EDGE_TOL, SINGLE_SHOT_TOL, UNIT_NORM_TOL)

NWORLD = 64

_SIZES = {
  "plane": "0 0 0.1",
  "sphere": "0.1",
  "capsule": "0.07 0.15",
  "ellipsoid": "0.08 0.12 0.1",
  "cylinder": "0.08 0.12",
  "box": "0.1 0.07 0.12",
}


def _seed(*labels) -> int:
  return zlib.crc32("/".join(map(str, labels)).encode())


def _pair_xml(t1: str, t2: str, margin: float = 0.0, gap: float = 0.0, size1=None) -> str:
  def geom(name, t, size=None):
    return (f'<geom name="{name}" type="{t}" size="{size or _SIZES[t]}" margin="{margin}" '
            f'gap="{gap}"/>')
  first = geom("a", t1, size1) if t1 == "plane" else (
    f'<body name="a"><freejoint/>{geom("a", t1, size1)}</body>')
  return (f'<mujoco><option gravity="0 0 0"/><worldbody>{first}'
          f'<body name="b" pos="0 0 0.5"><freejoint/>{geom("b", t2)}</body></worldbody></mujoco>')


def _random_quat(rng, n):
  q = rng.normal(size=(n, 4))
  return q / np.linalg.norm(q, axis=1, keepdims=True)


def _random_states(mjm, rng, n, scale=0.09):
  """Free-body poses around each other: penetrating, in the margin band, separated. A
  quarter of the worlds use axis-aligned orientations (parallel axes, face-on boxes) to
  exercise the degenerate branches of the colliders."""
  qpos = np.tile(mjm.qpos0, (n, 1))
  aligned = [[1, 0, 0, 0], [0.5 ** 0.5, 0.5 ** 0.5, 0, 0], [0.5 ** 0.5, 0, 0.5 ** 0.5, 0]]
  for j in range(mjm.njnt):
    adr = mjm.jnt_qposadr[j]
    qpos[:, adr:adr + 3] = rng.normal(0, scale, (n, 3))
    qpos[:, adr + 3:adr + 7] = _random_quat(rng, n)
    for w in range(n // 4):
      qpos[w, adr + 3:adr + 7] = aligned[rng.integers(3)]
  if mjm.geom_type[0] == mujoco.mjtGeom.mjGEOM_PLANE:
    qpos[:, 2] = rng.uniform(-0.05, 0.35, n)
  return qpos


def _mj_contacts(mjd):
  return [dict(geom=(int(c.geom[0]), int(c.geom[1])), dist=float(c.dist), pos=np.array(c.pos),
               frame=np.array(c.frame).reshape(3, 3), includemargin=float(c.includemargin),
               exclude=int(c.exclude), dim=int(c.dim), friction=np.array(c.friction),
               solref=np.array(c.solref), solimp=np.array(c.solimp),
               solreffriction=np.array(c.solreffriction)) for c in mjd.contact[:mjd.ncon]]


def _our_contacts(d, w):
  c = d.contact
  n = int(c.ncon.numpy()[w])
  cols = {k: getattr(c, k).numpy()[w, :n] for k in (
    "dist", "pos", "frame", "includemargin", "exclude", "dim", "friction", "solref", "solimp",
    "solreffriction", "geom")}
  return [dict(geom=(int(cols["geom"][i][0]), int(cols["geom"][i][1])), dist=float(cols["dist"][i]),
               pos=cols["pos"][i], frame=cols["frame"][i],
               includemargin=float(cols["includemargin"][i]), exclude=int(cols["exclude"][i]),
               dim=int(cols["dim"][i]), friction=cols["friction"][i], solref=cols["solref"][i],
               solimp=cols["solimp"][i], solreffriction=cols["solreffriction"][i])
          for i in range(n)]


class Errors:
  """Worst differences over all matched contacts."""

  def __init__(self):
    self.dist = self.pos = self.frame = 0.0
    self.ncontacts = 0

  def add(self, o, r):
    self.ncontacts += 1
    self.dist = max(self.dist, abs(o["dist"] - r["dist"]))
    self.pos = max(self.pos, float(np.abs(o["pos"] - r["pos"]).max()))
    self.frame = max(self.frame, float(np.abs(o["frame"] - r["frame"]).max()))

  def __repr__(self):
    return (f"Errors(n={self.ncontacts}, dist={self.dist:.2e}, pos={self.pos:.2e}, "
            f"frame={self.frame:.2e})")


def _by_pair(contacts):
  groups = {}
  for c in contacts:
    groups.setdefault(c["geom"], []).append(c)
  return groups


def _match(oc, rc):
  """Pairs of (ours, MuJoCo) contacts of one geom pair, assigned by position."""
  best = None
  for perm in itertools.permutations(range(len(oc)), len(rc)):
    cost = sum(np.linalg.norm(oc[i]["pos"] - rc[k]["pos"]) for k, i in enumerate(perm))
    if best is None or cost < best[0]:
      best = (cost, perm)
  return [(oc[i], rc[k]) for k, i in enumerate(best[1])]


def _check_params(o, r, label):
  # a contact exactly at the margin may flip exclude under float32 rounding
  if abs(r["dist"] - r["includemargin"]) > CONTACT_MARGIN_BAND_TOL:
    assert o["exclude"] == r["exclude"], label
  assert o["dim"] == r["dim"], label
  np.testing.assert_allclose(o["includemargin"], r["includemargin"], rtol=FLOAT32_ROUNDING_TOL, err_msg=label)
  np.testing.assert_allclose(o["friction"], r["friction"], rtol=FLOAT32_ROUNDING_TOL, err_msg=label)
  np.testing.assert_allclose(o["solref"], r["solref"], rtol=FLOAT32_ROUNDING_TOL, err_msg=label)
  np.testing.assert_allclose(o["solimp"], r["solimp"], rtol=FLOAT32_ROUNDING_TOL, err_msg=label)
  np.testing.assert_allclose(o["solreffriction"], r["solreffriction"], rtol=FLOAT32_ROUNDING_TOL, err_msg=label)


def _compare_world(ours, ref, err: Errors, label: str):
  """Same geom pairs, same number of contacts per pair, contacts matched by position."""
  go, gr = _by_pair(ours), _by_pair(ref)
  assert sorted(go) == sorted(gr), f"{label}: geom pairs differ: ours {sorted(go)}, MuJoCo {sorted(gr)}"
  for pair, rc in gr.items():
    oc = go[pair]
    assert len(oc) == len(rc), (
      f"{label}: geom pair {pair}: {len(oc)} contacts, MuJoCo {len(rc)}; "
      f"ours {[(round(c['dist'], 5), np.round(c['pos'], 4).tolist()) for c in oc]} "
      f"MuJoCo {[(round(c['dist'], 5), np.round(c['pos'], 4).tolist()) for c in rc]}")
    for o, r in _match(oc, rc):
      err.add(o, r)
      _check_params(o, r, label)


def _fill_contacts(d):
  c = d.contact
  for name in ("dist", "pos", "frame", "includemargin", "friction", "solref", "solreffriction",
               "solimp"):
    getattr(c, name).fill_(float("nan"))
  for name in ("ncon", "dim", "exclude", "overflow", "pair"):
    getattr(c, name).fill_(-1)
  c.geom.fill_(wp.vec2i(-1, -1))
  for name in ("dist", "pos", "normal", "tangent"):
    getattr(c.slots, name).fill_(float("nan"))
  c.pair_ncon.fill_(-1)


def _put(mjm, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", pairs.ConvexCollisionWarning)
    return pws.put_model(mjm, "cpu", **kwargs)


def _run(mjm, qpos, use_mj_poses=True, m=None):
  """Our contacts and MuJoCo's, per world, for a batch of qpos."""
  n = qpos.shape[0]
  m = m or _put(mjm)
  d = pws.make_data(m, n, "cpu")
  mjd = mujoco.MjData(mjm)
  refs, xpos, xmat = [], [], []
  for w in range(n):
    mjd.qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, mjd)
    refs.append(_mj_contacts(mjd))
    xpos.append(mjd.geom_xpos.copy())
    xmat.append(mjd.geom_xmat.copy())
  d.qpos.assign(qpos.astype(np.float32))
  d.geom_xpos.fill_(float("nan"))
  smooth.kinematics(m, d)
  if use_mj_poses:
    d.geom_xpos.assign(np.array(xpos, np.float32))
    d.geom_xmat.assign(np.array(xmat, np.float32).reshape(n, -1, 3, 3))
  _fill_contacts(d)
  forward.begin_step(d)  # the caller clears the overflow flags; collision only sets them
  collision_driver.collision(m, d)
  return m, d, [_our_contacts(d, w) for w in range(n)], refs


def _run_forward(mjm, qpos, backend):
  """Our contacts and MuJoCo's, per world, after a forward of the backend ("warp" or "native")
  from a batch of qpos (zero qvel and controls): our float32 kinematics, then collision."""
  n = qpos.shape[0]
  sim = simulator(mjm, n, backend)
  zeros = lambda k: np.zeros((n, k))
  oracle.set_state(sim.data, qpos, zeros(mjm.nv), zeros(mjm.nu), zeros(mjm.na))
  _fill_contacts(sim.data)
  sim.forward()
  mjd = mujoco.MjData(mjm)
  refs = []
  for w in range(n):
    mjd.qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, mjd)
    refs.append(_mj_contacts(mjd))
  return sim.data, [_our_contacts(sim.data, w) for w in range(n)], refs


# ---------------------------------------------------------------------------------------------
# analytic colliders

PRIMITIVE_PAIRS = [
  ("plane", "sphere"), ("plane", "capsule"), ("plane", "ellipsoid"), ("plane", "cylinder"),
  ("plane", "box"), ("sphere", "sphere"), ("sphere", "capsule"), ("sphere", "cylinder"),
  ("sphere", "box"), ("capsule", "capsule"), ("capsule", "box"), ("box", "box"),
]


def _check_primitive(t1, t2, margin=0.0, gap=0.0):
  mjm = mujoco.MjModel.from_xml_string(_pair_xml(t1, t2, margin, gap))
  qpos = _random_states(mjm, np.random.default_rng(_seed(t1, t2, margin)), NWORLD)
  m, d, ours, refs = _run(mjm, qpos)
  err = Errors()
  for w in range(NWORLD):
    _compare_world(ours[w], refs[w], err, f"{t1}-{t2} world {w}")
  ncontact = sum(bool(r) for r in refs)
  assert 0 < ncontact < NWORLD, f"{t1}-{t2}: poses must exercise contact and no contact"
  assert err.dist < CONTACT_DIST_TOL and err.pos < CONTACT_POS_TOL and err.frame < CONTACT_FRAME_TOL, (t1, t2, err)
  return err, refs


@pytest.mark.parametrize("t1,t2", PRIMITIVE_PAIRS)
def test_primitive_pair(t1, t2):
  err, refs = _check_primitive(t1, t2)
  # multi-contact colliders must actually produce several contacts in some poses
  maxcon = pairs.COLLIDERS[(pws.types.GeomType[t1.upper()],
                                       pws.types.GeomType[t2.upper()])][1]
  if maxcon > 2:
    assert max(len(r) for r in refs) >= 3, (t1, t2)


@pytest.mark.parametrize("t1,t2", [("plane", "box"), ("plane", "cylinder"), ("capsule", "capsule"),
                                   ("box", "box"), ("sphere", "cylinder"), ("capsule", "box")])
def test_primitive_pair_margin_gap(t1, t2):
  """Detection at margin + gap, includemargin = margin, exclude = 1 in the gap (MuJoCo 4)."""
  err, refs = _check_primitive(t1, t2, margin=0.03, gap=0.02)
  assert any(c["exclude"] for r in refs for c in r), "poses must put contacts in the gap"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("margin,gap", [(0.0, 0.0), (0.03, 0.02)])
@pytest.mark.parametrize("t1,t2", PRIMITIVE_PAIRS)
def test_primitive_pair_from_qpos(t1, t2, margin, gap, backend):
  """Every analytic collider after a forward from qpos (our float32 kinematics, then collision)
  on either backend, against MuJoCo's d.contact."""
  mjm = mujoco.MjModel.from_xml_string(_pair_xml(t1, t2, margin, gap))
  qpos = _random_states(mjm, np.random.default_rng(_seed(t1, t2, margin)), NWORLD)
  d, ours, refs = _run_forward(mjm, qpos, backend)
  err = Errors()
  for w in range(NWORLD):
    _compare_world(ours[w], refs[w], err, f"{t1}-{t2} world {w}")
  assert 0 < sum(bool(r) for r in refs) < NWORLD, f"{t1}-{t2}: poses must exercise contact and no contact"
  assert err.dist < CONTACT_DIST_TOL and err.pos < CONTACT_POS_TOL and err.frame < CONTACT_FRAME_TOL, err


@pytest.mark.parametrize("shift,lateral,antiparallel", [
  (0.31, 0.02, False),   # no overlap: the nearest ends, twice
  (0.35, 0.0, False),    # collinear, no overlap
  (0.2999, 0.01, False),  # sliver of overlap
  (0.29, 0.01, True),
  (0.1, 0.0, False),     # collinear overlap: coincident points, fallback normal
  (0.0, 0.05, True),     # full overlap
  (0.2, 0.05, True),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_capsules(shift, lateral, antiparallel, backend):
  """Parallel capsules: contacts at both ends of the overlap of the segments, in order."""
  mjm = mujoco.MjModel.from_xml_string(_pair_xml("capsule", "capsule", margin=0.05))
  qpos = np.tile(mjm.qpos0, (1, 1))
  qpos[0, 7:10] = [lateral, 0, shift]
  qpos[0, 10:14] = [0, 1, 0, 0] if antiparallel else [1, 0, 0, 0]
  d, ours, refs = _run_forward(mjm, qpos, backend)
  assert len(refs[0]) == 2
  assert len(ours[0]) == 2
  err = Errors()
  for o, r in zip(ours[0], refs[0]):  # same order, not just the same set
    err.add(o, r)
  assert err.dist < CONTACT_DIST_TOL and err.pos < CONTACT_POS_TOL and err.frame < CONTACT_FRAME_TOL, err


# ---------------------------------------------------------------------------------------------
# convex (GJK/EPA) pairs

CONVEX_PAIRS = [
  ("sphere", "ellipsoid"), ("capsule", "ellipsoid"), ("ellipsoid", "ellipsoid"),
  ("ellipsoid", "cylinder"), ("ellipsoid", "box"), ("capsule", "cylinder"),
  ("cylinder", "cylinder"), ("cylinder", "box"),
]


@pytest.mark.parametrize("t1,t2", [("sphere", "ellipsoid"), ("capsule", "ellipsoid")])
def test_convex_shallow_matches_mujoco(t1, t2):
  """Sphere/capsule cores apart: MuJoCo's GJK distance path, matched tightly."""
  mjm = mujoco.MjModel.from_xml_string(_pair_xml(t1, t2))
  qpos = _random_states(mjm, np.random.default_rng(_seed("shallow", t1, t2)), NWORLD, scale=0.12)
  m, d, ours, refs = _run(mjm, qpos)
  radius = mjm.geom_size[0][0] + 0.5 * mjm.geom_margin[0] + 0.5 * mjm.geom_margin[1]
  err = Errors()
  for w in range(NWORLD):
    shallow = [c for c in refs[w] if c["dist"] > -radius + 1e-4]
    if shallow:
      assert ours[w], f"world {w}: MuJoCo has a contact, we have none"
      o = min(ours[w], key=lambda c: np.linalg.norm(c["pos"] - shallow[0]["pos"]))
      err.add(o, shallow[0])
      _check_params(o, shallow[0], f"world {w}")
  assert err.ncontacts >= 8, "poses must exercise the shallow path"
  assert err.dist < GJK_DIST_TOL and err.frame < GJK_FRAME_TOL, (t1, t2, err)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("t1,t2", CONVEX_PAIRS)
def test_convex_pair_vs_mujoco(t1, t2, backend):
  """Same number of contacts as MuJoCo 4.0 in every world (one for smooth pairs; up to four
  from single-shot multicontact for cylinders, two for capsule-cylinder); contacts matched by
  position agree to the EPA accuracy (see the tolerances above). From qpos on either backend:
  the kinematics' float32 rounding (~1e-7 m) is far below the EPA bounds."""
  mjm = mujoco.MjModel.from_xml_string(_pair_xml(t1, t2))
  qpos = _random_states(mjm, np.random.default_rng(_seed("convex", t1, t2)), NWORLD)
  d, ours, refs = _run_forward(mjm, qpos, backend)
  ddist, dpos, dnormal = [], [], []
  nmulti = 0
  for w in range(NWORLD):
    o, r = ours[w], refs[w]
    if r and abs(r[0]["dist"]) < CONTACT_DIST_TOL:
      continue  # touching: contact existence is rounding-dependent
    assert len(o) == len(r), (
      f"{t1}-{t2} world {w}: ours {len(o)} contacts, MuJoCo {len(r)}: ours "
      f"{[(round(c['dist'], 5), np.round(c['pos'], 4).tolist()) for c in o]} MuJoCo "
      f"{[(round(c['dist'], 5), np.round(c['pos'], 4).tolist()) for c in r]}")
    nmulti += len(r) > 1
    for oc, rc in _match(o, r):
      ddist.append(abs(oc["dist"] - rc["dist"]))
      dpos.append(np.abs(oc["pos"] - rc["pos"]).max())
      dnormal.append(np.abs(oc["frame"][0] - rc["frame"][0]).max())
      _check_params(oc, rc, f"world {w}")
      np.testing.assert_allclose(np.linalg.norm(oc["frame"], axis=1), 1.0, atol=UNIT_NORM_TOL)
  ddist = np.array(ddist)
  assert len(ddist) >= 10
  single_shot = t2 == "cylinder" or (t1, t2) == ("cylinder", "box")
  if single_shot and t1 != "ellipsoid":
    assert nmulti >= 2, f"{t1}-{t2}: poses must exercise multi-contact ({nmulti})"
  assert np.quantile(ddist, 0.85) < EPA_DIST_TYPICAL_TOL, (t1, t2, np.sort(ddist)[-8:])
  assert ddist.max() < EPA_DIST_WORST_TOL, (t1, t2, ddist.max())
  assert np.quantile(dpos, 0.85) < EPA_POS_TYPICAL_TOL, (t1, t2, np.sort(dpos)[-8:])
  assert np.median(dnormal) < EPA_NORMAL_MEDIAN_TOL, (t1, t2, np.median(dnormal))


@pytest.mark.parametrize("t1,t2", [("capsule", "cylinder"), ("cylinder", "cylinder"),
                                   ("cylinder", "box")])
def test_single_shot_with_margin(t1, t2):
  """MuJoCo 4 keeps single-shot multicontact with margins (3.x fell back to one contact plus
  perturbation), on the geoms inflated by half the margin. Measured over 256 poses: counts
  differ in 0 (capsule-cylinder), 2 and 3 poses (a cylinder side in the margin band, 10-15
  degrees off a face, where MuJoCo 4.0 keeps the one EPA contact); depths of matched
  contacts 85th percentile < 1e-6 m."""
  mjm = mujoco.MjModel.from_xml_string(_pair_xml(t1, t2, margin=0.01, gap=0.0))
  qpos = _random_states(mjm, np.random.default_rng(_seed("convex", t1, t2)), 256)
  m, d, ours, refs = _run(mjm, qpos)
  differ, nmulti, ddist = 0, 0, []
  for o, r in zip(ours, refs):
    if len(o) != len(r):
      differ += 1
      continue
    nmulti += len(r) > 1
    ddist += [abs(oc["dist"] - rc["dist"]) for oc, rc in _match(o, r)]
  assert nmulti >= 10 and differ <= 3, (nmulti, differ)
  assert np.quantile(ddist, 0.85) < EPA_DIST_TYPICAL_TOL


def _quat(axis, angle):
  axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
  return np.r_[np.cos(angle / 2), np.sin(angle / 2) * axis]


_FLAT = _quat([0, 1, 0], np.pi / 2)  # geom axis along x
_SIDE = _quat([1, 0, 0], np.pi / 2)  # geom axis along -y

# (t1, t2, geom 1 pos, quat, geom 2 pos, quat, MuJoCo 4.0's contact count); geom 2 is a
# cylinder (radius 0.08, half-length 0.12) or a box (0.1 0.07 0.12) at the origin
SINGLE_SHOT_POSES = [
  # capsule (radius 0.07, half-length 0.15) lying on the top cap: clipped to the 16-gon
  ("capsule", "cylinder", [0.03, 0.02, 0.185], _FLAT, [0, 0, 0], [1, 0, 0, 0], 2),
  ("capsule", "cylinder", [0.0, 0.0, 0.18], _quat([0, 1, 0], np.pi / 2 + 0.03), [0, 0, 0],
   [1, 0, 0, 0], 2),  # tilted within mjEDGE_TOL: one depth per end
  ("capsule", "cylinder", [0.0, 0.0, 0.18], _quat([0, 1, 0], np.pi / 2 + 0.2), [0, 0, 0],
   [1, 0, 0, 0], 1),  # tilted beyond it
  ("capsule", "cylinder", [0.14, 0.0, 0.0], [1, 0, 0, 0], [0, 0, 0], [1, 0, 0, 0], 1),  # sides
  # cylinder cap flat on a box face: the 16-gon clipped by the face, pruned to 4
  ("cylinder", "box", [0.023, 0.013, 0.235], [1, 0, 0, 0], [0, 0, 0], [1, 0, 0, 0], 4),
  # cylinder lying on a box face: its side clipped by the face
  ("cylinder", "box", [0.01, 0.0, 0.195], _SIDE, [0, 0, 0], [1, 0, 0, 0], 2),
  # cylinder side across the other's cap (MuJoCo 4.0.0 finds it in either order)
  ("cylinder", "cylinder", [0.0, 0.0, 0.195], _SIDE, [0, 0, 0], [1, 0, 0, 0], 2),
  ("cylinder", "cylinder", [0.0, 0.0, -0.195], [1, 0, 0, 0], [0, 0, 0], _SIDE, 2),
  # caps face to face, offset
  ("cylinder", "cylinder", [0.05, 0.03, 0.235], [1, 0, 0, 0], [0, 0, 0], [1, 0, 0, 0], 4),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", range(len(SINGLE_SHOT_POSES)))
def test_single_shot_multicontact(case, backend):
  """MuJoCo 4's single-shot multicontact in poses with aligned features: same contacts
  (count, depth per contact, position, frame) as MuJoCo 4.0, in MuJoCo's order."""
  t1, t2, p1, q1, p2, q2, count = SINGLE_SHOT_POSES[case]
  xml = _pair_xml(t1, t2).replace('<body name="b" pos="0 0 0.5">', '<body name="b">')
  mjm = mujoco.MjModel.from_xml_string(xml)
  # body a is geom 1 unless t1 is a plane
  qpos = np.r_[p1, q1, p2, q2][None, :]
  d, ours, refs = _run_forward(mjm, qpos, backend)
  assert len(refs[0]) == count, "pose no longer exercises the case"
  assert len(ours[0]) == count
  side = t1 == "cylinder" and count == 2
  tol = SINGLE_SHOT_EDGE_TOL if side else SINGLE_SHOT_TOL
  for o, r in _match(ours[0], refs[0]):
    assert abs(o["dist"] - r["dist"]) < tol, (o["dist"], r["dist"])
    np.testing.assert_allclose(o["pos"], r["pos"], atol=tol)
    np.testing.assert_allclose(o["frame"], r["frame"], atol=CONTACT_FRAME_TOL)
    _check_params(o, r, f"case {case}")


def test_convex_deep_vs_exact():
  """Ellipsoids with equal axes are spheres: the EPA depth has an exact reference, and our
  error stays within MuJoCo's own EPA error plus a small bound."""
  mjm = mujoco.MjModel.from_xml_string(
    _pair_xml("ellipsoid", "ellipsoid", size1="0.1 0.1 0.1").replace(
      f'type="ellipsoid" size="{_SIZES["ellipsoid"]}"', 'type="ellipsoid" size="0.1 0.1 0.1"'))
  qpos = _random_states(mjm, np.random.default_rng(_seed("exact")), NWORLD)
  m, d, ours, refs = _run(mjm, qpos)
  mjd = mujoco.MjData(mjm)
  n = 0
  for w in range(NWORLD):
    mjd.qpos[:] = qpos[w]
    mujoco.mj_kinematics(mjm, mjd)
    gap = np.linalg.norm(mjd.geom_xpos[1] - mjd.geom_xpos[0]) - 0.2
    if gap < -1e-3:
      assert ours[w] and refs[w], w
      ours_err = abs(ours[w][0]["dist"] - gap)
      mj_err = abs(refs[w][0]["dist"] - gap)
      assert ours_err < mj_err + CONVEX_EXACT_EXTRA_TOL, (w, ours_err, mj_err)
      n += 1
  assert n >= 10


# ---------------------------------------------------------------------------------------------
# candidate pairs, filtering and contact parameters

_PARAMS_XML = """
<mujoco>
  <option gravity="0 0 0"/>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 .1" friction="0.5 0.01 0.001" solref="0.03 1"
          solimp="0.8 0.9 0.002 0.5 2" condim="3"/>
    <body name="b1"><freejoint/>
      <geom name="s1" type="sphere" size=".1" friction="1.2 0.02 0.003" solref="0.01 0.5"
            solimp="0.95 0.99 0.001 0.4 3" solmix="3" condim="6" margin="0.01" gap="0.005"/>
    </body>
    <body name="b2"><freejoint/>
      <geom name="c2" type="capsule" size=".05 .1" priority="1" friction="0.3 0.01 0.0001"
            condim="4" solref="-500 -20" solmix="0"/>
    </body>
    <body name="b3"><freejoint/>
      <geom name="x3" type="box" size=".08 .07 .06" solref="-300 -10" condim="1" contype="2"
            conaffinity="1"/>
      <body name="b3child" pos="0 0 0.15">
        <joint type="hinge" axis="1 0 0"/>
        <geom name="x3c" type="capsule" size=".04 .08"/>
      </body>
    </body>
    <body name="b4"><freejoint/>
      <geom name="s4" type="sphere" size=".09" contype="2" conaffinity="2" solmix="0"/>
    </body>
  </worldbody>
  <contact>
    <pair geom1="s1" geom2="c2" condim="3" friction="0.7 0.6 0.01 0.001 0.002" solref="0.02 1"
          solreffriction="0.05 0.8" margin="0.02" gap="0.01"/>
    <pair geom1="s4" geom2="floor" condim="1"/>
  </contact>
</mujoco>
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_contact_parameters_and_filters(backend):
  """priority, solmix, solref mixing (standard and direct), condim, friction, explicit
  <pair> parameters and margins, contype/conaffinity, parent filtering: all per contact."""
  mjm = mujoco.MjModel.from_xml_string(_PARAMS_XML)
  rng = np.random.default_rng(_seed("params"))
  qpos = np.tile(mjm.qpos0, (NWORLD, 1))
  for j in range(mjm.njnt):
    if mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
      adr = mjm.jnt_qposadr[j]
      qpos[:, adr:adr + 2] = rng.normal(0, 0.1, (NWORLD, 2))
      qpos[:, adr + 2] = rng.uniform(0.0, 0.25, NWORLD)
      qpos[:, adr + 3:adr + 7] = _random_quat(rng, NWORLD)
  d, ours, refs = _run_forward(mjm, qpos, backend)
  err = Errors()
  seen = set()
  for w in range(NWORLD):
    _compare_world(ours[w], refs[w], err, f"world {w}")
    seen |= {c["geom"] for c in refs[w]}
  assert err.dist < CONTACT_DIST_TOL and err.pos < CONTACT_POS_TOL and err.frame < CONTACT_FRAME_TOL, err
  # both explicit pairs, mixed-priority and mixed-solmix dynamic pairs were exercised
  gid = {mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_GEOM, i): i for i in range(mjm.ngeom)}
  for a, b in [("s1", "c2"), ("floor", "s4"), ("floor", "c2"), ("floor", "s1"), ("floor", "x3")]:
    assert tuple(sorted((gid[a], gid[b]), key=lambda g: (mjm.geom_type[g], g))) in seen, (a, b)


def test_candidate_pairs_filtering():
  """The static list holds every pair MuJoCo ever collides and none that it filters."""
  mjm = models.mj_model("humanoid")
  m = _put(mjm)
  host = m.collision.host
  cand = {(int(a), int(b)) for a, b in zip(host["geom1"], host["geom2"])}
  body = mjm.geom_bodyid
  names = {mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_BODY, i): i for i in range(mjm.nbody)}

  # every geom pair MuJoCo produces contacts for, across many random poses, is a candidate
  rng = np.random.default_rng(_seed("filter"))
  mjd = mujoco.MjData(mjm)
  seen = set()
  for _ in range(300):
    mjd.qpos[:] = mjm.qpos0
    mjd.qpos[2] = rng.uniform(0.1, 1.4)
    mjd.qpos[3:7] = _random_quat(rng, 1)[0]
    mjd.qpos[7:] = rng.uniform(mjm.jnt_range[1:, 0], mjm.jnt_range[1:, 1])
    mujoco.mj_forward(mjm, mjd)
    seen |= {(int(c.geom[0]), int(c.geom[1])) for c in mjd.contact[:mjd.ncon]}
  assert seen <= cand, seen - cand
  assert len({p for p in seen if body[p[0]] and body[p[1]]}) >= 3, "no self-contacts exercised"

  # excluded body pairs, parent-child pairs and same-body pairs are absent
  excluded = {frozenset((names["torso"], names["lower_waist"])),
              frozenset((names["lower_waist"], names["pelvis"]))}
  for g1, g2 in cand:
    b1, b2 = int(body[g1]), int(body[g2])
    assert b1 != b2
    assert frozenset((b1, b2)) not in excluded
    if b1 and b2:  # bodies welded to the world are never parent-filtered (MuJoCo)
      assert mjm.body_parentid[b1] != b2 and mjm.body_parentid[b2] != b1, (g1, g2)
  # every remaining pair of different, non-adjacent, non-excluded bodies is present
  for g1 in range(mjm.ngeom):
    for g2 in range(g1 + 1, mjm.ngeom):
      b1, b2 = int(body[g1]), int(body[g2])
      if b1 == b2 or frozenset((b1, b2)) in excluded or (b1 == 0 and b2 == 0):
        continue
      if b1 and b2 and (mjm.body_parentid[b1] == b2 or mjm.body_parentid[b2] == b1):
        continue
      key = (g1, g2) if mjm.geom_type[g1] <= mjm.geom_type[g2] else (g2, g1)
      assert key in cand, key

  # with parent filtering disabled, parent-child pairs come back (and still not excluded ones)
  mjm2 = models.mj_model("humanoid")
  mjm2.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_FILTERPARENT)
  host2 = _put(mjm2).collision.host
  pairs2 = {frozenset((int(body[a]), int(body[b]))) for a, b in zip(host2["geom1"], host2["geom2"])}
  assert frozenset((names["right_thigh"], names["right_shin"])) in pairs2
  assert not pairs2 & excluded
  # the worst-case capacity is the sum of the pairs' maximum contact counts
  assert m.collision.nconmax == int(host["maxcon"].sum())


def test_disabled_contacts():
  for flag in (mujoco.mjtDisableBit.mjDSBL_CONTACT, mujoco.mjtDisableBit.mjDSBL_CONSTRAINT):
    mjm = models.mj_model("humanoid")
    mjm.opt.disableflags |= int(flag)
    m = _put(mjm)
    assert m.collision.npair == 0 and m.collision.nconmax == 0
    d = pws.make_data(m, 3, "cpu")
    assert d.contact.dist.shape == (3, 1)
    _fill_contacts(d)
    smooth.kinematics(m, d)
    collision_driver.collision(m, d)
    assert (d.contact.ncon.numpy() == 0).all() and (d.contact.overflow.numpy() == 0).all()


def test_unsupported_pair_raises():
  mesh_xml = """
  <mujoco><asset><mesh name="tet" vertex="0 0 0 1 0 0 0 1 0 0 0 1"/></asset>
    <worldbody><geom name="floor" type="plane" size="1 1 1"/>
      <body name="a"><freejoint/><geom name="blob" type="mesh" mesh="tet"/></body>
      <body name="b"><freejoint/><geom name="brick" type="box" size=".1 .2 .1" margin=".01"/></body>
    </worldbody></mujoco>"""
  mjm = mujoco.MjModel.from_xml_string(mesh_xml)
  with pytest.raises(UnsupportedModelError, match="'brick' \\(box\\) and geom 'blob' \\(mesh\\)"):
    pairs.build_pairs(mjm, "cpu")
  # strict mode rejects the GJK/EPA pairs, naming both geoms and their types
  mjm = mujoco.MjModel.from_xml_string(_pair_xml("capsule", "ellipsoid"))
  with pytest.raises(UnsupportedModelError, match=r"geom 'a' \(capsule\) and geom 'b' \(ellipsoid\)"):
    pairs.build_pairs(mjm, "cpu", convex=False)
  with pytest.warns(pairs.ConvexCollisionWarning, match="'a'"):
    pairs.build_pairs(mjm, "cpu")


# ---------------------------------------------------------------------------------------------
# humanoids: states from MuJoCo's own falling, self-touching trajectories


def _falling_states(mjm, n, seed):
  """qpos of a humanoid tumbling onto the floor under random controls, taken while it
  touches the ground (and, for some, itself)."""
  rng = np.random.default_rng(seed)
  d = mujoco.MjData(mjm)
  out = []
  while len(out) < n:
    mujoco.mj_resetData(mjm, d)
    d.qpos[3:7] = _random_quat(rng, 1)[0]
    d.qpos[2] += 0.3
    d.qvel[:] = rng.normal(0, 1.0, mjm.nv)
    for k in range(400):
      d.ctrl[:] = rng.uniform(-1, 1, mjm.nu)
      mujoco.mj_step(mjm, d)
      if k % 40 == 39 and d.ncon:
        out.append(d.qpos.copy())
  return np.array(out[:n])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["humanoid", "ball_humanoid"])
def test_falling_humanoid(name, backend):
  mjm = models.mj_model("humanoid") if name == "humanoid" else mujoco.MjModel.from_xml_string(BALL_HUMANOID)
  qpos = _falling_states(mjm, 30, _seed(name))
  d, ours, refs = _run_forward(mjm, qpos, backend)
  body = mjm.geom_bodyid
  err = Errors()
  nself = 0
  for w in range(len(qpos)):
    assert len(ours[w]) == len(refs[w]), f"{name} state {w}: ncon {len(ours[w])} vs {len(refs[w])}"
    # same contacts in the same order as MuJoCo's d.contact
    assert [c["geom"] for c in ours[w]] == [c["geom"] for c in refs[w]], f"{name} state {w}"
    _compare_world(ours[w], refs[w], err, f"{name} state {w}")
    nself += sum(1 for c in refs[w] if body[c["geom"][0]] and body[c["geom"][1]])
  assert sum(map(len, refs)) >= 30 and nself >= 3, (sum(map(len, refs)), nself)
  assert err.dist < CONTACT_DIST_TOL and err.pos < CONTACT_POS_TOL and err.frame < CONTACT_FRAME_TOL, (name, err)
  assert (d.contact.overflow.numpy() == 0).all()


def test_overflow_is_flagged_not_silent():
  mjm = models.mj_model("humanoid")
  qpos = _falling_states(mjm, 30, _seed("overflow"))
  m = pws.put_model(mjm, "cpu")
  m.collision = pairs.build_pairs(mjm, "cpu", nconmax=2)
  assert m.collision.nconmax == 2
  _, d, ours, refs = _run(mjm, qpos, use_mj_poses=False, m=m)
  over = np.array([len(r) > 2 for r in refs])
  assert over.any() and not over.all()
  np.testing.assert_array_equal(d.contact.ncon.numpy(), [min(len(r), 2) for r in refs])
  np.testing.assert_array_equal(d.contact.overflow.numpy(), over.astype(np.int32))
  assert int(d.contact.overflow_count.numpy()[0]) == over.sum()
  # the kept contacts are the first ones in MuJoCo's order
  for w in range(len(qpos)):
    assert [c["geom"] for c in ours[w]] == [c["geom"] for c in refs[w][:2]]
  # within a step (no begin_step) the flag stays set and the event is counted once
  collision_driver.collision(m, d)
  assert int(d.contact.overflow_count.numpy()[0]) == over.sum()
  np.testing.assert_array_equal(d.contact.overflow.numpy(), over.astype(np.int32))
  # the counter accumulates over steps
  forward.begin_step(d)
  collision_driver.collision(m, d)
  assert int(d.contact.overflow_count.numpy()[0]) == 2 * over.sum()


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["humanoid", "ball_humanoid"])
def test_collision_cuda_matches_cpu(name):
  mjm = models.mj_model("humanoid") if name == "humanoid" else mujoco.MjModel.from_xml_string(BALL_HUMANOID)
  qpos = _falling_states(mjm, 30, _seed("cuda", name)).astype(np.float32)
  results = []
  for device in ("cpu", "cuda:0"):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", pairs.ConvexCollisionWarning)
      m = pws.put_model(mjm, device)
    d = pws.make_data(m, len(qpos), device)
    d.qpos.assign(qpos)
    smooth.kinematics(m, d)
    collision_driver.collision(m, d)
    results.append({k: getattr(d.contact, k).numpy() for k in ("ncon", "dist", "pos", "geom")})
  cpu, gpu = results
  np.testing.assert_array_equal(cpu["ncon"], gpu["ncon"])
  for w, n in enumerate(cpu["ncon"]):
    np.testing.assert_array_equal(cpu["geom"][w, :n], gpu["geom"][w, :n])
    np.testing.assert_allclose(cpu["dist"][w, :n], gpu["dist"][w, :n], atol=CONTACT_DIST_TOL)
    np.testing.assert_allclose(cpu["pos"][w, :n], gpu["pos"][w, :n], atol=CONTACT_POS_TOL)


def test_epa_pool_overflow_is_flagged(monkeypatch):
  """With no EPA scratch, deep convex contacts are reported as overflow, never dropped silently."""
  from pywarp_sim import io
  mjm = mujoco.MjModel.from_xml_string(_pair_xml("ellipsoid", "box"))
  qpos = _random_states(mjm, np.random.default_rng(_seed("epa pool")), 16)
  m = _put(mjm)
  # io.data_sizes sizes the pool (types.EPA_FIELDS) when make_data allocates it
  monkeypatch.setattr(io, "EPA_SLOTS_PER_WORLD", 0)
  monkeypatch.setattr(io, "EPA_MIN_SLOTS", 0)
  _, d, ours, refs = _run(mjm, qpos, m=m)
  over = d.contact.overflow.numpy()
  assert over.sum() > 0
  for w in range(len(qpos)):
    if refs[w] and not ours[w]:
      assert over[w] == 1, w
