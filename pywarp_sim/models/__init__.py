"""Bundled MJCF models, loadable by name: `pws.load_model("humanoid")`."""

import os
import pathlib

import mujoco

DIR = pathlib.Path(__file__).parent
BUILTIN = {"humanoid": DIR / "humanoid.xml"}


def path(name: str) -> str:
  if name not in BUILTIN:
    raise KeyError(f"no bundled model '{name}'; bundled: {sorted(BUILTIN)}")
  return str(BUILTIN[name])


def mj_model(name: str) -> mujoco.MjModel:
  return mujoco.MjModel.from_xml_path(path(name))


def load_spec(mjcf) -> mujoco.MjSpec:
  """mujoco.MjSpec of a bundled model name ("humanoid"), an MJCF path (str or os.PathLike) or an
  MJCF XML string (what Simulator and RobotCfg.model take). TypeError names a wrong type,
  FileNotFoundError a missing path."""
  if isinstance(mjcf, os.PathLike):
    mjcf = os.fspath(mjcf)
  if not isinstance(mjcf, str):
    raise TypeError(f"load_spec: expected a bundled model name, an MJCF path or an XML string, "
                    f"got {type(mjcf).__name__}")
  if mjcf in BUILTIN:
    return mujoco.MjSpec.from_file(path(mjcf))
  if mjcf.lstrip().startswith("<"):
    return mujoco.MjSpec.from_string(mjcf)
  if not os.path.isfile(mjcf):
    raise FileNotFoundError(f"load_spec: no MJCF file '{mjcf}' (pass a bundled name such as "
                            f"'humanoid', a path or an MJCF string)")
  return mujoco.MjSpec.from_file(mjcf)
