"""pywarp_sim.view: several worlds drawn at once (viewer loop with a stand-in viewer handle,
offscreen frames when an OpenGL context is available)."""

import contextlib
import os

import mujoco
import numpy as np
import pytest
import torch

from pywarp_sim import envs, view
from pywarp_sim.mjdata import world_to_mjdata
from tolerances import FLOAT32_ROUNDING_TOL


class FakeViewer:
  """What ViewerLoop uses of mujoco.viewer's Handle: a user scene, lock() and sync()."""

  def __init__(self, model):
    self.user_scn = mujoco.MjvScene(model, maxgeom=2000)
    self.syncs = 0

  def lock(self):
    return contextlib.nullcontext()

  def sync(self):
    self.syncs += 1


@pytest.fixture(scope="module")
def env():
  return envs.make("humanoid-stand", 6, "cpu")


def test_grid_offsets_spacing_and_errors():
  off = view.grid_offsets(5, 2.0)
  assert off.shape == (5, 3)
  np.testing.assert_array_equal(off[0], 0.0)
  d = np.linalg.norm(off[:, None, :] - off[None, :, :], axis=-1)
  assert d[~np.eye(5, dtype=bool)].min() == pytest.approx(2.0)
  with pytest.raises(ValueError, match="count"):
    view.grid_offsets(0, 1.0)
  with pytest.raises(ValueError, match="spacing"):
    view.grid_offsets(3, float("nan"))


def test_viewer_loop_draws_each_shown_world_at_its_offset(env):
  loop = view.ViewerLoop(env, policy=None, show=4, spacing=3.0)
  viewer = FakeViewer(loop.model)
  torch.manual_seed(0)
  env.sim.qpos[:, 0] += torch.arange(env.num_envs, dtype=env.sim.qpos.dtype)[:, None].squeeze(1) * 0.01
  for _ in range(3):
    loop.frame(viewer)
  assert loop.steps == 3 and viewer.syncs == 3
  shown = loop.worlds
  assert shown == [0, 1, 2, 3]
  # the viewer's own MjData is world 0's state
  ref0 = world_to_mjdata(env.sim, 0)
  np.testing.assert_array_equal(loop.data.qpos, ref0.qpos)
  # every other shown world's dynamic geoms, shifted by its grid offset
  scn = viewer.user_scn
  ndyn = scn.ngeom // 3
  m = env.sim.model.mj_model
  assert ndyn >= int(np.count_nonzero(m.geom_bodyid > 0)) and scn.ngeom == 3 * ndyn
  for k, w in enumerate(shown[1:], start=1):
    ref = world_to_mjdata(env.sim, w)
    for i in range(ndyn):
      g = scn.geoms[(k - 1) * ndyn + i]
      src = {mujoco.mjtObj.mjOBJ_GEOM: ref.geom_xpos, mujoco.mjtObj.mjOBJ_SITE: ref.site_xpos}[g.objtype]
      np.testing.assert_allclose(g.pos, src[g.objid] + loop.offsets[k], atol=FLOAT32_ROUNDING_TOL)


def test_viewer_keys_page_pause_and_reset(env):
  loop = view.ViewerLoop(env, show=4)
  loop.key(ord("]"))
  assert loop.worlds == [4, 5, 0, 1]  # wraps over the 6 worlds
  loop.key(ord("["))
  assert loop.worlds == [0, 1, 2, 3]
  viewer = FakeViewer(loop.model)
  loop.key(ord(" "))
  loop.frame(viewer)
  assert loop.steps == 0 and viewer.syncs == 1  # paused: drawn, not stepped
  loop.key(ord(" "))
  loop.frame(viewer)
  assert loop.steps == 1
  before = env.sim.qpos.clone()
  env.sim.qvel[:] = 0.3
  loop.key(ord("R"))
  qpos0 = torch.as_tensor(env.sim.model.mj_model.qpos0, dtype=before.dtype)
  np.testing.assert_array_equal(env.sim.qpos[:4].numpy(), np.broadcast_to(qpos0.numpy(), (4, qpos0.numel())))
  assert torch.equal(env.sim.qpos[4:], before[4:])  # worlds not shown are untouched


def test_scene_capacity_is_named():
  m = mujoco.MjModel.from_xml_path(os.path.join(os.path.dirname(envs.__file__), "..", "models", "humanoid.xml"))
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  scn = mujoco.MjvScene(m, maxgeom=5)
  with pytest.raises(ValueError, match="maxgeom"):
    view.add_world_geoms(scn, m, d, (0, 0, 0))


def test_visual_model_changes_drawing_only():
  m = mujoco.MjModel.from_xml_path(os.path.join(os.path.dirname(envs.__file__), "..", "models", "humanoid.xml"))
  v = view.visual_model(m)
  for name in ("body_mass", "geom_size", "geom_friction", "dof_damping", "actuator_gainprm"):
    np.testing.assert_array_equal(getattr(v, name), getattr(m, name))
  d1, d2 = mujoco.MjData(m), mujoco.MjData(v)
  d1.ctrl[:] = d2.ctrl[:] = 0.2
  for _ in range(20):
    mujoco.mj_step(m, d1)
    mujoco.mj_step(v, d2)
  np.testing.assert_array_equal(d1.qpos, d2.qpos)


def test_render_worlds_side_by_side(env):
  m = env.sim.model.mj_model
  try:
    renderer = mujoco.Renderer(m, 32, 32)
    renderer.close()
  except Exception as e:  # no OpenGL context on this machine
    pytest.skip(f"offscreen rendering unavailable: {e}")
  q = np.repeat(m.qpos0[None, None, :], 2, axis=0).repeat(3, axis=1)
  one = view.render_worlds(m, q[:, :1], 96, 64)
  three = view.render_worlds(m, q, 96, 64, captions=["a", "b"])
  assert len(three) == 2 and three[0].shape == (64, 96, 3) and three[0].dtype == np.uint8
  assert not np.array_equal(one[0], three[0])  # more robots (and the overlay) drawn
  styled = view.render_worlds(m, q[:, :1], 96, 64, mjcf="humanoid", captions=["line 1\nline 2"] * 2)
  assert styled[0].shape == (64, 96, 3) and not np.array_equal(styled[0], one[0])  # checker floor, sky
  with pytest.raises(ValueError, match="nq"):
    view.render_worlds(m, np.zeros((2, 3, m.nq + 1)))


def test_play_show_is_checked_against_num_envs(tmp_path, capsys):
  from pywarp_sim import play
  ckpt = tmp_path / "model_0.pt"
  ckpt.write_bytes(b"")
  with pytest.raises(SystemExit) as e:
    play.parse_args(["--checkpoint", str(ckpt), "--num-envs", "2", "--show", "3"])
  assert e.value.code == 2
  assert "--show 3" in capsys.readouterr().err


def test_rollout_records_the_shown_worlds(env):
  from pywarp_sim import play
  stats = play.rollout(env, lambda obs: torch.zeros((env.num_envs, env.num_actions)), steps=3, show=2)
  assert stats["qpos_shown"].shape == (3, 2, env.sim.model.nq)
  np.testing.assert_array_equal(stats["qpos_shown"][:, 0], stats["qpos"])
  np.testing.assert_array_equal(stats["qpos_shown"][-1, 1], env.sim.qpos[1].numpy())
  assert stats["step_reward"].shape == (3,)
  with pytest.raises(ValueError, match="show=7"):
    play.rollout(env, lambda obs: torch.zeros((env.num_envs, env.num_actions)), steps=1, show=7)


def _random_state(m, seed=0):
  """qpos of `m` with every joint at a random value (unit quaternions for free and ball joints)."""
  rng = np.random.default_rng(seed)
  q = m.qpos0 + rng.uniform(-0.5, 0.5, m.nq)
  for j in range(m.njnt):
    a = m.jnt_qposadr[j]
    if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
      q[a + 3:a + 7] /= np.linalg.norm(q[a + 3:a + 7])
    elif m.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
      q[a:a + 4] /= np.linalg.norm(q[a:a + 4])
  return q


QUADRUPED_XML = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "quadruped.xml")


@pytest.mark.parametrize("mjcf", ["humanoid", QUADRUPED_XML])
def test_styled_model_adds_floor_sky_and_light_and_draws_the_physics_state(mjcf):
  """The MjSpec-built drawing model: a checker material on the floor, a skybox and a
  directional light; the physics model's tree, and the same kinematics of a random state
  (bodies, geoms, sites), also after the physics model's kinematic parameters were changed."""
  from pywarp_sim import models
  m = models.mj_model(mjcf) if mjcf == "humanoid" else mujoco.MjModel.from_xml_path(mjcf)
  m.body_pos[2] += (0.01, -0.02, 0.03)  # a change after compiling (as a script may make)
  v = view.styled_model(mjcf, m)
  for n in ("nq", "nv", "nbody", "njnt", "ngeom", "nsite"):
    assert getattr(v, n) == getattr(m, n), n
  assert [v.body(b).name for b in range(v.nbody)] == [m.body(b).name for b in range(m.nbody)]
  planes = np.flatnonzero(m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE)
  assert planes.size >= 1
  for g in planes:
    mat = v.geom_matid[g]
    assert v.material(mat).name == view.FLOOR_MATERIAL
    tex = v.mat_texid[mat, mujoco.mjtTextureRole.mjTEXROLE_RGB]
    assert v.tex_type[tex] == mujoco.mjtTexture.mjTEXTURE_2D
  assert mujoco.mjtTexture.mjTEXTURE_SKYBOX in v.tex_type
  assert any(v.light_type[k] == mujoco.mjtLightType.mjLIGHT_DIRECTIONAL for k in range(v.nlight))
  assert v.nlight >= m.nlight + (0 if any(m.light_type == mujoco.mjtLightType.mjLIGHT_DIRECTIONAL) else 1)
  d_phys, d_draw = mujoco.MjData(m), mujoco.MjData(v)
  d_phys.qpos[:] = d_draw.qpos[:] = _random_state(m)
  mujoco.mj_kinematics(m, d_phys)
  mujoco.mj_kinematics(v, d_draw)
  for f in ("xpos", "xquat", "geom_xpos", "geom_xmat", "site_xpos", "site_xmat"):
    np.testing.assert_array_equal(getattr(d_draw, f), getattr(d_phys, f), err_msg=f)


def test_drawing_model_falls_back_to_visual_model():
  from pywarp_sim import models
  m = models.mj_model("humanoid")
  with pytest.raises(ValueError, match="nq="):
    view.styled_model(QUADRUPED_XML, m)  # another robot's MJCF
  with pytest.warns(UserWarning, match="without the checker floor"):
    v = view.drawing_model(m, QUADRUPED_XML)
  floor = m.geom("floor").id
  assert v.geom_matid[floor] == -1 and v.ntex == m.ntex  # visual_model's copy: no texture added
  assert view.drawing_model(m, None).ntex == m.ntex
  with pytest.raises(FileNotFoundError, match="no MJCF file"):
    view.load_spec("/nonexistent/robot.xml")


def test_viewer_loop_draws_the_styled_model(env):
  loop = view.ViewerLoop(env, show=2)
  assert loop.model.material(loop.model.geom_matid[loop.model.geom("floor").id]).name == view.FLOOR_MATERIAL


def test_video_overlay_shows_the_velocity_command():
  from pywarp_sim import play
  walk = envs.make("humanoid-walk", 2, "cpu", command_standing_fraction=0.0)
  stats = play.rollout(walk, lambda obs: torch.zeros((2, walk.num_actions)), steps=2, show=2)
  assert stats["command_shown"].shape == (2, 3)
  np.testing.assert_array_equal(stats["command_shown"][-1], walk.commands[0].numpy())
  captions = play.video_captions(walk, "humanoid-walk", stats)
  vx, vy, wz = stats["command_shown"][1]
  assert len(captions) == 2 and captions[1].splitlines()[1] == (
    f"world 0 command: vx {vx:+.2f} m/s  vy {vy:+.2f} m/s  yaw rate {wz:+.2f} rad/s")
  stand = envs.make("humanoid-stand", 1, "cpu")
  stats = play.rollout(stand, lambda obs: torch.zeros((1, stand.num_actions)), steps=1)
  assert not play.has_velocity_command(stand)
  assert "\n" not in play.video_captions(stand, "humanoid-stand", stats)[0]
