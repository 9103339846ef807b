import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
import warp as wp  # noqa: E402


def pytest_collection_modifyitems(config, items):
  has_cuda = wp.is_cuda_available()
  skip = pytest.mark.skip(reason="needs a CUDA device")
  for item in items:
    if "gpu" in item.keywords and not has_cuda:
      item.add_marker(skip)
