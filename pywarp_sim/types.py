"""Model and Data: the flat arrays every pipeline stage reads and writes.

`Model` is shared by all worlds; a few physical parameters are *banks*: a
leading axis of size `nbank` (1 by default, up to nworld) read in kernels as
`field[worldid % field.shape[0]]`, so one value or one per world both work
(domain randomisation, per-robot calibration).

`Data` is a struct of arrays with the world axis first. Field names, units and
meanings are MuJoCo's (SI units, quaternions as (w, x, y, z), spatial vectors
as (angular, linear) in the com frame of each kinematic tree).
"""

import dataclasses
import enum

import mujoco
import warp as wp

vec10 = wp.types.vector(length=10, dtype=wp.float32)
"""Com-based body inertia (MuJoCo's cinert): (Ixx, Iyy, Izz, Ixy, Ixz, Iyz, m*c, m)."""

vec6 = wp.spatial_vector
"""Spatial motion or force vector (angular[3], linear[3])."""

MINVAL = 1e-15  # mjMINVAL: guards against division by zero, as in MuJoCo


# Each enum is defined once, here; where MuJoCo has it, its values are MuJoCo's (mjt*). The
# native kernels' constants are checked against these (tests/test_architecture.py).
_mj = mujoco


class JointType(enum.IntEnum):
  """mjtJoint."""
  FREE = int(_mj.mjtJoint.mjJNT_FREE)
  BALL = int(_mj.mjtJoint.mjJNT_BALL)
  SLIDE = int(_mj.mjtJoint.mjJNT_SLIDE)
  HINGE = int(_mj.mjtJoint.mjJNT_HINGE)


class GeomType(enum.IntEnum):
  """mjtGeom (the collision types)."""
  PLANE = int(_mj.mjtGeom.mjGEOM_PLANE)
  HFIELD = int(_mj.mjtGeom.mjGEOM_HFIELD)
  SPHERE = int(_mj.mjtGeom.mjGEOM_SPHERE)
  CAPSULE = int(_mj.mjtGeom.mjGEOM_CAPSULE)
  ELLIPSOID = int(_mj.mjtGeom.mjGEOM_ELLIPSOID)
  CYLINDER = int(_mj.mjtGeom.mjGEOM_CYLINDER)
  BOX = int(_mj.mjtGeom.mjGEOM_BOX)
  MESH = int(_mj.mjtGeom.mjGEOM_MESH)


class DynType(enum.IntEnum):
  """mjtDyn (the types pywarp_sim supports)."""
  NONE = int(_mj.mjtDyn.mjDYN_NONE)
  INTEGRATOR = int(_mj.mjtDyn.mjDYN_INTEGRATOR)
  FILTER = int(_mj.mjtDyn.mjDYN_FILTER)
  FILTEREXACT = int(_mj.mjtDyn.mjDYN_FILTEREXACT)


class GainType(enum.IntEnum):
  """mjtGain (the types pywarp_sim supports)."""
  FIXED = int(_mj.mjtGain.mjGAIN_FIXED)
  AFFINE = int(_mj.mjtGain.mjGAIN_AFFINE)


class BiasType(enum.IntEnum):
  """mjtBias (the types pywarp_sim supports)."""
  NONE = int(_mj.mjtBias.mjBIAS_NONE)
  AFFINE = int(_mj.mjtBias.mjBIAS_AFFINE)


class TrnType(enum.IntEnum):
  """mjtTrn (the types pywarp_sim supports)."""
  JOINT = int(_mj.mjtTrn.mjTRN_JOINT)
  JOINTINPARENT = int(_mj.mjtTrn.mjTRN_JOINTINPARENT)
  TENDON = int(_mj.mjtTrn.mjTRN_TENDON)


class IntegratorType(enum.IntEnum):
  """mjtIntegrator."""
  EULER = int(_mj.mjtIntegrator.mjINT_EULER)
  RK4 = int(_mj.mjtIntegrator.mjINT_RK4)
  IMPLICIT = int(_mj.mjtIntegrator.mjINT_IMPLICIT)
  IMPLICITFAST = int(_mj.mjtIntegrator.mjINT_IMPLICITFAST)


class EqType(enum.IntEnum):
  """mjtEq (the types pywarp_sim supports)."""
  CONNECT = int(_mj.mjtEq.mjEQ_CONNECT)
  WELD = int(_mj.mjtEq.mjEQ_WELD)
  JOINT = int(_mj.mjtEq.mjEQ_JOINT)
  TENDON = int(_mj.mjtEq.mjEQ_TENDON)


class ConeType(enum.IntEnum):
  """mjtCone."""
  PYRAMIDAL = int(_mj.mjtCone.mjCONE_PYRAMIDAL)
  ELLIPTIC = int(_mj.mjtCone.mjCONE_ELLIPTIC)


class SolverType(enum.IntEnum):
  """mjtSolver."""
  PGS = int(_mj.mjtSolver.mjSOL_PGS)
  CG = int(_mj.mjtSolver.mjSOL_CG)
  NEWTON = int(_mj.mjtSolver.mjSOL_NEWTON)


class ConstraintType(enum.IntEnum):
  """mjtConstraint: the type of a constraint row (efc_type)."""
  EQUALITY = int(_mj.mjtConstraint.mjCNSTR_EQUALITY)
  FRICTION_DOF = int(_mj.mjtConstraint.mjCNSTR_FRICTION_DOF)
  FRICTION_TENDON = int(_mj.mjtConstraint.mjCNSTR_FRICTION_TENDON)
  LIMIT_JOINT = int(_mj.mjtConstraint.mjCNSTR_LIMIT_JOINT)
  LIMIT_TENDON = int(_mj.mjtConstraint.mjCNSTR_LIMIT_TENDON)
  CONTACT_FRICTIONLESS = int(_mj.mjtConstraint.mjCNSTR_CONTACT_FRICTIONLESS)
  CONTACT_PYRAMIDAL = int(_mj.mjtConstraint.mjCNSTR_CONTACT_PYRAMIDAL)
  CONTACT_ELLIPTIC = int(_mj.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC)


class Collider(enum.IntEnum):
  """Narrowphase function of a candidate pair (geom 1 type <= geom 2 type); pywarp_sim's own."""
  PLANE_SPHERE = 0
  PLANE_CAPSULE = 1
  PLANE_ELLIPSOID = 2
  PLANE_CYLINDER = 3
  PLANE_BOX = 4
  SPHERE_SPHERE = 5
  SPHERE_CAPSULE = 6
  SPHERE_CYLINDER = 7
  SPHERE_BOX = 8
  CAPSULE_CAPSULE = 9
  CAPSULE_BOX = 10
  BOX_BOX = 11
  CONVEX = 12  # GJK/EPA (collision_convex), MuJoCo's mjc_Convex


class Health(enum.IntFlag):
  """Per-world health bits in `Simulator.health` (0 = healthy); pywarp_sim's own."""
  NONFINITE = 1          # qpos, qvel, qacc, ctrl or act has a NaN/Inf
  CONTACT_OVERFLOW = 2   # more contacts than the per-world capacity (d.contact.overflow)
  SOLVER_NOT_CONVERGED = 4  # constraint solver hit its iteration limit (nefc > 0)
  VELOCITY_BOUND = 8     # |qvel| beyond Simulator.max_qvel
  PARKED = 16            # auto_reset found the world's reset state non-finite (a NaN/Inf in its
                         # parameter bank row): not reset again, not checked, until sim.reset


# Simulator.counters, in this order: one per checked Health bit, then auto resets and parked.
COUNTERS = ("nonfinite", "contact_overflow", "solver_not_converged", "velocity_bound",
            "auto_resets", "parked")


class DisableBit(enum.IntFlag):
  """MuJoCo's mjtDisableBit (the subset pywarp_sim honours)."""
  CONSTRAINT = 1 << 0
  EQUALITY = 1 << 1
  FRICTIONLOSS = 1 << 2
  LIMIT = 1 << 3
  CONTACT = 1 << 4
  SPRING = 1 << 5
  DAMPER = 1 << 6
  GRAVITY = 1 << 7
  CLAMPCTRL = 1 << 8
  WARMSTART = 1 << 9
  FILTERPARENT = 1 << 10
  ACTUATION = 1 << 11
  REFSAFE = 1 << 12
  SENSOR = 1 << 13
  MIDPHASE = 1 << 14
  EULERDAMP = 1 << 15


@dataclasses.dataclass
class Option:
  """Physics options (MuJoCo's mjOption). Scalars are shared by all worlds;
  gravity is a bank (nbank, 3) so it can differ per world."""
  timestep: float
  integrator: int          # IntegratorType
  disableflags: int        # DisableBit
  cone: int                # ConeType
  solver: int              # SolverType
  iterations: int
  tolerance: float
  ls_iterations: int
  ls_tolerance: float
  impratio: float
  o_margin: float
  gravity: wp.array  # (nbank,) vec3, m/s^2

  def disabled(self, bit: int) -> bool:
    return bool(self.disableflags & bit)


@dataclasses.dataclass
class Model:
  """Compiled model: sizes, topology and parameters, as flat Warp arrays.

  Every field name is MuJoCo's. Shapes use nbody, njnt, ngeom, nsite, nu
  (actuators), na (activations), nq, nv and nbank (parameter bank size). The
  host copies of the integer tables used to build kernels and error messages
  are kept in `host` (numpy arrays with the same names).
  """
  nq: int
  nv: int
  nu: int
  na: int
  nbody: int
  njnt: int
  ngeom: int
  nsite: int
  ntendon: int
  neq: int
  nbank: int
  opt: Option
  names: dict  # element kind -> list of names (index -> name, "" when unnamed)
  host: dict   # name -> numpy array (model tables, float64 where MuJoCo has mjtNum)
  mj_model: object  # the mujoco.MjModel this was read from (for the oracle and tools)

  # tree
  body_parentid: wp.array   # (nbody,) int
  body_rootid: wp.array     # (nbody,) int
  body_jntnum: wp.array     # (nbody,) int
  body_jntadr: wp.array     # (nbody,) int
  body_dofnum: wp.array     # (nbody,) int
  body_dofadr: wp.array     # (nbody,) int
  body_dofend: wp.array     # (nbody,) int: last dof moving the body (its own or an ancestor's), -1 if none
  body_pos: wp.array        # (nbody,) vec3, m, in parent frame
  body_quat: wp.array       # (nbody,) vec4 (w, x, y, z), in parent frame
  body_ipos: wp.array       # (nbank, nbody) vec3, m: com in body frame
  body_iquat: wp.array      # (nbody,) vec4: principal inertia frame in body frame
  body_mass: wp.array       # (nbank, nbody) float, kg
  body_inertia: wp.array    # (nbank, nbody) vec3, kg m^2, principal moments
  body_gravcomp: wp.array   # (nbody,) float: fraction of gravity compensated
  # joints
  jnt_type: wp.array        # (njnt,) int JointType
  jnt_bodyid: wp.array      # (njnt,) int
  jnt_qposadr: wp.array     # (njnt,) int
  jnt_dofadr: wp.array      # (njnt,) int
  jnt_pos: wp.array         # (njnt,) vec3, m, in body frame
  jnt_axis: wp.array        # (njnt,) vec3, in body frame
  jnt_stiffness: wp.array   # (nbank, njnt) float, N m/rad or N/m
  jnt_limited: wp.array     # (njnt,) int
  jnt_range: wp.array       # (njnt,) vec2, rad or m
  jnt_margin: wp.array      # (njnt,) float
  jnt_solref: wp.array      # (njnt,) vec2
  jnt_solimp: wp.array      # (njnt,) vec5
  qpos0: wp.array           # (nq,) float: reference configuration
  qpos_spring: wp.array     # (nq,) float: spring rest configuration
  # dofs
  dof_bodyid: wp.array      # (nv,) int
  dof_jntid: wp.array       # (nv,) int
  dof_parentid: wp.array    # (nv,) int, -1 at a tree root
  dof_armature: wp.array    # (nbank, nv) float, kg m^2 or kg
  dof_damping: wp.array     # (nbank, nv) float, N m s/rad or N s/m
  dof_frictionloss: wp.array  # (nbank, nv) float, N m or N
  dof_solref: wp.array      # (nv,) vec2
  dof_solimp: wp.array      # (nv,) vec5
  dof_invweight0: wp.array  # (nv,) float
  body_invweight0: wp.array  # (nbody,) vec2: translational, rotational inverse weight
  # geoms and sites
  geom_type: wp.array       # (ngeom,) int GeomType
  geom_bodyid: wp.array     # (ngeom,) int
  geom_pos: wp.array        # (ngeom,) vec3, m, in body frame
  geom_quat: wp.array       # (ngeom,) vec4, in body frame
  geom_size: wp.array       # (ngeom,) vec3, m
  geom_friction: wp.array   # (nbank, ngeom) vec3: sliding, torsional, rolling
  site_bodyid: wp.array     # (nsite,) int
  site_pos: wp.array        # (nsite,) vec3
  site_quat: wp.array       # (nsite,) vec4
  # actuators
  actuator_trntype: wp.array    # (nu,) int TrnType
  actuator_trnid: wp.array      # (nu,) int: joint or tendon id
  actuator_dyntype: wp.array    # (nu,) int DynType
  actuator_dynprm: wp.array     # (nu,) vec3: dynprm[0:3]
  actuator_gaintype: wp.array   # (nu,) int GainType
  actuator_gainprm: wp.array    # (nbank, nu) vec3: gainprm[0:3]
  actuator_biastype: wp.array   # (nu,) int BiasType
  actuator_biasprm: wp.array    # (nbank, nu) vec3: biasprm[0:3]
  actuator_gear: wp.array       # (nbank, nu) float: gear[0]
  actuator_ctrllimited: wp.array  # (nu,) int
  actuator_ctrlrange: wp.array    # (nu,) vec2
  actuator_forcelimited: wp.array  # (nu,) int
  actuator_forcerange: wp.array    # (nu,) vec2, N or N m
  actuator_actlimited: wp.array    # (nu,) int
  actuator_actrange: wp.array      # (nu,) vec2
  actuator_actadr: wp.array        # (nu,) int, -1 when stateless
  actuator_actearly: wp.array      # (nu,) int
  jnt_actfrclimited: wp.array      # (njnt,) int
  jnt_actfrcrange: wp.array        # (njnt,) vec2
  # fixed tendons (length = sum of coef * joint position)
  tendon_adr: wp.array             # (ntendon,) int: first wrap of the tendon
  tendon_num: wp.array             # (ntendon,) int: number of joints
  wrap_jnt: wp.array               # (nwrap,) int: joint of each wrap
  wrap_prm: wp.array               # (nwrap,) float: coefficient of each joint
  tendon_J: wp.array               # (ntendon, nv) float: constant Jacobian of fixed tendons
  tendon_limited: wp.array         # (ntendon,) int
  tendon_range: wp.array           # (ntendon,) vec2, m or rad
  tendon_margin: wp.array          # (ntendon,) float
  tendon_solref_lim: wp.array      # (ntendon,) vec2
  tendon_solimp_lim: wp.array      # (ntendon,) vec5
  tendon_solref_fri: wp.array      # (ntendon,) vec2
  tendon_solimp_fri: wp.array      # (ntendon,) vec5
  tendon_frictionloss: wp.array    # (ntendon,) float
  tendon_invweight0: wp.array      # (ntendon,) float
  tendon_stiffness: wp.array       # (ntendon,) float
  tendon_damping: wp.array         # (ntendon,) float
  tendon_lengthspring: wp.array    # (ntendon,) vec2: spring rest-length deadband
  tendon_length0: wp.array         # (ntendon,) float: length at qpos0, m or rad
  # equality constraints (connect, weld, joint, tendon)
  eq_type: wp.array         # (neq,) int EqType
  eq_obj1id: wp.array       # (neq,) int: body, site, joint or tendon id
  eq_obj2id: wp.array       # (neq,) int: second object (-1: none for joint/tendon; 0: world body)
  eq_objtype: wp.array      # (neq,) int: mjtObj of connect/weld objects (body 1 or site 6)
  eq_active0: wp.array      # (neq,) int: initial eq_active
  eq_solref: wp.array       # (neq,) vec2
  eq_solimp: wp.array       # (neq,) vec5
  eq_data: wp.array         # (neq, mjNEQDATA) float: anchors, relpose, polycoef, torquescale
  meaninertia: float = 1.0  # mean diagonal of qM at qpos0 (solver scaling)
  # collision: static candidate pairs and contact capacity (collision_driver.CollisionPairs)
  collision: object = None
  # derived flags used to skip work
  device: str = "cpu"
  has_gravcomp: bool = False
  has_damping: bool = False

  def banks(self) -> dict:
    """{name: array} of every parameter bank (BANK_FIELDS, then "opt_gravity"): leading axis
    nbank, read as field[world % nbank]."""
    out = {k: getattr(self, k) for k in BANK_FIELDS}
    out["opt_gravity"] = self.opt.gravity
    return out


# Model fields with a leading (nbank,) axis (per-world parameters, domain randomisation);
# Option.gravity is a bank too (Model.banks() lists both).
BANK_FIELDS = ("body_ipos", "body_mass", "body_inertia", "jnt_stiffness", "dof_armature",
               "dof_damping", "dof_frictionloss", "geom_friction", "actuator_gainprm",
               "actuator_biasprm", "actuator_gear")


@dataclasses.dataclass
class Data:
  """Per-world state and derived quantities; the leading axis is the world.

  State (what `reset` sets and a checkpoint saves): time, qpos, qvel, act,
  ctrl, qacc_warmstart, qfrc_applied, xfrc_applied; eq_active is user-set state
  too (reset to the model's eq_active0, saved in checkpoints). Everything
  else is derived by `forward`.
  """
  nworld: int
  time: wp.array            # (nworld,) float, s
  qpos: wp.array            # (nworld, nq) float
  qvel: wp.array            # (nworld, nv) float
  act: wp.array             # (nworld, max(na,1)) float
  ctrl: wp.array            # (nworld, max(nu,1)) float
  qacc: wp.array            # (nworld, nv) float
  qacc_warmstart: wp.array  # (nworld, nv) float
  act_dot: wp.array         # (nworld, max(na,1)) float
  qfrc_applied: wp.array    # (nworld, nv) float, N or N m
  xfrc_applied: wp.array    # (nworld, nbody) vec6: force (3), torque (3) at xipos, world frame
  # kinematics
  xpos: wp.array            # (nworld, nbody) vec3, m
  xquat: wp.array           # (nworld, nbody) vec4
  xmat: wp.array            # (nworld, nbody) mat33
  xipos: wp.array           # (nworld, nbody) vec3, m
  ximat: wp.array           # (nworld, nbody) mat33
  xanchor: wp.array         # (nworld, njnt) vec3, m
  xaxis: wp.array           # (nworld, njnt) vec3
  geom_xpos: wp.array       # (nworld, ngeom) vec3, m
  geom_xmat: wp.array       # (nworld, ngeom) mat33
  site_xpos: wp.array       # (nworld, nsite) vec3, m
  site_xmat: wp.array       # (nworld, nsite) mat33
  # com-based quantities
  subtree_com: wp.array     # (nworld, nbody) vec3, m
  subtree_mass: wp.array    # (nworld, nbody) float, kg
  cinert: wp.array          # (nworld, nbody) vec10
  cdof: wp.array            # (nworld, nv) vec6
  cvel: wp.array            # (nworld, nbody) vec6
  cdof_dot: wp.array        # (nworld, nv) vec6
  cacc: wp.array            # (nworld, nbody) vec6 (RNE scratch: bias acceleration)
  cfrc_int: wp.array        # (nworld, nbody) vec6 (RNE scratch: bias force)
  crb: wp.array             # (nworld, nbody) vec10
  # mass matrix
  qM: wp.array              # (nworld, nv, nv) float: dense symmetric, with armature
  qLD: wp.array             # (nworld, nv, nv) float: L'DL factor in tree sparsity (lower part)
  qLDiagInv: wp.array       # (nworld, nv) float
  qH: wp.array              # (nworld, nv, nv) float: factor of M - h*dqfrc/dqvel (integrators)
  qHDiagInv: wp.array       # (nworld, nv) float
  # forces
  actuator_length: wp.array    # (nworld, max(nu,1)) float
  actuator_velocity: wp.array  # (nworld, max(nu,1)) float
  actuator_force: wp.array     # (nworld, max(nu,1)) float
  qfrc_bias: wp.array       # (nworld, nv) float
  qfrc_spring: wp.array     # (nworld, nv)
  qfrc_damper: wp.array     # (nworld, nv)
  qfrc_gravcomp: wp.array   # (nworld, nv)
  qfrc_passive: wp.array    # (nworld, nv)
  qfrc_actuator: wp.array   # (nworld, nv)
  qfrc_smooth: wp.array     # (nworld, nv)
  qacc_smooth: wp.array     # (nworld, nv)
  qfrc_constraint: wp.array  # (nworld, nv)
  # integrator scratch (RK4 stages, implicit solves)
  qpos_t0: wp.array         # (nworld, nq)
  qvel_t0: wp.array         # (nworld, nv)
  act_t0: wp.array          # (nworld, max(na,1))
  rk_dqvel: wp.array        # (nworld, nv): sum of B_j * qvel_j
  rk_dqacc: wp.array        # (nworld, nv): sum of B_j * qacc_j
  rk_dact: wp.array         # (nworld, max(na,1))
  qfrc_scratch: wp.array    # (nworld, nv)
  qacc_scratch: wp.array    # (nworld, nv)
  ten_length: wp.array      # (nworld, max(ntendon,1)) float: tendon lengths, m or rad
  ten_velocity: wp.array    # (nworld, max(ntendon,1)) float
  eq_active: wp.array       # (nworld, max(neq,1)) int: equality constraint enabled (state, user-set)
  # contacts of the last collision pass (collision_driver.Contacts)
  contact: object = None
  # constraint rows and solver state (constraint.ConstraintData)
  efc: object = None
