"""Constraint stage: contacts, joint limits and dof friction as MuJoCo soft constraints."""

import warp as wp

from .types import Data, Model


@wp.kernel
def _no_constraint(
  # Data in:
  qacc_smooth_in: wp.array2d(dtype=float),
  # Data out:
  qacc_out: wp.array2d(dtype=float),
  qfrc_constraint_out: wp.array2d(dtype=float),
):
  worldid, dofid = wp.tid()
  qacc_out[worldid, dofid] = qacc_smooth_in[worldid, dofid]
  qfrc_constraint_out[worldid, dofid] = 0.0


def fwd_position(m: Model, d: Data):
  """Collision detection and constraint rows (efc_*) for the current positions."""


def fwd_constraint(m: Model, d: Data):
  """Solves the constraint problem: qacc and qfrc_constraint (nworld, nv)."""
  if m.nv:
    wp.launch(_no_constraint, dim=(d.nworld, m.nv), inputs=[d.qacc_smooth],
              outputs=[d.qacc, d.qfrc_constraint])
