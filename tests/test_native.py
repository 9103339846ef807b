"""pywarp_sim.native.integrate_pos against MuJoCo C's mj_integratePos (the oracle)."""

import mujoco
import numpy as np
import pytest

from pywarp_sim import native

from tolerances import INTEGRATE_POS_F32_TOL, INTEGRATE_POS_F64_TOL


NWORLD = 8
DT = 0.01

# Free + ball + hinge + slide, with several joints in one body and types in mixed
# order so qpos and dof addresses differ and are not in lockstep.
MJCF = """
<mujoco>
  <worldbody>
  <body name="torso" pos="0 0 1">
      <freejoint/>
      <geom type="sphere" size="0.1"/>
      <body name="upper_arm" pos="0.2 0 0">
    <joint name="shoulder" type="ball"/>
    <geom type="capsule" size="0.04" fromto="0 0 0 0.3 0 0"/>
    <body name="forearm" pos="0.3 0 0">
          <joint name="elbow" type="hinge" axis="0 1 0"/>
          <joint name="extend" type="slide" axis="1 0 0"/>
          <geom type="capsule" size="0.03" fromto="0 0 0 0.25 0 0"/>
    </body>
      </body>
  </body>
  <body name="cart" pos="1 0 0.5">
      <joint name="rail" type="slide" axis="0 1 0"/>
      <joint name="swivel" type="hinge" axis="0 0 1"/>
      <geom type="box" size="0.1 0.1 0.1"/>
      <body name="head" pos="0 0 0.2">
    <joint name="neck" type="ball"/>
    <geom type="sphere" size="0.05" pos="0 0 0.1"/>
      </body>
  </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def model():
  m = mujoco.MjModel.from_xml_string(MJCF)
  types = set(m.jnt_type.tolist())
  assert types == {
    mujoco.mjtJoint.mjJNT_FREE,
    mujoco.mjtJoint.mjJNT_BALL,
    mujoco.mjtJoint.mjJNT_SLIDE,
    mujoco.mjtJoint.mjJNT_HINGE,
  }
  return m


def _quat_slices(m):
  for j in range(m.njnt):
    adr = m.jnt_qposadr[j]
    if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
      yield slice(adr + 3, adr + 7)
    elif m.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
      yield slice(adr, adr + 4)


def _random_state(m, nworld, seed=0):
  rng = np.random.default_rng(seed)
  qpos = rng.uniform(-1.0, 1.0, size=(nworld, m.nq))
  for s in _quat_slices(m):
    qpos[:, s] /= np.linalg.norm(qpos[:, s], axis=1, keepdims=True)
  qvel = rng.normal(scale=3.0, size=(nworld, m.nv))
  # World 0 at rest: exercises the zero-angle branch of the quaternion update.
  qvel[0] = 0.0
  # World 1 spinning fast: several radians per step.
  qvel[1] *= 100.0
  return qpos, qvel


def _mujoco_integrate(m, qpos, qvel, dt):
  expected = qpos.copy()
  for w in range(qpos.shape[0]):
    mujoco.mj_integratePos(m, expected[w], qvel[w].copy(), dt)
  return expected


def _tables(m):
  return m.jnt_type, m.jnt_qposadr, m.jnt_dofadr


@pytest.mark.parametrize("dtype,tol", [(np.float32, INTEGRATE_POS_F32_TOL), (np.float64, INTEGRATE_POS_F64_TOL)])
@pytest.mark.parametrize("num_threads", [0, 1, 3])
def test_integrate_pos_matches_mujoco(model, dtype, tol, num_threads):
  qpos64, qvel64 = _random_state(model, NWORLD)
  qpos = qpos64.astype(dtype)
  qvel = qvel64.astype(dtype)
  # The oracle starts from the same (rounded) inputs the kernel sees.
  expected = _mujoco_integrate(model, qpos.astype(np.float64), qvel.astype(np.float64), DT)
  assert np.abs(expected[1:] - qpos[1:]).max() > 1e-3, "test state must actually move"

  native.integrate_pos(*_tables(model), qpos, qvel, DT, num_threads=num_threads)

  np.testing.assert_allclose(qpos, expected, rtol=0.0, atol=tol)


def test_integrate_pos_torch_cpu_in_place(model):
  torch = pytest.importorskip("torch")
  qpos64, qvel64 = _random_state(model, NWORLD, seed=1)
  qpos32, qvel32 = qpos64.astype(np.float32), qvel64.astype(np.float32)
  expected = _mujoco_integrate(model, qpos32.astype(np.float64), qvel32.astype(np.float64), DT)
  qpos = torch.from_numpy(qpos32.copy())
  qvel = torch.from_numpy(qvel32.copy())
  storage = qpos.data_ptr()

  native.integrate_pos(*(torch.from_numpy(t.copy()) for t in _tables(model)), qpos, qvel, DT)

  assert qpos.data_ptr() == storage
  np.testing.assert_allclose(qpos.numpy(), expected, rtol=0.0, atol=INTEGRATE_POS_F32_TOL)


def _valid_args(m, nworld=2, dtype=np.float32):
  qpos, qvel = _random_state(m, nworld)
  return {
    "jnt_type": m.jnt_type.astype(np.int32),
    "jnt_qposadr": m.jnt_qposadr.astype(np.int32),
    "jnt_dofadr": m.jnt_dofadr.astype(np.int32),
    "qpos": qpos.astype(dtype),
    "qvel": qvel.astype(dtype),
    "dt": DT,
  }


def _bad_cases(m):
  nq, nv = m.nq, m.nv
  bad_type = m.jnt_type.astype(np.int32)
  bad_type[2] = 7
  bad_qposadr = m.jnt_qposadr.astype(np.int32)
  bad_qposadr[-1] = nq - 1  # a ball joint needs 4 coordinates
  bad_dofadr = m.jnt_dofadr.astype(np.int32)
  bad_dofadr[0] = -1
  cases = [
    ("qpos", np.zeros((2, nq), np.int32), "qpos must have dtype float32"),
    ("qvel", np.zeros((2, nv), np.float64), "qvel must have the same dtype as qpos"),
    ("qpos", np.zeros((nq,), np.float32), r"qpos must have shape \(nworld, nq\)"),
    ("qvel", np.zeros((3, nv), np.float32), r"qvel must have shape \(nworld, nv\)"),
    ("qpos", np.zeros((2, 2 * nq), np.float32)[:, ::2], "qpos must be C-contiguous"),
    ("qpos", [[0.0] * nq] * 2, "qpos must be a numpy.ndarray"),
    ("jnt_qposadr", np.zeros(m.njnt + 1, np.int32), r"jnt_qposadr must have shape \(njnt,\)"),
    ("jnt_type", np.zeros(m.njnt, np.float32), "jnt_type must hold integers"),
    ("jnt_type", bad_type, r"jnt_type\[2\] = 7 is not a joint type"),
    ("jnt_qposadr", bad_qposadr, r"jnt_qposadr\[\d+\] .* does not fit in nq"),
    ("jnt_dofadr", bad_dofadr, r"jnt_dofadr\[0\] = -1"),
  ]
  return [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize("name,value,message", _bad_cases(mujoco.MjModel.from_xml_string(MJCF)))
def test_integrate_pos_rejects_bad_arguments(model, name, value, message):
  args = _valid_args(model)
  args[name] = value
  before = args["qpos"].copy() if isinstance(args["qpos"], np.ndarray) else None
  with pytest.raises(ValueError, match=message):
    native.integrate_pos(**args)
  if before is not None and before.flags.c_contiguous:
    np.testing.assert_array_equal(args["qpos"], before)


def test_integrate_pos_rejects_read_only_qpos(model):
  args = _valid_args(model)
  args["qpos"].flags.writeable = False
  with pytest.raises(ValueError, match="qpos is updated in place and must be writeable"):
    native.integrate_pos(**args)


def test_cpu_backend_reports_openmp():
  assert native.available("cpu"), native.unavailable_reason("cpu")
  assert native.openmp_max_threads() >= 1
  assert isinstance(native.has_openmp(), bool)


def test_unavailable_reason_explains_missing_cuda():
  if native.available("cuda"):
    assert native.unavailable_reason("cuda") == ""
  else:
    assert "_native_cuda" in native.unavailable_reason("cuda") or "CUDA" in native.unavailable_reason("cuda")
  assert "unknown device" in native.unavailable_reason("tpu")


@pytest.mark.gpu
def test_integrate_pos_cuda_matches_mujoco(model):
  torch = pytest.importorskip("torch")
  if not torch.cuda.is_available():
    pytest.skip("no CUDA device visible to torch")
  if not native.available("cuda"):
    pytest.skip(native.unavailable_reason("cuda"))
  qpos64, qvel64 = _random_state(model, 1000, seed=2)
  qpos32, qvel32 = qpos64.astype(np.float32), qvel64.astype(np.float32)
  expected = _mujoco_integrate(model, qpos32.astype(np.float64), qvel32.astype(np.float64), DT)
  dev = torch.device("cuda:0")
  tables = [torch.tensor(t, dtype=torch.int32, device=dev) for t in _tables(model)]
  qpos = torch.tensor(qpos32, device=dev)
  qvel = torch.tensor(qvel32, device=dev)

  native.integrate_pos_cuda(*tables, qpos, qvel, DT)
  torch.cuda.synchronize()

  np.testing.assert_allclose(qpos.cpu().numpy(), expected, rtol=0.0, atol=INTEGRATE_POS_F32_TOL)
