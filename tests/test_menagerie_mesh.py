"""Menagerie robots that collide with meshes (bench/menagerie_mesh.py), when PWS_MENAGERIE
points at a mujoco_menagerie checkout (not part of the repository; skipped otherwise).

As shipped (MuJoCo 4's multicontact over hull polygons for their mesh-mesh, box-, cylinder- and
sphere-mesh pairs) every one loads on both backends, runs 100 steps from the home keyframe
healthy, and matches MuJoCo C's contacts (sets, positions, depths) in every standing and
dropped state; with multiCCD disabled they load too. qacc: measured median <= 1.6e-4, max
7.3e-3 (Robotis OP3 standing still, |qacc| <= 0.5, so the error is absolute;
bench/results/menagerie-mesh-cpu-amd-epyc-2026-12-07.json), held to the issue's acceptance
bounds as for the convex humanoids.
"""

import os

import numpy as np
import pytest

from bench import menagerie_mesh as mm
from tolerances import (CONTACT_DIST_TOL, CONTACT_POS_TOL, FREE_TRAJ_QPOS_TOL,
                        ISSUE_CONTACT_QACC_MAX_TOL, ISSUE_CONTACT_QACC_MEDIAN_TOL)

MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (as tests/test_envs_tasks.py)
PATH = os.environ.get(MENAGERIE_ENV)
pytestmark = pytest.mark.skipif(not PATH, reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")


@pytest.mark.parametrize("robot", list(mm.ROBOTS))
def test_menagerie_mesh_robot(robot):
  assert mm.try_load(mm.load(PATH, robot, multiccd=False), "warp") is None, robot
  mjm = mm.load(PATH, robot)
  states = mm.states(mjm)
  for backend in mm.BACKENDS:
    assert mm.try_load(mjm, backend) is None, (robot, backend)
    h = mm.health(mjm, backend)
    assert h["finite"] and h["health"] == 0, (robot, backend, h)
    assert abs(h["root_height"] - h["root_height_mujoco"]) < FREE_TRAJ_QPOS_TOL, (robot, backend, h)
    rows = mm.compare_states(mjm, backend, states)["states"]
    assert all(r["contact_set_equal"] for r in rows), (robot, backend, rows)
    assert sum(r["ncon"] for r in rows) > 0, f"{robot}: the states must touch the floor"
    for r in rows:
      if r["ncon"]:
        assert r["contact_pos_err"] < CONTACT_POS_TOL and r["contact_dist_err"] < CONTACT_DIST_TOL, (robot, r)
    errs = [r["qacc_rel_err"] for r in rows]
    assert np.median(errs) < ISSUE_CONTACT_QACC_MEDIAN_TOL and max(errs) < ISSUE_CONTACT_QACC_MAX_TOL, (
      robot, backend, errs)
