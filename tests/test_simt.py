"""The lane-group (SIMT) kernels: the layer's primitives against numpy, the smooth stage
(kernels/simt_smooth.h, lanes emulated on the CPU) against the native CPU step and MuJoCo C,
and, on a GPU, the CUDA kernel against the emulation bit for bit."""

import pathlib
import shutil
import subprocess

import mujoco
import numpy as np
import pytest
import torch

import assets
import oracle
import pywarp_sim as pws
from pywarp_sim import native, simt
from backends import simulator
from tolerances import (FLOAT32_ROUNDING_TOL, FORCE_TOL, INERTIA_TOL, MASS_FACTOR_RESIDUAL_TOL, POS_TOL,
                        QACC_SMOOTH_TOL, ROT_TOL, SIMT_LANE_SUM_ATOL, SIMT_LANE_SUM_RTOL, SIMT_SINCOS_TOL,
                        VEL_TOL)

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

# every test asset the native step runs (it refuses equality constraints, and the stage reads
# its pointer tables); the smooth stage itself does not depend on them
MODELS = ["humanoid", *(n for n in assets.MODELS if n not in ("equality_zoo", "fourbar_biped"))]
NWORLD = 24
GROUPS = (8, 16, 32)

# what the stage writes, with the bound of each against MuJoCo C (tests/tolerances.py)
FIELDS = {
  "xpos": POS_TOL, "xquat": ROT_TOL, "xmat": ROT_TOL, "xipos": POS_TOL, "ximat": ROT_TOL,
  "xanchor": POS_TOL, "xaxis": ROT_TOL, "geom_xpos": POS_TOL, "geom_xmat": ROT_TOL,
  "site_xpos": POS_TOL, "site_xmat": ROT_TOL, "subtree_com": POS_TOL, "cinert": INERTIA_TOL,
  "cdof": VEL_TOL, "crb": INERTIA_TOL, "cvel": VEL_TOL, "cdof_dot": VEL_TOL, "qfrc_bias": FORCE_TOL,
}
# written by the stage and compared with the native step only (MuJoCo stores qM and qLD sparse).
# The factor divides by pivots as small as 1e-3 (light links with armature), which turns qM's
# last-bit differences (sin/cos) into 5e-5 relative: the smooth solve's bound.
DENSE = {"qM": INERTIA_TOL, "subtree_mass": INERTIA_TOL, "qLD": QACC_SMOOTH_TOL, "qLDiagInv": QACC_SMOOTH_TOL}


def _sims(name, nworld, seed, hinges_at_rest=False, n=2, qpos_scale=1.0):
  """n CPU native Simulators of model `name` at the same random state (NaN everywhere else)."""
  mjm = oracle.mj_model(name, disable=(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,))
  state = list(oracle.random_state(mjm, nworld, seed, qpos_scale=qpos_scale))
  if hinges_at_rest:  # sin and cos of a zero angle are exact in every implementation
    for j in np.flatnonzero(mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_HINGE)):
      state[0][:, mjm.jnt_qposadr[j]] = mjm.qpos0[mjm.jnt_qposadr[j]]
  sims = [simulator(mjm, nworld, "native") for _ in range(n)]
  for s in sims:
    oracle.set_state(s.data, *state)
    oracle.fill_nan(s.data)
  return mjm, state, sims


def _field(sim, name):
  return getattr(sim.data, name).numpy()


# ---- primitives ------------------------------------------------------------------------------


def _butterfly_sum(x):
  """reduce_sum's order in float32: v[l] + v[l ^ o] for o = n/2 .. 1."""
  v = x.astype(np.float32).copy()
  o = len(v) // 2
  while o:
    v = (v + v[np.arange(len(v)) ^ o]).astype(np.float32)
    o //= 2
  return v


def _hillis_steele(x):
  """inclusive_scan's order: v[l] += v[l - o] for o = 1, 2, 4, ... (l >= o)."""
  v = x.copy()
  o = 1
  while o < len(v):
    shifted = v.copy()
    shifted[o:] = v[:-o]
    v = np.where(np.arange(len(v)) >= o, v + shifted, v).astype(v.dtype)
    o *= 2
  return v


@pytest.mark.parametrize("n", GROUPS)
def test_primitives_match_numpy(n):
  rng = np.random.default_rng(n)
  lane = np.arange(n)
  for trial in range(20):
    x = rng.normal(0, 10, n).astype(np.float32)
    k = rng.integers(-3, 5, n).astype(np.int32)
    if trial == 0:
      k[:] = 1  # all lanes true
    src = rng.integers(-n, 2 * n, n).astype(np.int32)  # out-of-range sources wrap, as __shfl_sync
    delta, mask = int(rng.integers(1, n)), int(rng.integers(1, n))
    out = simt.primitives(x, k, src, delta, mask)
    f, i = out["float"], out["int"]
    np.testing.assert_array_equal(f[0], x[src % n])
    np.testing.assert_array_equal(f[1], x[lane ^ mask])
    np.testing.assert_array_equal(f[2], np.where(lane >= delta, x[np.maximum(lane - delta, 0)], x))
    np.testing.assert_array_equal(f[3], np.where(lane + delta < n, x[np.minimum(lane + delta, n - 1)], x))
    np.testing.assert_array_equal(f[4], _butterfly_sum(x))
    assert np.all(f[4] == f[4][0]), "every lane holds the same sum"
    np.testing.assert_allclose(f[4], np.sum(x.astype(np.float64)), rtol=SIMT_LANE_SUM_RTOL, atol=SIMT_LANE_SUM_ATOL)
    np.testing.assert_array_equal(f[5], _hillis_steele(x))
    np.testing.assert_allclose(f[5], np.cumsum(x.astype(np.float64)), rtol=SIMT_LANE_SUM_RTOL, atol=SIMT_LANE_SUM_ATOL)
    s, c = simt.sincos(x)
    np.testing.assert_array_equal(f[6], s)
    np.testing.assert_array_equal(f[7], c)
    # segment_sum over the 8-lane segments: each segment's butterfly, the same pairing as reduce_sum's
    np.testing.assert_array_equal(f[8], np.concatenate([_butterfly_sum(x[s:s + 8]) for s in range(0, n, 8)]))
    np.testing.assert_array_equal(i[0], np.cumsum(k))
    positive = k > 0
    assert np.all(i[1].astype(np.uint32) == np.uint32(int(np.sum(positive.astype(np.uint64) << lane.astype(np.uint64)))))
    assert np.all(i[2] == int(positive.any())) and np.all(i[3] == int(positive.all()))


def test_recorder_catches_a_lane_reading_another_lanes_write():
  assert simt.race_probe(0) == ""
  message = simt.race_probe(1)
  assert "share a location written in phase 0" in message and "later phase" in message


def test_sincos_matches_float64():
  rng = np.random.default_rng(0)
  for scale in (1.0, 10.0, 1000.0, 8192.0):
    x = rng.uniform(-scale, scale, 100_000).astype(np.float32)
    x[:4] = (0.0, -0.0, np.pi / 4, -np.pi / 2)
    s, c = simt.sincos(x)
    x64 = x.astype(np.float64)
    assert np.max(np.abs(s - np.sin(x64))) < SIMT_SINCOS_TOL, scale
    assert np.max(np.abs(c - np.cos(x64))) < SIMT_SINCOS_TOL, scale
  s, c = simt.sincos(np.zeros(1, np.float32))
  assert s[0] == 0.0 and c[0] == 1.0  # exact: hinge angles at rest give the scalar path's bits


# ---- the smooth stage on the CPU -------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_smooth_equals_native_step_bitwise_with_hinges_at_rest(name):
  """With every hinge at qpos0 (exact sin/cos) the lane-group stage computes each element with
  the scalar stage's operations in the scalar stage's order: equal bits, every group size."""
  _, _, (ref, *emus) = _sims(name, NWORLD, seed=5, hinges_at_rest=True, n=1 + len(GROUPS))
  ref.forward()
  for group, emu in zip(GROUPS, emus):
    simt.smooth(emu, group_size=group)
    for field in (*FIELDS, *DENSE):
      a, b = _field(ref, field), _field(emu, field)
      assert not np.isnan(b).any(), f"{name}: {field} not written (group {group})"
      assert np.array_equal(a, b), (f"{name} group {group}: {field} differs from the native step by "
                                    f"{np.max(np.abs(a.astype(np.float64) - b)):.2e}")


@pytest.mark.parametrize("name", MODELS)
def test_smooth_matches_native_step_and_mujoco(name):
  """Random states (hinge angles with a 1 rad spread): against MuJoCo C with test_smooth's bounds, and
  against the native CPU step (which differs only through sinf/cosf) with the same bounds."""
  mjm, state, (ref, emu) = _sims(name, NWORLD, seed=7, qpos_scale=1.0)
  ref.forward()
  simt.smooth(emu)
  worst_native = {}
  for w in range(NWORLD):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_fwdPosition(mjm, mjd)
    mujoco.mj_fwdVelocity(mjm, mjd)
    for field, tol in FIELDS.items():
      expected = getattr(mjd, field)
      ours = _field(emu, field)[w].reshape(-1)[:expected.size]
      err = oracle.rel_err(ours, expected.reshape(-1))
      assert err < tol, f"{name} world {w}: {field} vs MuJoCo {err:.2e} >= {tol:.0e}"
      err = oracle.rel_err(ours, _field(ref, field)[w].reshape(-1)[:expected.size])
      worst_native[field] = max(worst_native.get(field, 0.0), err)
      assert err < tol, f"{name} world {w}: {field} vs the native step {err:.2e} >= {tol:.0e}"
    err = oracle.rel_err(_field(emu, "qM")[w], oracle.full_m(mjm, mjd))
    assert err < INERTIA_TOL, f"{name} world {w}: qM vs MuJoCo {err:.2e}"
    # the factor through its diagonal inverse (MuJoCo's qLD is sparse): the elimination amplifies
    # qM's rounding as the smooth qacc's solve does (the native step measures the same 1.5e-5)
    err = oracle.rel_err(_field(emu, "qLDiagInv")[w], mjd.qLDiagInv)
    assert err < QACC_SMOOTH_TOL, f"{name} world {w}: qLDiagInv vs MuJoCo {err:.2e}"
  for field, tol in DENSE.items():
    err = oracle.rel_err(_field(emu, field), _field(ref, field))
    worst_native[field] = err
    assert err < tol, f"{name}: {field} vs the native step {err:.2e}"
  top = max(worst_native, key=worst_native.get)
  print(f"\n{name}: lane-group stage vs native step, worst {top} {worst_native[top]:.2e}")


def test_factor_solves_the_mass_matrix():
  """qLD / qLDiagInv of the lane-group stage factor its qM: M x = b solved through them."""
  mjm, _, (emu,) = _sims("humanoid", 4, seed=3, n=1)
  simt.smooth(emu)
  nv = mjm.nv
  for w in range(4):
    M = _field(emu, "qM")[w].reshape(nv, nv).astype(np.float64)
    LD = _field(emu, "qLD")[w].reshape(nv, nv).astype(np.float64)
    L = np.tril(LD, -1) + np.eye(nv)
    D = np.diag(LD)
    np.testing.assert_allclose(1.0 / D, _field(emu, "qLDiagInv")[w], rtol=FLOAT32_ROUNDING_TOL)
    np.testing.assert_allclose(L.T @ np.diag(D) @ L, M, rtol=0, atol=MASS_FACTOR_RESIDUAL_TOL * np.abs(M).max())


@pytest.mark.parametrize("name", MODELS)
def test_recording_run_has_no_race_and_same_bits(name):
  """The measured run (counting float, address recorder) finds no location shared between
  lanes within a phase (kernels/simt.h rule 1; it raises otherwise) and writes the same bits."""
  _, _, (fast, measured) = _sims(name, 3, seed=9)
  simt.smooth(fast)
  stats = simt.smooth(measured, record=True)
  for field in (*FIELDS, *DENSE):
    assert np.array_equal(_field(fast, field), _field(measured, field)), field
  assert set(stats["stages"]) == set(simt.STAGES)
  # the stage's world touches at least its outputs: qM, qLD (nv * nv floats each) among them
  nv = fast.model.nv
  assert stats["working_set_bytes"] / 3 >= 2 * 4 * nv * nv
  for stage, s in stats["stages"].items():
    assert s["phases"] > 0 and s["warp_instructions"] > 0, stage
    assert s["warp_instructions"] <= s["lane_instructions"] <= 32 * s["warp_instructions"], stage
    assert s["global_requests"] <= s["global_sectors"] <= 32 * s["global_requests"], stage


def test_proxies_of_the_humanoid():
  """Group-level proxies: a tree pass runs one phase per depth level, so phases per world are
  set by the model (humanoid: 11 bodies deep at most); lanes idle where a level is narrow."""
  mjm, _, (sim,) = _sims("humanoid", 2, seed=1, n=1)
  p32 = simt.proxies(sim, group_size=32)
  p8 = simt.proxies(sim, group_size=8)
  for p in (p32, p8):
    assert 1.0 <= p["sectors_per_request"] <= 32.0
    assert 0.0 < p["lane_efficiency"] <= 1.0
    assert p["instructions_per_world_step"] > 0
  # the humanoid's levels hold 1-4 bodies: 8-lane groups are busier, and a warp then issues each
  # instruction for 4 worlds, so fewer warp instructions per world
  assert p8["lane_efficiency"] > p32["lane_efficiency"]
  assert p8["instructions_per_world_step"] < p32["instructions_per_world_step"]
  assert simt.shared_bytes_per_world(mjm.nv) == 4 * (mjm.nv ** 2 + 6 * mjm.nv)


def test_bad_arguments_are_refused():
  _, _, (sim,) = _sims("humanoid", 2, seed=1, n=1)
  with pytest.raises(ValueError, match="group_size"):
    simt.smooth(sim, group_size=12)
  thread = pws.Simulator("humanoid", nworld=2, device="cpu", backend="native", workspace="thread")
  with pytest.raises(ValueError, match="workspace"):
    simt.smooth(thread)


# ---- the CUDA kernel against the emulation ---------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("unit, defines, kernel", [
    ("simt_launch.cu", (), "simt_smooth_kernel"),
    # the fused step's convex instance: the primitive instance's code and the convex collider
    ("simt_step_instance.cu", ("-DPWS_SIMT_GROUP=8", "-DPWS_SIMT_CONVEX=1"), "simt_step_persistent_kernel"),
])
def test_cuda_kernels_round_as_the_emulation(tmp_path, unit, defines, kernel):
  """kernels/simt.h rule 3 in the compiled code: the lane-group kernels' PTX (as CMake builds
  the units, -fmad=false) has no fused multiply-add and no approximate division, square root or
  transcendental, so every float operation rounds as on the CPU."""
  ptx = tmp_path / "unit.ptx"
  subprocess.run(["nvcc", "-std=c++17", "-O3", "-arch=sm_90", "-fmad=false", *defines, f"-I{REPO / 'kernels'}",
                  f"-I{REPO / 'csrc'}", "-ptx", str(REPO / "csrc" / unit), "-o", str(ptx)],
                 check=True, capture_output=True)
  text = ptx.read_text()
  assert kernel in text
  assert text.count("add.rn.f32") + text.count("mul.rn.f32") > 1000
  for op in ("fma.rn.f32", "mad.f32", "div.approx", "div.full", "sqrt.approx", "rcp.approx", "sin.approx",
             "cos.approx", "ex2.approx"):
    assert op not in text, f"{op} in the lane-group kernels' PTX"


@pytest.mark.gpu
@pytest.mark.parametrize("n", GROUPS)
def test_gpu_primitives_equal_the_emulation_bitwise(n):
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  rng = np.random.default_rng(n)
  for _ in range(10):
    x = rng.uniform(-100, 100, n).astype(np.float32)
    k = rng.integers(-3, 5, n).astype(np.int32)
    src = rng.integers(0, n, n).astype(np.int32)
    delta, mask = int(rng.integers(1, n)), int(rng.integers(1, n))
    cpu = simt.primitives(x, k, src, delta, mask, device="cpu")
    gpu = simt.primitives(x, k, src, delta, mask, device="cuda:0")
    assert np.array_equal(cpu["float"], gpu["float"]) and np.array_equal(cpu["int"], gpu["int"])


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["humanoid", "ball_humanoid", "tendon_humanoid"])
@pytest.mark.parametrize("group", GROUPS)
def test_gpu_smooth_equals_the_emulation_bitwise(name, group):
  """The CUDA kernel (-fmad=false) and the CPU emulation: the same bits in every output, at
  random states with hinge angles over +-3 rad (simt::sincos on both); and MuJoCo's values."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  nworld = 300  # not a multiple of a block's worlds: the last block is partly empty
  mjm, state, (cpu,) = _sims(name, nworld, seed=21, n=1)
  model = pws.put_model(mjm, "cuda:0")
  gpu = pws.Simulator(model, nworld=nworld, device="cuda:0", backend="native")
  oracle.set_state(gpu.data, *state)
  oracle.fill_nan(gpu.data)
  simt.smooth(cpu, group_size=group)
  simt.smooth(gpu, group_size=group)
  torch.cuda.synchronize()
  for field in (*FIELDS, *DENSE):
    a, b = _field(cpu, field), _field(gpu, field)
    assert np.array_equal(a, b), (f"{name} group {group}: {field} GPU vs emulation "
                                  f"{np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")
  for w in (0, nworld - 1):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_fwdPosition(mjm, mjd)
    mujoco.mj_fwdVelocity(mjm, mjd)
    for field, tol in FIELDS.items():
      expected = getattr(mjd, field)
      err = oracle.rel_err(_field(gpu, field)[w].reshape(-1)[:expected.size], expected.reshape(-1))
      assert err < tol, f"{name} world {w}: GPU {field} vs MuJoCo {err:.2e}"
