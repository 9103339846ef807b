"""The two backends a stage test runs on, from one test definition.

"warp" is the Warp reference pipeline (Simulator.forward is forward.forward(m, d), step is
forward.step plus the health check); "native" is the fused C++ step (kernels/*.h through
native_backend), which computes the same quantities in the same float32 precision. A test
parametrised with BACKENDS feeds both the same state and holds both to the same named
tolerance (tests/tolerances.py) against MuJoCo C; the native case is skipped, with the
reason, where the module is not built.
"""

import warnings

import pytest

import pywarp_sim as pws
from pywarp_sim import native, pairs

BACKENDS = [
  pytest.param("warp", id="warp"),
  pytest.param("native", id="native", marks=pytest.mark.skipif(
    not native.available("cpu"), reason=f"native backend not built: {native.unavailable_reason('cpu')}")),
]


def simulator(mjm, nworld: int, backend: str, **kw) -> pws.Simulator:
  """A CPU Simulator of the MjModel on the backend ("warp" or "native"); sim.model and sim.data
  are the Model and Data a stage test reads, sim.forward() / sim.step() run the pipeline.
  Models with convex pairs warn once at load time (ConvexCollisionWarning), not per test."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", pairs.ConvexCollisionWarning)
    model = pws.put_model(mjm, "cpu")
  return pws.Simulator(model, nworld=nworld, device="cpu", backend=backend, **kw)


def data_array(sim, path: str):
  """The Data array at a dotted path of sim.data (e.g. "efc.efc_force")."""
  obj = sim.data
  for part in path.split("."):
    obj = getattr(obj, part)
  return obj


def assert_rows_equal(ours: dict, ref: dict, label: str):
  """Every array of `ref` (per-world lists of row arrays, or whole arrays) bit for bit in `ours`."""
  import numpy as np
  for k, v in ref.items():
    if isinstance(v, list):
      for w, (a, b) in enumerate(zip(ours[k], v)):
        assert a.shape == b.shape and np.array_equal(a, b), f"{label} world {w}: {k} differs from the native step"
    else:
      np.testing.assert_array_equal(ours[k], v, err_msg=f"{label}: {k}")
