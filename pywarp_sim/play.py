"""Roll out a trained policy and render it offscreen to a video.

  python -m pywarp_sim.play --checkpoint logs/rsl_rl/humanoid-walk/.../model_1499.pt --video out.mp4
      [--steps 500] [--width 640] [--height 480] [--device cpu] [--env.FIELD VALUE ...]
  python -m pywarp_sim.play --task humanoid-walk [--load-run REGEX]   # the latest run's last checkpoint

The task, its env overrides and the runner configuration come from `pws_train.json` next to
the checkpoint (written by pywarp_sim.train); `--task` overrides the task. Without
--checkpoint, --task names the task whose last run under logs/rsl_rl/<task>/ (or the last run
matching --load-run) gives its last checkpoint (train.find_checkpoint); --checkpoint may also
be a run folder. `--env.FIELD VALUE` flags (tyro, as train's; --help lists them for the
checkpoint's task) change the task's config on top of the run's. Progress bars (stderr, a
terminal only, not with --quiet) follow the env build, the rollout and the rendering.
The checkpoint is read weights-only
(train.load_policy_checkpoint): a file holding pickled Python objects is refused with exit
code 2 and never executed. World 0 (worlds 0..N-1 with --show N) is rendered with
mujoco.Renderer at the env's control rate, on a checker floor with a skybox and a light when
the task's MJCF is known (view.drawing_model), with an overlay of the step, time, mean reward
and, for a velocity-tracking task, world 0's command. Rendering is offscreen: MUJOCO_GL selects the
OpenGL backend (egl on headless GPU machines, osmesa for software rendering, glfw with a
display). When MUJOCO_GL is unset on Linux and a video is asked for, play sets it to egl
(re-executing itself, as MuJoCo reads it at import). `.mp4` needs imageio-ffmpeg (pip install 'pywarp_sim[rl]');
`.gif` needs only Pillow. `--video ''` rolls out without rendering.

`--command VX,VY,YAW` (walk task) holds that velocity command in every env (m/s, m/s,
rad/s) and reports how well it is tracked: the mean base-frame velocity (vx, vy) and yaw
rate over the env steps of every env, the mean |v_xy - command| and the number of falls
(episodes terminated before their timeout), e.g.

  python -m pywarp_sim.play --checkpoint .../model_1999.pt --video '' --num-envs 64 \
      --steps 250 --command 1,0,0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

from . import cli
from .cli import check_device, check_file, float_triple, positive_int
from .cli import dumps as json_dumps
from .train import PolicyCheckpointError, load_policy, load_train_config
from .view import RenderError, drawing_model, env_mjcf, make_renderer, render_worlds


@torch.no_grad()
def rollout(env, policy, steps: int, record_world: int = 0, show: int = 1, advance=None) -> dict:
  """Runs `policy` for `steps` env steps. Returns the completed episodes' mean return and
  length, the per-step mean reward, qpos of `record_world` at every step (steps, nq), and
  velocity tracking: "base_vel" the mean over env steps and envs of the base-frame (vx, vy,
  yaw rate) after each step (of the envs that did not just end an episode), "command_error"
  the mean |v_xy - command_xy| (m/s), "falls" the episodes terminated before their timeout.
  "qpos_shown": (steps, show, nq) qpos of worlds record_world .. record_world + show - 1, and
  "step_reward": (steps,) the mean reward over envs of each step, and "command_shown": (steps,
  dim) the command of record_world acting in each step (env.commands; dim 0 without one), for
  a video's overlay. advance: called once per env step (a progress bar's advance), or None."""
  obs = env.reset()
  env.pop_episode_stats()
  qpos, shown, rewards, vel, err, commands = [], [], [], [], [], []
  if not 1 <= show <= env.num_envs - record_world:
    raise ValueError(f"rollout: show={show} worlds from world {record_world} needs 1 <= show <= "
                     f"{env.num_envs - record_world} (num_envs {env.num_envs})")
  falls = torch.zeros((), dtype=torch.long, device=env.sim.qpos.device)
  for _ in range(steps):
    actions = policy(obs)
    command = env.commands.clone()
    commands.append(command[record_world])
    obs, rew, dones, extras = env.step(actions)
    b = env.last_base_state  # after the physics steps, before the resets of done envs
    live = (dones == 0)[:, None]
    v = torch.cat([b["lin_vel"][:, :2], b["ang_vel"][:, 2:3]], dim=-1)
    vel.append(torch.where(live, v, torch.nan))
    err.append(torch.where(live[:, 0], torch.linalg.vector_norm(v[:, :2] - command[:, :2], dim=-1), torch.nan))
    falls += ((dones != 0) & ~extras["time_outs"]).sum()
    rewards.append(rew.mean())
    rows = env.sim.qpos[record_world:record_world + show].cpu().numpy().astype(np.float64)
    qpos.append(rows[0])
    shown.append(rows)
    if advance is not None:
      advance()
  stats = env.pop_episode_stats()
  stats["mean_step_reward"] = float(torch.stack(rewards).mean()) if rewards else float("nan")
  stats["qpos"] = np.stack(qpos) if qpos else np.zeros((0, env.sim.model.nq))
  stats["qpos_shown"] = np.stack(shown) if shown else np.zeros((0, show, env.sim.model.nq))
  stats["step_reward"] = torch.stack(rewards).cpu().numpy() if rewards else np.zeros(0)
  stats["command_shown"] = (torch.stack(commands).cpu().numpy() if commands
                            else np.zeros((0, env.commands.shape[-1])))
  if vel:
    stats["base_vel"] = torch.stack(vel).nanmean(dim=(0, 1)).cpu().tolist()
    stats["command_error"] = float(torch.stack(err).nanmean())
  stats["falls"] = int(falls)
  return stats


def write_video(frames: list, path: str, fps: float):
  """Writes frames to .mp4 (imageio-ffmpeg) or .gif (Pillow)."""
  if not frames:
    raise RenderError("no frames to write")
  ext = os.path.splitext(path)[1].lower()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if ext == ".gif":
    from PIL import Image
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return
  if ext != ".mp4":
    raise RenderError(f"video format '{ext}' is not supported; use .mp4 or .gif")
  try:
    import imageio_ffmpeg
  except ImportError as e:
    raise RenderError("writing .mp4 needs imageio-ffmpeg: pip install 'pywarp_sim[rl]' "
                      "(or write a .gif)") from e
  h, w = frames[0].shape[:2]
  writer = imageio_ffmpeg.write_frames(path, (w, h), fps=fps, macro_block_size=1, quality=7)
  writer.send(None)
  for f in frames:
    writer.send(np.ascontiguousarray(f))
  writer.close()


def command_overrides(task: str, overrides: dict, command) -> dict:
  """The env overrides that hold the velocity command (vx, vy, yaw rate) in every env of
  `task`: the humanoid walk knobs, or the ranges of a TaskCfg's "base_velocity" command when it
  is mdp.uniform_velocity_command. ValueError for a task without such a command."""
  from . import envs
  vx, vy, yaw = (float(c) for c in command)
  try:
    cfg = envs.make_cfg(task, **overrides)
  except ValueError:  # a plain factory: its config is not known
    cfg = None
  if isinstance(cfg, envs.HumanoidEnvCfg) and cfg.task == "walk":
    return dict(command_lin_vel_x=(vx, vx), command_lin_vel_y=(vy, vy), command_yaw_rate=(yaw, yaw),
                command_standing_fraction=0.0)
  if isinstance(cfg, envs.TaskCfg):
    term = cfg.commands.get("base_velocity")
    if term is not None and term.func is envs.mdp.uniform_velocity_command:
      key = "commands.base_velocity.params"
      return {f"{key}.lin_vel_x": (vx, vx), f"{key}.lin_vel_y": (vy, vy), f"{key}.ang_vel_z": (yaw, yaw),
              f"{key}.standing_fraction": 0.0}
  raise ValueError(f"--command needs a velocity-tracking task (humanoid-walk, or a TaskCfg whose "
                   f"'base_velocity' command is mdp.uniform_velocity_command), got {task}")


def has_velocity_command(env) -> bool:
  """Whether the env's task tracks a velocity command: a "base_velocity" command term of
  (vx, vy, yaw rate) that is not mdp.null_command (the stand task's zeros)."""
  from . import envs
  term = getattr(getattr(env, "task_cfg", None), "commands", {}).get("base_velocity")
  return term is not None and term.func is not envs.mdp.null_command and env.commands.shape[-1] >= 3


def video_captions(env, task: str, stats: dict) -> list[str]:
  """One overlay per recorded step (rollout's stats): the task, step, time, shown worlds and
  mean reward; with a velocity command (has_velocity_command), a second line with the
  command of the first shown world (m/s, m/s, rad/s)."""
  nshow = stats["qpos_shown"].shape[1]
  with_command = has_velocity_command(env)
  captions = []
  for t, r in enumerate(stats["step_reward"]):
    text = (f"{task}  step {t + 1}  t {(t + 1) * env.dt:.2f} s  worlds 0-{nshow - 1} of "
            f"{env.num_envs}  mean reward {r:.3f}")
    if with_command:
      vx, vy, wz = stats["command_shown"][t][:3]
      text += f"\nworld 0 command: vx {vx:+.2f} m/s  vy {vy:+.2f} m/s  yaw rate {wz:+.2f} rad/s"
    captions.append(text)
  return captions


RENDER_CHUNK = 50  # frames rendered per render_worlds call (the progress bar's step)


def play(checkpoint: str, video: str | None, steps: int = 500, device: str = "cpu",
         task: str | None = None, num_envs: int = 1, width: int = 640, height: int = 480,
         command: tuple | None = None, show: int = 1, env_overrides: dict | None = None,
         quiet: bool = True) -> dict:
  """Rolls out `checkpoint`'s policy (rollout) and renders it to `video`. env_overrides: on
  top of the run's (pws_train.json "env"); quiet=False draws progress bars on a terminal."""
  from . import envs
  saved = load_train_config(checkpoint)
  task = task or saved.get("task")
  if task is None:
    raise ValueError(f"no {os.path.basename(checkpoint)}'s pws_train.json found next to the "
                     f"checkpoint; pass --task")
  overrides = {**(saved.get("env") or {}), **(env_overrides or {})}
  if command is not None:
    if len(command) != 3:
      raise ValueError(f"command must be (vx, vy, yaw rate), got {command}")
    overrides.update(command_overrides(task, overrides, command))
  with cli.status(f"{num_envs} envs of {task}: building (first run: compiling)", quiet=quiet):
    env = envs.make(task, num_envs, device, **overrides)
  policy = load_policy(checkpoint, env, saved.get("runner"))
  with cli.progress("rollout", steps, quiet=quiet, unit="env steps") as advance:
    stats = rollout(env, policy, steps, show=show, advance=advance)
  if video:
    captions = video_captions(env, task, stats)
    draw = drawing_model(env.mj_model, env_mjcf(env))  # the checker floor when the MJCF is known
    frames, shown = [], stats["qpos_shown"]
    with cli.progress(f"rendering {os.path.basename(video)}", len(shown), quiet=quiet, unit="frames") as advance:
      for start in range(0, len(shown), RENDER_CHUNK):  # chunks: the camera is set per frame
        part = slice(start, start + RENDER_CHUNK)
        frames += render_worlds(env.mj_model, shown[part], width, height, captions=captions[part],
                                draw_model=draw)
        advance(len(shown[part]))
    write_video(frames, video, fps=1.0 / env.dt)
    stats["video"] = video
    stats["frames"] = len(frames)
  return stats


VIDEO_FORMATS = (".mp4", ".gif")


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m pywarp_sim.play", description=__doc__, add_help=False,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-h", "--help", action="store_true",
                 help="show this help, then the --env. flags of the checkpoint's task, and exit")
  p.add_argument("--checkpoint", default=None,
                 help="a model_<it>.pt or a run folder (its last checkpoint); default: the last "
                      "checkpoint of the last run of --task under logs/rsl_rl/<task>/")
  p.add_argument("--load-run", default=None, metavar="REGEX",
                 help="without --checkpoint: the last run of --task whose folder name matches")
  p.add_argument("--video", default="play.mp4", help="output .mp4 or .gif; '' = no rendering")
  p.add_argument("--steps", type=positive_int, default=500, help="env steps to roll out (>= 1)")
  p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
  p.add_argument("--task", default=None)
  p.add_argument("--num-envs", type=positive_int, default=1)
  p.add_argument("--width", type=positive_int, default=640)
  p.add_argument("--height", type=positive_int, default=480)
  p.add_argument("--command", type=float_triple, default=None,
                 help="VX,VY,YAW: hold this velocity command (walk task; m/s, m/s, rad/s); "
                      "a negative VX needs the = form: --command=-1,0,0")
  p.add_argument("--show", type=positive_int, default=1,
                 help="worlds drawn side by side in the video (<= --num-envs)")
  p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
  p.add_argument("--quiet", action="store_true", help="no progress bars")
  return p


def parse_args(argv=None) -> argparse.Namespace:
  """The parsed command line; exits with code 2 and a message naming the argument when one
  is out of range, the checkpoint is missing, the video format is unknown, the device is
  missing or an --env. flag is unknown, before any environment is built. Sets `checkpoint`
  to the file to play and adds `env_overrides` (the --env. flags' changes)."""
  from .train import env_flag_view, env_overrides_from_flags, find_checkpoint, latest_checkpoint
  p = build_parser()
  a, rest = p.parse_known_args(argv)
  config_args = cli.split_config_flags(p, rest, ("env",))
  if a.checkpoint is None and a.task is not None:
    try:
      a.checkpoint = find_checkpoint(a.task, a.load_run)
    except FileNotFoundError as e:
      p.error(f"--task {a.task}: {e}")
  elif a.checkpoint is None and not a.help:
    p.error("--checkpoint: give a model_<it>.pt or a run folder, or --task to play the last "
            "checkpoint of that task's last run under logs/rsl_rl/<task>/")
  elif a.checkpoint is not None and os.path.isdir(a.checkpoint):
    found = latest_checkpoint(a.checkpoint)
    if found is None:
      p.error(f"--checkpoint {a.checkpoint}: the folder holds no model_<it>.pt")
    a.checkpoint = found
  elif a.checkpoint is not None:
    check_file(p, a.checkpoint, "--checkpoint")
  saved = load_train_config(a.checkpoint) if a.checkpoint else {}
  task = a.task or saved.get("task")
  view = env_flag_view(task, dict(saved.get("env") or {})) if task else None
  if a.help:
    print(p.format_help())
    if view is None:
      p.exit(0, "(the --env. flags are listed with --checkpoint or --task)\n")
    cli.parse_config_flags(["--help"], {"env": view}, prog=f"{p.prog} --task {task}",
                           description=f"Config fields of {task} (--env.), on top of the run's")
  if config_args and view is None:
    p.error(f"--env.*: the config of the task to play is not known (task {task!r}: no "
            f"pws_train.json next to the checkpoint, or a factory task); pass --task")
  changes = cli.parse_config_flags(config_args, {"env": view}, prog=f"{p.prog} --task {task}") \
    if config_args else {"env": {}}
  a.env_overrides = env_overrides_from_flags(view, changes["env"]) if changes["env"] else {}
  if a.video and os.path.splitext(a.video)[1].lower() not in VIDEO_FORMATS:
    p.error(f"--video {a.video}: the format must be one of {', '.join(VIDEO_FORMATS)} "
            f"(or --video '' to roll out without rendering)")
  if a.show > a.num_envs:
    p.error(f"--show {a.show}: cannot draw more worlds than --num-envs {a.num_envs}")
  check_device(p, a.device)
  return a


PER_STEP = ("qpos", "qpos_shown", "step_reward", "command_shown")  # rollout's arrays, not in --json


def json_record(checkpoint: str, num_envs: int, steps: int, command: tuple | None, stats: dict) -> str:
  """The --json line: the run's arguments and play()'s figures (qpos left out). Undefined
  figures (NaN: no episode completed, no live env) are written as null."""
  return json_dumps({"checkpoint": checkpoint, "num_envs": num_envs, "steps": steps,
                     "command": command,
                     **{k: v for k, v in stats.items() if k not in PER_STEP}})


def main(argv=None):
  a = parse_args(argv)
  if argv is None and a.video and "MUJOCO_GL" not in os.environ and sys.platform.startswith("linux"):
    # MuJoCo picks its GL backend when imported (pywarp_sim imports it): restart with egl
    os.environ["MUJOCO_GL"] = "egl"
    os.execv(sys.executable, [sys.executable, "-m", "pywarp_sim.play", *sys.argv[1:]])
  command = a.command
  try:
    stats = play(a.checkpoint, a.video or None, a.steps, a.device, a.task, a.num_envs, a.width,
                 a.height, command, a.show, env_overrides=a.env_overrides, quiet=a.quiet)
  except (RenderError, PolicyCheckpointError) as e:
    print(f"pywarp_sim.play: {e}", file=sys.stderr)
    sys.exit(2)
  ret = stats["mean_return"]
  print(f"[pws.play] {a.steps} steps: {stats['episodes']} episodes completed, mean return "
        f"{'n/a' if math.isnan(ret) else f'{ret:.3f}'}, mean step reward "
        f"{stats['mean_step_reward']:.4f}" + (f", video {stats['video']} ({stats['frames']} frames)"
                                              if "video" in stats else ""))
  if "base_vel" in stats:
    vx, vy, wz = stats["base_vel"]
    print(f"[pws.play] base velocity (base frame, mean over {a.num_envs} envs x {a.steps} steps): "
          f"vx {vx:.3f} m/s, vy {vy:.3f} m/s, yaw rate {wz:.3f} rad/s; "
          + (f"command {command}, " if command else "")
          + f"mean |v_xy - command| {stats['command_error']:.3f} m/s; falls {stats['falls']}")
  if a.json:
    print(json_record(a.checkpoint, a.num_envs, a.steps, command, stats))


if __name__ == "__main__":
  main()
