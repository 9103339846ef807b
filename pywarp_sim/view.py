"""Seeing a batch: MuJoCo's interactive viewer and offscreen renderer over many worlds at once.

  python -m pywarp_sim.view --task humanoid-walk --num-envs 16 --show 9     # zero actions
  python -m pywarp_sim.view --checkpoint runs/walk/model_1499.pt --show 4   # a trained policy

The first shown world is the viewer's own MjData (pick, perturb and inspect it as in
`python -m mujoco.viewer`); the other shown worlds are drawn beside it on a grid
(`--spacing` metres apart), their dynamic geoms added to the viewer's user scene each frame.
Every world's state comes from the Simulator (`mjdata.world_to_mjdata`: the state copied,
mj_forward run in float64 for drawing). Keys: `]` / `[` show the next / previous group of
worlds, space pauses the simulation (the viewer stays live), `R` resets the shown worlds.

`render_worlds` draws recorded states of several worlds side by side into frames for a video
(pywarp_sim.play --show N uses it), with a text overlay. What is drawn (`drawing_model`): where
the env's MJCF is known (RobotCfg.model), a model built from it with mujoco.MjSpec with a
checker floor, a skybox and a directional light (`styled_model`; its tree and kinematics are
the physics model's, checked); otherwise a copy of the compiled model with a lighter floor and
headlight (`visual_model`).

Display: the interactive viewer needs a display (GLFW). Offscreen rendering uses MUJOCO_GL
(egl on headless GPU machines, osmesa for software rendering).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import mujoco
import numpy as np

from .cli import check_device, check_file, positive_float, positive_int
from .mjdata import world_to_mjdata
from .models import load_spec


class RenderError(RuntimeError):
  """Offscreen rendering is unavailable (no OpenGL context) or the video cannot be written."""


def make_renderer(mj_model, width: int, height: int):
  """mujoco.Renderer, or RenderError explaining how to get an OpenGL context."""
  import mujoco
  backend = os.environ.get("MUJOCO_GL", "") or "glfw (default)"
  try:
    return mujoco.Renderer(mj_model, height=height, width=width)
  except ValueError:
    raise  # framebuffer size: MuJoCo's message says what to change
  except Exception as e:  # FatalError, ImportError, AttributeError from PyOpenGL, GLFW errors
    raise RenderError(
      f"could not create an OpenGL context for offscreen rendering (MUJOCO_GL={backend}): "
      f"{type(e).__name__}: {e}. On a headless machine use MUJOCO_GL=egl (needs libEGL, e.g. "
      f"apt-get install libegl1) or MUJOCO_GL=osmesa (software, apt-get install libosmesa6); "
      f"with a display use MUJOCO_GL=glfw. Or pass --video '' to roll out without rendering."
    ) from e


def grid_offsets(count: int, spacing: float) -> np.ndarray:
  """(count, 3) offsets [m] placing `count` worlds on a near-square grid in the x-y plane,
  `spacing` metres apart, the first at the origin."""
  if count < 1:
    raise ValueError(f"grid_offsets: count must be >= 1, got {count}")
  if not (spacing > 0 and math.isfinite(spacing)):
    raise ValueError(f"grid_offsets: spacing must be a positive number of metres, got {spacing}")
  cols = math.ceil(math.sqrt(count))
  i = np.arange(count)
  return np.stack([(i % cols) * spacing, -(i // cols) * spacing, np.zeros(count)], axis=-1)


def visual_model(mj_model: mujoco.MjModel) -> mujoco.MjModel:
  """A copy of `mj_model` for drawing only: planes a light grey, body geoms left at MuJoCo's
  default grey (no material) an orange that stands out from the floor, a brighter headlight,
  and the offscreen buffer at least 1280x720. Physics fields are untouched (the copy is never
  stepped), so a state of `mj_model` draws the same on it. The fallback of drawing_model when
  the MJCF is not known (a compiled model cannot gain a texture)."""
  m = mj_model.__copy__()
  planes = m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE
  m.geom_rgba[planes] = (0.86, 0.88, 0.90, 1.0)
  m.geom_matid[planes] = -1  # a dark material would override the colour
  _brighten(m, headlight=(0.35, 0.6))
  return m


def _brighten(m: mujoco.MjModel, headlight: tuple):
  """Body geoms at MuJoCo's default grey (no material) orange; the headlight's (ambient,
  diffuse) grey levels; the offscreen buffer at least 1280x720."""
  planes = m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE
  default_grey = (m.geom_matid < 0) & np.all(np.isclose(m.geom_rgba, (0.5, 0.5, 0.5, 1.0)), axis=1)
  m.geom_rgba[default_grey & ~planes] = (0.90, 0.55, 0.25, 1.0)
  m.vis.headlight.ambient[:] = headlight[0]
  m.vis.headlight.diffuse[:] = headlight[1]
  m.vis.global_.offwidth = max(m.vis.global_.offwidth, 1280)
  m.vis.global_.offheight = max(m.vis.global_.offheight, 720)


# Fields that place bodies, joints, geoms and sites: copied from the physics model into the
# styled drawing model, so that a state draws exactly where the Simulator has it even when the
# model was changed after compiling its MJCF.
KINEMATIC_FIELDS = ("qpos0", "body_pos", "body_quat", "body_ipos", "body_iquat", "jnt_pos", "jnt_axis",
                    "geom_pos", "geom_quat", "geom_size", "site_pos", "site_quat", "site_size")
# What must agree for a state of the physics model to be a state of the drawing model.
TREE_FIELDS = ("body_parentid", "body_jntadr", "body_jntnum", "jnt_type", "jnt_qposadr", "jnt_dofadr",
               "geom_bodyid", "geom_type", "site_bodyid")
FLOOR_MATERIAL = "pws_floor"   # names of what styled_model adds (a model's own keep theirs)
SKYBOX_TEXTURE = "pws_skybox"
SUN_LIGHT = "pws_sun"


def check_same_tree(drawing: mujoco.MjModel, physics: mujoco.MjModel):
  """Raises ValueError naming the first difference when a state (qpos) of `physics` is not a
  state of `drawing`: sizes nq, nv, nbody, njnt, ngeom, nsite, the body names in order, or
  the tree's structure (TREE_FIELDS)."""
  for n in ("nq", "nv", "nbody", "njnt", "ngeom", "nsite"):
    if getattr(drawing, n) != getattr(physics, n):
      raise ValueError(f"the drawing model has {n}={getattr(drawing, n)}, the physics model "
                       f"{getattr(physics, n)}: the MJCF is not the one the physics model was built from")
  names = [physics.body(b).name for b in range(physics.nbody)]
  drawn = [drawing.body(b).name for b in range(drawing.nbody)]
  if names != drawn:
    k = next(i for i, (a, b) in enumerate(zip(names, drawn)) if a != b)
    raise ValueError(f"body {k} is '{drawn[k]}' in the drawing model and '{names[k]}' in the physics model")
  for f in TREE_FIELDS:
    if not np.array_equal(getattr(drawing, f), getattr(physics, f)):
      raise ValueError(f"the drawing model's {f} differs from the physics model's")


def styled_model(mjcf, mj_model: mujoco.MjModel) -> mujoco.MjModel:
  """The model videos and the viewer draw, built from the MJCF with mujoco.MjSpec: planes get a
  checker texture and material (a plane whose material already has a texture keeps it), the
  scene a gradient skybox and a directional light (unless it has a skybox / a
  directional light of its own), body geoms and headlight as visual_model's. `mj_model` is the
  physics model compiled from `mjcf`: the result has its tree (check_same_tree, else
  ValueError) and its KINEMATIC_FIELDS, so a state of mj_model draws exactly as it is."""
  spec = load_spec(mjcf)
  textured = {m.name for m in spec.materials if m.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB]}
  checker = spec.add_texture(name=FLOOR_MATERIAL, type=mujoco.mjtTexture.mjTEXTURE_2D,
                             builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, mark=mujoco.mjtMark.mjMARK_EDGE,
                             rgb1=(0.20, 0.30, 0.40), rgb2=(0.10, 0.20, 0.30), markrgb=(0.8, 0.8, 0.8),
                             width=300, height=300)
  floor = spec.add_material(name=FLOOR_MATERIAL, texrepeat=(1.0, 1.0), texuniform=True, reflectance=0.2)
  floor.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = checker.name  # 0.5 m squares: the 2x2 checker once per metre
  for g in spec.geoms:
    if g.type == mujoco.mjtGeom.mjGEOM_PLANE and g.material not in textured:
      g.material, g.rgba = FLOOR_MATERIAL, (1.0, 1.0, 1.0, 1.0)
  if not any(t.type == mujoco.mjtTexture.mjTEXTURE_SKYBOX for t in spec.textures):
    spec.add_texture(name=SKYBOX_TEXTURE, type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=(0.3, 0.5, 0.7), rgb2=(0.0, 0.0, 0.0),
                     width=512, height=3072)
  if not any(lt.type == mujoco.mjtLightType.mjLIGHT_DIRECTIONAL for lt in spec.lights):
    # no shadow: a directional light's shadow map covers the model's extent only, so on a grid
    # of worlds some robots would cast shadows and others not (and its edge speckles)
    spec.worldbody.add_light(name=SUN_LIGHT, type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=(0.0, 0.0, 5.0),
                             dir=(0.3, 0.2, -1.0), diffuse=(0.6, 0.6, 0.6), specular=(0.2, 0.2, 0.2),
                             castshadow=False)
  m = spec.compile()
  check_same_tree(m, mj_model)
  for f in KINEMATIC_FIELDS:
    getattr(m, f)[:] = getattr(mj_model, f)
  _brighten(m, headlight=(0.25, 0.4))  # less headlight: the sun lights the scene
  return m


def drawing_model(mj_model: mujoco.MjModel, mjcf=None) -> mujoco.MjModel:
  """styled_model(mjcf, mj_model) when the MJCF is known, else (or, with a warning, when the
  MJCF cannot be styled: not found, or not the physics model's tree) visual_model(mj_model)."""
  if mjcf is None:
    return visual_model(mj_model)
  try:
    return styled_model(mjcf, mj_model)
  except (ValueError, FileNotFoundError) as e:
    import warnings
    warnings.warn(f"drawing without the checker floor and lights: {e}", stacklevel=2)
    return visual_model(mj_model)


def env_mjcf(env):
  """The MJCF an env's robot was built from (RobotCfg.model), or None when not known."""
  return getattr(getattr(env, "robot", None), "model", None)


def add_world_geoms(scene: mujoco.MjvScene, mj_model: mujoco.MjModel, mjd: mujoco.MjData,
                    offset, opt: mujoco.MjvOption | None = None) -> int:
  """Appends the dynamic geoms and sites (of bodies, not the static floor) of the state `mjd` to `scene`,
  shifted by `offset` (3,) metres. Returns how many geoms were added.

  Raises ValueError naming the capacity when `scene` cannot hold them (MjvScene's maxgeom:
  show fewer worlds or make the scene larger)."""
  need = int(mj_model.ngeom + mj_model.nsite)  # upper bound of what mjv adds
  if scene.ngeom + need > scene.maxgeom:
    raise ValueError(f"add_world_geoms: the scene holds {scene.maxgeom} geoms and has "
                     f"{scene.ngeom}; one more world needs up to {need}. Show fewer worlds "
                     f"(--show) or build the scene with a larger maxgeom")
  start = scene.ngeom
  mujoco.mjv_addGeoms(mj_model, mjd, opt or mujoco.MjvOption(), mujoco.MjvPerturb(),
                      mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
  off = np.asarray(offset, dtype=np.float64).reshape(3)
  for i in range(start, scene.ngeom):
    scene.geoms[i].pos[:] += off
  return scene.ngeom - start


def root_position(mj_model: mujoco.MjModel, mjd: mujoco.MjData) -> np.ndarray:
  """World position [m] of the first body below the world body (the robot's root)."""
  return np.array(mjd.xpos[1] if mj_model.nbody > 1 else mjd.xpos[0])


def overlay(frame: np.ndarray, lines: list[str]) -> np.ndarray:
  """`frame` (H, W, 3) uint8 with `lines` of text drawn at the top left on a dark band."""
  from PIL import Image, ImageDraw
  img = Image.fromarray(frame)
  draw = ImageDraw.Draw(img)
  h = 14 * len(lines) + 8
  draw.rectangle([0, 0, img.width, h], fill=(0, 0, 0))
  for k, text in enumerate(lines):
    draw.text((6, 4 + 14 * k), text, fill=(255, 255, 255))
  return np.asarray(img)


def render_worlds(mj_model: mujoco.MjModel, qpos: np.ndarray, width: int = 640, height: int = 480,
                  spacing: float = 2.0, captions: list[str] | None = None, mjcf=None,
                  draw_model: mujoco.MjModel | None = None) -> list[np.ndarray]:
  """RGB frames (height, width, 3) uint8 of recorded states of several worlds side by side.

  qpos: (T, W, nq) positions of W worlds over T frames (or (T, nq): one world). The camera
  follows the mean root position of the shown worlds, its distance growing with the grid.
  captions: the overlay of each frame, lines separated by newlines (None: no overlay).
  The model drawn: draw_model when given, else drawing_model(mj_model, mjcf) (a checker
  floor, skybox and sun when the MJCF is known)."""
  qpos = np.asarray(qpos, dtype=np.float64)
  if qpos.ndim == 2:
    qpos = qpos[:, None, :]
  if qpos.ndim != 3 or qpos.shape[2] != mj_model.nq:
    raise ValueError(f"render_worlds: qpos must be (T, W, nq={mj_model.nq}), got {qpos.shape}")
  if captions is not None and len(captions) != len(qpos):
    raise ValueError(f"render_worlds: {len(captions)} captions for {len(qpos)} frames")
  nshow = qpos.shape[1]
  vis = draw_model if draw_model is not None else drawing_model(mj_model, mjcf)
  offsets = grid_offsets(nshow, spacing)
  renderer = make_renderer(vis, width, height)
  datas = [mujoco.MjData(vis) for _ in range(nshow)]
  cam = mujoco.MjvCamera()
  cam.type = mujoco.mjtCamera.mjCAMERA_FREE
  extent = float(np.ptp(offsets[:, :2], axis=0).max()) if nshow > 1 else 0.0
  cam.distance, cam.elevation, cam.azimuth = 4.0 + 0.9 * extent, -20.0, 135.0
  frames = []
  try:
    for t in range(len(qpos)):
      roots = []
      for w, d in enumerate(datas):
        d.qpos[:] = qpos[t, w]
        mujoco.mj_forward(vis, d)
        roots.append(root_position(vis, d) + offsets[w])
      cam.lookat[:] = np.mean(roots, axis=0)
      renderer.update_scene(datas[0], camera=cam)
      for w in range(1, nshow):  # the first world is drawn where it is (offset 0)
        add_world_geoms(renderer.scene, vis, datas[w], offsets[w])
      frame = renderer.render().copy()
      frames.append(overlay(frame, captions[t].split("\n")) if captions is not None else frame)
  finally:
    renderer.close()
  return frames


class ViewerLoop:
  """Steps an env with a policy and shows a group of its worlds in a (passive) MuJoCo viewer.

  env: a pywarp_sim env (num_envs worlds; `env.sim` the Simulator); policy: obs -> actions
  (None: zero actions); show: worlds drawn at once; spacing: grid spacing [m]. `frame()`
  advances one env step (unless paused) and draws; the viewer handle needs `user_scn`,
  `lock()` and `sync()` (mujoco.viewer's Handle)."""

  def __init__(self, env, policy=None, show: int = 4, spacing: float = 2.0):
    n = env.num_envs
    if not (isinstance(show, int) and 1 <= show):
      raise ValueError(f"ViewerLoop: show must be a positive int, got {show!r}")
    self.env, self.policy = env, policy
    self.show = min(show, n)
    self.first = 0  # the first shown world
    self.paused = False
    self.model = drawing_model(env.sim.model.mj_model, env_mjcf(env))
    self.offsets = grid_offsets(self.show, spacing)
    self.data = mujoco.MjData(self.model)  # the viewer's own (first shown world)
    self._others = [mujoco.MjData(self.model) for _ in range(self.show - 1)]
    self.obs = env.reset()
    self.steps = 0

  @property
  def worlds(self) -> list[int]:
    """The shown worlds, the first one the viewer's own MjData."""
    return [(self.first + k) % self.env.num_envs for k in range(self.show)]

  def key(self, keycode: int):
    """mujoco.viewer key callback: ] / [ next / previous group, space pause, R reset shown."""
    n = self.env.num_envs
    if keycode == ord("]"):
      self.first = (self.first + self.show) % n
    elif keycode == ord("["):
      self.first = (self.first - self.show) % n
    elif keycode == ord(" "):
      self.paused = not self.paused
    elif keycode == ord("R"):
      import torch
      mask = torch.zeros(n, dtype=torch.bool, device=self.env.sim.qpos.device)
      mask[self.worlds] = True
      self.env.sim.reset(mask)

  def advance(self):
    """One env step with the policy's actions (zeros without a policy)."""
    import torch
    with torch.no_grad():
      if self.policy is None:
        actions = torch.zeros((self.env.num_envs, self.env.num_actions), device=self.env.sim.qpos.device)
      else:
        actions = self.policy(self.obs)
      self.obs, _, _, _ = self.env.step(actions)
    self.steps += 1

  def draw(self, viewer):
    """Copies the shown worlds from the Simulator into the viewer (its MjData and user scene)."""
    shown = self.worlds
    sim = self.env.sim
    with viewer.lock():
      world_to_mjdata(sim, shown[0], self.data)
      scene = viewer.user_scn
      scene.ngeom = 0
      for k, w in enumerate(shown[1:], start=1):
        world_to_mjdata(sim, w, self._others[k - 1])
        add_world_geoms(scene, self.model, self._others[k - 1], self.offsets[k])
    viewer.sync()

  def frame(self, viewer):
    if not self.paused:
      self.advance()
    self.draw(viewer)


def run(env, policy=None, show: int = 4, spacing: float = 2.0, max_steps: int | None = None,
        realtime: bool = True) -> int:
  """Opens MuJoCo's passive viewer on `env` and runs until the window closes (or max_steps
  env steps). Returns the env steps taken. Needs a display."""
  import mujoco.viewer
  loop = ViewerLoop(env, policy, show, spacing)
  with mujoco.viewer.launch_passive(loop.model, loop.data, key_callback=loop.key) as viewer:
    while viewer.is_running() and (max_steps is None or loop.steps < max_steps):
      t0 = time.perf_counter()
      loop.frame(viewer)
      if realtime:
        time.sleep(max(0.0, env.dt - (time.perf_counter() - t0)))
  return loop.steps


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m pywarp_sim.view", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--task", default=None, help="registered task or module:Factory "
                 "(default: the checkpoint's, else humanoid-walk)")
  p.add_argument("--checkpoint", default=None, help="rsl-rl policy checkpoint (default: zero actions)")
  p.add_argument("--num-envs", type=positive_int, default=16)
  p.add_argument("--show", type=positive_int, default=4, help="worlds drawn at once")
  p.add_argument("--spacing", type=positive_float, default=2.0, help="grid spacing [m]")
  p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
  p.add_argument("--max-steps", type=positive_int, default=None)
  return p


def main(argv=None):
  p = build_parser()
  a = p.parse_args(argv)
  if a.checkpoint is not None:
    check_file(p, a.checkpoint, "--checkpoint")
  check_device(p, a.device)
  from . import envs
  from .train import load_policy, load_train_config
  saved = load_train_config(a.checkpoint) if a.checkpoint else {}
  task = a.task or saved.get("task") or "humanoid-walk"
  env = envs.make(task, a.num_envs, a.device, **dict(saved.get("env") or {}))
  policy = load_policy(a.checkpoint, env, saved.get("runner")) if a.checkpoint else None
  try:
    run(env, policy, a.show, a.spacing, a.max_steps)
  except Exception as e:  # no display: GLFW cannot open a window
    if "display" in str(e).lower() or "glfw" in str(e).lower():
      print(f"pywarp_sim.view: cannot open a window ({type(e).__name__}: {e}); the viewer needs "
            f"a display. Headless: record a video with python -m pywarp_sim.play --video x.mp4 "
            f"--show N", file=sys.stderr)
      sys.exit(2)
    raise


if __name__ == "__main__":
  main()
