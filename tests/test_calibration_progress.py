"""Progress of a calibration: calibrate()'s per-generation callback (academy/calibrate.py) and
the academy CLI's bars over robots and CMA-ES generations (academy/__main__.py)."""

import io

import pytest
from rich.console import Console

from pywarp_sim import cli
from pywarp_sim.academy import __main__ as academy_cli
from pywarp_sim.academy import calibrate as C
from pywarp_sim.academy import proxy

TRUTH = {"mass_legs": 1.12, "motor_strength": 0.87, "joint_damping": 1.45, "latency": 1}
GENERATIONS = 3
# one OpenMP thread: on a loaded CI machine busy-waiting threads make small batches slower
TINY = dict(generations=GENERATIONS, lm_iterations=1, duration_s=0.5, popsize=6,
            params=("mass_legs", "motor_strength", "joint_damping"), cpu_threads=1)


def test_calibrate_reports_every_cma_generation():
  robot = proxy.ProxyRobot("p", truth=TRUTH, noise=proxy.SensorNoise.none())
  calls = []
  cfg = C.CalibrationConfig(**TINY)
  cal = C.calibrate(robot, cfg, progress=lambda *a: calls.append(a))
  assert [c[:2] for c in calls] == [(g, GENERATIONS) for g in range(1, GENERATIONS + 1)]
  best = [c[2] for c in calls]
  assert all(b1 <= b0 for b0, b1 in zip(best, best[1:])), "the best cost so far never rises"
  assert all(c[3] in cfg.latencies for c in calls)
  cma = [h for h in cal.to_dict()["history"] if h[0] == "cma"]
  assert [h[2] for h in cma] == best, "the reported best is the calibration history's"


def test_calibration_progress_bars_and_quiet(monkeypatch):
  robots = ["r0", "r1"]
  quiet = list(academy_cli.calibration_progress(robots, 4, quiet=True))
  assert [(i, r) for i, r, _ in quiet] == [(0, "r0"), (1, "r1")] and all(g is None for _, _, g in quiet)
  # drawn bars (as on a terminal), into a buffer
  out = io.StringIO()
  monkeypatch.setattr(cli, "progress_enabled", lambda quiet=False: not quiet)
  monkeypatch.setattr("rich.console.Console", lambda **k: Console(file=out, force_terminal=True, width=120))
  seen = []
  for i, robot, generation in academy_cli.calibration_progress(robots, 4):
    for g in range(1, 5):
      generation(g, 4, 1.0 / g, 1)
    seen.append(robot)
  assert seen == robots
  assert "CMA-ES" in out.getvalue() and "calibrating the fleet" in out.getvalue()


def test_quiet_flag_is_accepted_by_both_commands():
  for command in ("demo", "calibrate"):
    assert academy_cli.parse_args([command, "--quiet"]).quiet
  assert not academy_cli.parse_args(["calibrate"]).quiet
