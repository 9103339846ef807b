"""Bundled MJCF models, loadable by name: `pws.load_model("humanoid")`."""

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
