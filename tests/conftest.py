import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import mujoco  # noqa: E402,F401
import pytest  # noqa: E402
import warp as wp  # noqa: E402


def pytest_collection_modifyitems(config, items):
  has_cuda = wp.is_cuda_available()
  skip = pytest.mark.skip(reason="needs a CUDA device")
  for item in items:
    if "gpu" in item.keywords and not has_cuda:
      item.add_marker(skip)


def pytest_make_parametrize_id(config, val, argname):
  """A MuJoCo enum parameter is named by its value (euler, implicitfast, rk4, newton, elliptic),
  not by pytest's argument name and index (integrator0), so a test id says what it runs."""
  if type(val).__module__ == "mujoco._enums":
    return val.name.split("_", 1)[1].lower()
  return None
