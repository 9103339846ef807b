"""The dependency lock and the MuJoCo oracle: the checks CI and `import pywarp_sim` run."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import warnings

import mujoco
import pytest

from pywarp_sim import versions
from pywarp_sim.errors import MujocoVersionWarning

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCKS = sorted((ROOT / "requirements").glob("*.txt"))


def _check_lock():
  spec = importlib.util.spec_from_file_location("check_lock", ROOT / ".ci" / "check_lock.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def test_installed_mujoco_is_the_oracle():
  """The suite runs against the pinned MuJoCo (the lock installs it)."""
  assert versions.mujoco_oracle() is not None, "pyproject.toml must pin mujoco==X.Y.Z"
  assert mujoco.__version__ == versions.mujoco_oracle()


def test_other_mujoco_warns_once_naming_both_versions():
  oracle = versions.mujoco_oracle()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert versions.check_mujoco(oracle) is None
    msg = versions.check_mujoco("4.0.1")
  assert len(caught) == 1 and caught[0].category is MujocoVersionWarning
  assert f"MuJoCo {oracle}" in msg and "MuJoCo 4.0.1" in msg and "cylinder" in msg
  with pytest.warns(MujocoVersionWarning, match="9.9.9.*may differ"):
    versions.check_mujoco("9.9.9")


@pytest.mark.parametrize("lock", LOCKS, ids=[p.name for p in LOCKS])
def test_locks_pin_every_requirement_of_pyproject(lock):
  cl = _check_lock()
  pins = cl.read_lock(lock)
  assert cl.check_pyproject(lock, pins) == []
  assert pins["mujoco"] == versions.mujoco_oracle()
  assert "torch" in pins and "warp-lang" in pins and "uv" in pins


def test_lock_mismatch_names_the_package(tmp_path):
  cl = _check_lock()
  text = (ROOT / "requirements" / "cpu-py311.txt").read_text()
  oracle = versions.mujoco_oracle()
  stale = tmp_path / "stale.txt"
  stale.write_text(text.replace(f"mujoco=={oracle}\n", "mujoco==3.3.0\n").replace(
    "numpy==", "numpy-removed=="))
  problems = cl.check_pyproject(stale, cl.read_lock(stale))
  assert any(p.startswith("mujoco:") and "3.3.0" in p and "make lock" in p for p in problems)
  assert any(p.startswith("numpy:") and "does not pin" in p for p in problems)
  # the running environment against a lock with another version of an installed package
  bad = tmp_path / "venv.txt"
  bad.write_text(f"mujoco==0.0.1\n")
  problems = cl.check_venv(bad, cl.read_lock(bad))
  assert any(p.startswith(f"mujoco: installed {mujoco.__version__}") and "0.0.1" in p
             for p in problems)
  loose = tmp_path / "loose.txt"
  loose.write_text("numpy>=1\n")
  with pytest.raises(SystemExit, match="not an exact pin"):
    cl.read_lock(loose)


def _python(code: str) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != "PWS_WARP_VERBOSE"}
  return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                        timeout=300, check=True)


@pytest.mark.skipif(versions.cuda_driver_loads(), reason="Warp finds a CUDA driver here: it has no "
                    "missing-driver warning to print")
def test_import_without_a_cuda_driver_is_quiet_about_cuda():
  """Importing pywarp_sim initialises Warp; on a machine without the NVIDIA driver, Warp's
  native 'Could not find or load the NVIDIA CUDA driver' line is not printed, and Warp still
  runs on the CPU."""
  out = _python("import pywarp_sim, warp; print(warp.is_cuda_available(), warp.get_device())")
  assert "CUDA" not in out.stderr, out.stderr
  assert out.stdout.split() == ["False", "cpu"]


def test_other_output_of_warp_init_still_reaches_stderr():
  """Only that one line is dropped: anything else written to file descriptor 2 while Warp
  initialises (here a stand-in native message before Warp's own init) comes through."""
  out = _python("import os, warp\n"
                "init = warp.init\n"
                "def noisy_init():\n"
                "  os.write(2, b'native message during init\\n')\n"
                "  init()\n"
                "warp.init = noisy_init\n"
                "import pywarp_sim\n")
  assert "native message during init\n" in out.stderr
  assert "Could not find or load the NVIDIA CUDA driver" not in out.stderr
