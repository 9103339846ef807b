"""Model and Data: the flat arrays every pipeline stage reads and writes.
Twin of kernels/types.h (the native layout, checked against the fields declared here).

`Model` is shared by all worlds; a few physical parameters are *banks*: a
leading axis of size `nbank` (1 by default, up to nworld) read in kernels as
`field[worldid % field.shape[0]]`, so one value or one per world both work
(domain randomisation, per-robot calibration).

`Data` is a struct of arrays with the world axis first. Field names, units and
meanings are MuJoCo's (SI units, quaternions as (w, x, y, z), spatial vectors
as (angular, linear) in the com frame of each kinematic tree). Each Data field, and each
field of its containers (Contacts, ConstraintData, the collision stage's SlotBuffer and
EpaScratch), is declared once, with its symbolic shape, dtype and role (`Field`,
DATA_FIELDS): allocation, checkpoints, the per-thread workspace and the native layout's
check all read those declarations.
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
MINMU = 1e-5  # mjMINMU: smallest friction coefficient of a contact


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


class SensorType(enum.IntEnum):
  """mjtSensor (the types pywarp_sim evaluates; io rejects the others by name)."""
  TOUCH = int(_mj.mjtSensor.mjSENS_TOUCH)
  ACCELEROMETER = int(_mj.mjtSensor.mjSENS_ACCELEROMETER)
  VELOCIMETER = int(_mj.mjtSensor.mjSENS_VELOCIMETER)
  GYRO = int(_mj.mjtSensor.mjSENS_GYRO)
  FORCE = int(_mj.mjtSensor.mjSENS_FORCE)
  TORQUE = int(_mj.mjtSensor.mjSENS_TORQUE)
  MAGNETOMETER = int(_mj.mjtSensor.mjSENS_MAGNETOMETER)
  JOINTPOS = int(_mj.mjtSensor.mjSENS_JOINTPOS)
  JOINTVEL = int(_mj.mjtSensor.mjSENS_JOINTVEL)
  TENDONPOS = int(_mj.mjtSensor.mjSENS_TENDONPOS)
  TENDONVEL = int(_mj.mjtSensor.mjSENS_TENDONVEL)
  ACTUATORPOS = int(_mj.mjtSensor.mjSENS_ACTUATORPOS)
  ACTUATORVEL = int(_mj.mjtSensor.mjSENS_ACTUATORVEL)
  ACTUATORFRC = int(_mj.mjtSensor.mjSENS_ACTUATORFRC)
  JOINTACTFRC = int(_mj.mjtSensor.mjSENS_JOINTACTFRC)
  TENDONACTFRC = int(_mj.mjtSensor.mjSENS_TENDONACTFRC)
  BALLQUAT = int(_mj.mjtSensor.mjSENS_BALLQUAT)
  BALLANGVEL = int(_mj.mjtSensor.mjSENS_BALLANGVEL)
  JOINTLIMITPOS = int(_mj.mjtSensor.mjSENS_JOINTLIMITPOS)
  JOINTLIMITVEL = int(_mj.mjtSensor.mjSENS_JOINTLIMITVEL)
  JOINTLIMITFRC = int(_mj.mjtSensor.mjSENS_JOINTLIMITFRC)
  TENDONLIMITPOS = int(_mj.mjtSensor.mjSENS_TENDONLIMITPOS)
  TENDONLIMITVEL = int(_mj.mjtSensor.mjSENS_TENDONLIMITVEL)
  TENDONLIMITFRC = int(_mj.mjtSensor.mjSENS_TENDONLIMITFRC)
  FRAMEPOS = int(_mj.mjtSensor.mjSENS_FRAMEPOS)
  FRAMEQUAT = int(_mj.mjtSensor.mjSENS_FRAMEQUAT)
  FRAMEXAXIS = int(_mj.mjtSensor.mjSENS_FRAMEXAXIS)
  FRAMEYAXIS = int(_mj.mjtSensor.mjSENS_FRAMEYAXIS)
  FRAMEZAXIS = int(_mj.mjtSensor.mjSENS_FRAMEZAXIS)
  FRAMELINVEL = int(_mj.mjtSensor.mjSENS_FRAMELINVEL)
  FRAMEANGVEL = int(_mj.mjtSensor.mjSENS_FRAMEANGVEL)
  FRAMELINACC = int(_mj.mjtSensor.mjSENS_FRAMELINACC)
  FRAMEANGACC = int(_mj.mjtSensor.mjSENS_FRAMEANGACC)
  SUBTREECOM = int(_mj.mjtSensor.mjSENS_SUBTREECOM)
  SUBTREELINVEL = int(_mj.mjtSensor.mjSENS_SUBTREELINVEL)
  SUBTREEANGMOM = int(_mj.mjtSensor.mjSENS_SUBTREEANGMOM)
  CLOCK = int(_mj.mjtSensor.mjSENS_CLOCK)
  RANGEFINDER = int(_mj.mjtSensor.mjSENS_RANGEFINDER)


class ObjType(enum.IntEnum):
  """mjtObj (the frames a frame sensor can name)."""
  BODY = int(_mj.mjtObj.mjOBJ_BODY)    # the body's inertial frame (xipos, ximat)
  XBODY = int(_mj.mjtObj.mjOBJ_XBODY)  # the body's own frame (xpos, xmat)
  GEOM = int(_mj.mjtObj.mjOBJ_GEOM)
  SITE = int(_mj.mjtObj.mjOBJ_SITE)


class DataType(enum.IntEnum):
  """mjtDataType: how a sensor's cutoff applies (REAL both sides, POSITIVE above, the others not)."""
  REAL = int(_mj.mjtDataType.mjDATATYPE_REAL)
  POSITIVE = int(_mj.mjtDataType.mjDATATYPE_POSITIVE)
  AXIS = int(_mj.mjtDataType.mjDATATYPE_AXIS)
  QUATERNION = int(_mj.mjtDataType.mjDATATYPE_QUATERNION)


class Stage(enum.IntEnum):
  """mjtStage: the stage after which a sensor is evaluated (sensor_needstage)."""
  NONE = int(_mj.mjtStage.mjSTAGE_NONE)
  POS = int(_mj.mjtStage.mjSTAGE_POS)
  VEL = int(_mj.mjtStage.mjSTAGE_VEL)
  ACC = int(_mj.mjtStage.mjSTAGE_ACC)


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
  ISLAND = 1 << 18


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
  magnetic: tuple = (0.0, -0.5, 0.0)  # global magnetic flux (magnetometer sensors), MuJoCo's units

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
  # sensors (MuJoCo's layout: sensor i writes sensordata[sensor_adr[i] : sensor_adr[i] + sensor_dim[i]])
  nsensor: int = 0
  nsensordata: int = 0
  sensor_type: wp.array = None      # (nsensor,) int SensorType
  sensor_datatype: wp.array = None  # (nsensor,) int DataType
  sensor_needstage: wp.array = None  # (nsensor,) int Stage
  sensor_objtype: wp.array = None   # (nsensor,) int ObjType (or joint, tendon, actuator ... mjtObj)
  sensor_objid: wp.array = None     # (nsensor,) int
  sensor_reftype: wp.array = None   # (nsensor,) int ObjType of the reference frame
  sensor_refid: wp.array = None     # (nsensor,) int, -1: the world frame
  sensor_adr: wp.array = None       # (nsensor,) int: first column in sensordata
  sensor_dim: wp.array = None       # (nsensor,) int: columns
  sensor_cutoff: wp.array = None    # (nsensor,) float: |value| clamp (0: none), sensor units
  site_type: wp.array = None        # (nsite,) int GeomType: a touch sensor's zone
  site_size: wp.array = None        # (nsite,) vec3, m
  # what a rangefinder's ray (ray.py, mj_ray) meets: MuJoCo's mesh triangles (mesh frame), and
  # which geoms it can see
  geom_rayvisible: wp.array = None  # (ngeom,) int: 1 unless the geom's rgba (or material's) alpha is 0
  mesh_faceadr: wp.array = None     # (nmesh,) int: first triangle in mesh_face (0 rows: no rangefinder)
  mesh_facenum: wp.array = None     # (nmesh,) int
  mesh_face: wp.array = None        # (nmeshface, 3) int: vertex ids, local to the mesh
  sensor_rne_postconstraint: bool = False  # some sensor reads cacc / cfrc_int (mj_rnePostConstraint)
  sensor_subtree_vel: bool = False  # some sensor reads subtree_linvel / subtree_angmom (mj_subtreeVel)
  meaninertia: float = 1.0  # mean diagonal of qM at qpos0 (solver scaling)
  # meshes (MuJoCo's compiled tables, shared by all worlds): a mesh geom collides through its
  # convex hull; vertices in the mesh frame, the hull graph for hill-climbing support
  # (collision_gjk), the hull's polygons for plane-mesh contacts (collision_convex)
  geom_dataid: wp.array = None      # (ngeom,) int: mesh id of a mesh geom, -1 otherwise
  mesh_vertadr: wp.array = None     # (nmesh,) int: first vertex in mesh_vert
  mesh_vertnum: wp.array = None     # (nmesh,) int
  mesh_vert: wp.array = None        # (nmeshvert,) vec3, m, mesh frame
  mesh_graphadr: wp.array = None    # (nmesh,) int: hull graph in mesh_graph, -1: none
  mesh_graph: wp.array = None       # (nmeshgraph,) int: numvert, numface, vert_edgeadr, vert_globalid, edge_localid, faces
  mesh_extrema: wp.array = None     # (nmesh * 27,) int: per mesh and 3x3x3 grid direction, the hull vertex (local id) farthest along it (the hill climb's seed)
  # the hill climb's neighbour blocks (io._hull_neighbours): hull vertex k of mesh i at row
  # mesh_vertadr[i] + k; its neighbours in blocks of 4 slots (the last one padded with copies of
  # the first neighbour)
  mesh_hullnbradr: wp.array = None  # (nmeshvert,) int: first slot of the hull vertex's neighbours
  mesh_hullnbrnum: wp.array = None  # (nmeshvert,) int: its slots, a multiple of 4
  mesh_hullnbrid: wp.array = None   # (nmeshhullnbr,) int: the slot's neighbour, hull id (local)
  mesh_hullnbr: wp.array = None     # (3 * nmeshhullnbr,) float: per block of 4 slots 4 x, 4 y, 4 z (mesh frame)
  mesh_polyadr: wp.array = None     # (nmesh,) int: first polygon of the hull
  mesh_polyvertadr: wp.array = None  # (nmeshpoly,) int: first vertex of each polygon in mesh_polyvert
  mesh_polyvertnum: wp.array = None  # (nmeshpoly,) int
  mesh_polyvert: wp.array = None    # (nmeshpolyvert,) int: vertex ids, local to the mesh
  mesh_polynormal: wp.array = None  # (nmeshpoly,) vec3: outward unit normal, mesh frame
  mesh_polymapadr: wp.array = None  # (nmeshvert,) int: first entry of the vertex's polygons in mesh_polymap
  mesh_polymapnum: wp.array = None  # (nmeshvert,) int
  mesh_polymap: wp.array = None     # (nmeshpolymap,) int: polygon ids, local to the mesh
  # height fields (MuJoCo's compiled tables, shared by all worlds; geom_dataid is the field's
  # id for an hfield geom): elevations on a nrow x ncol grid over the box size[0..2], the
  # base size[3] below it (collision_convex)
  hfield_size: wp.array = None      # (nhfield,) vec4, m: x, y half-extents, top z, base depth
  hfield_nrow: wp.array = None      # (nhfield,) int: grid rows (along y)
  hfield_ncol: wp.array = None      # (nhfield,) int: grid columns (along x)
  hfield_adr: wp.array = None       # (nhfield,) int: first elevation in hfield_data
  hfield_data: wp.array = None      # (nhfielddata,) float: elevations in [0, 1], row-major
  # the same packed in one table for the native step's Model view (one pointer in the CUDA
  # kernel parameters): per field size[0..3], nrow, ncol, index of its first elevation here, 0; then
  # the elevations (kernels/collision_convex.h)
  hfield_table: wp.array = None     # (8 * nhfield + nhfielddata,) float
  # collision: static candidate pairs and contact capacity (pairs.CollisionPairs)
  collision: object = None
  # derived flags used to skip work
  device: str = "cpu"
  has_gravcomp: bool = False
  has_damping: bool = False

  @property
  def sensor_names(self) -> list:
    """Name of each sensor (index -> name, "" when unnamed)."""
    return self.names.get("sensor", [])

  def sensor_columns(self, name: str) -> slice:
    """The columns of sensor `name` in sensordata (sensor_adr .. sensor_adr + sensor_dim)."""
    names = self.sensor_names
    if name not in names:
      known = ", ".join(repr(n) for n in names if n) or "none"
      raise KeyError(f"the model has no sensor named {name!r}; its named sensors: {known}")
    i = names.index(name)
    adr = int(self.host["sensor_adr"][i])
    return slice(adr, adr + int(self.host["sensor_dim"][i]))

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


# ---- Data: one declaration per field ---------------------------------------------------------
#
# Every array of Data and of its containers (contacts, constraint rows, the collision stage's
# buffers) is declared once below, as a `Field`: name, symbolic shape, Warp dtype, role and
# meaning. Everything else reads these declarations: io.make_data allocates from them (shapes
# resolved by io.data_sizes), checkpoint.STATE is the "state" fields, the native backend's
# WORKSPACE_FIELDS the "workspace" ones, Simulator.__dir__ the Data arrays, and
# tests/test_architecture.py checks the C++ layout (kernels/types.h) against them.

class Role(enum.StrEnum):
  """What a Data field is, which decides who allocates, resets, saves or shares it."""
  STATE = "state"          # the simulation state: what reset sets and a checkpoint saves
  DERIVED = "derived"      # computed from the state by forward / step, one row per world
  WORKSPACE = "workspace"  # intermediate result of one world's step, read by nothing after it:
  #                          with Simulator(workspace="thread") its leading "nworld" axis is the
  #                          workspace rows (one per thread, native backend)
  SCRATCH = "scratch"      # buffers of the Warp collision stage (per world, or a pool); the native
  #                          step keeps them on each thread's stack
  COUNTER = "counter"      # events summed over all worlds and steps (reset leaves it)
  SIZE = "size"            # an int of the container: the size of that name (io.data_sizes)
  GROUP = "group"          # a container of further fields (dtype: its class; fields: its members)


# short names for the declarations below
STATE, DERIVED, WORKSPACE, SCRATCH, COUNTER = (Role.STATE, Role.DERIVED, Role.WORKSPACE, Role.SCRATCH,
                                               Role.COUNTER)

# Simulator(layout=...): "world" (default) stores every per-world array world-major, (nworld, ...).
# "tiled" (native backend, workspace="world") stores the per-world arrays of TILED_ROLES in tiles
# of LAYOUT_TILE consecutive worlds, [tile][scalar][lane] (kernels/types.h WorldArray), their
# leading axis padded to a multiple of LAYOUT_TILE: a warp's access to one scalar of its 32
# worlds is one 128-byte line instead of 32. Only the workspace is tiled: the state, the derived
# quantities (poses, contacts, forces, sensordata) and the banks are what users, envs, reset and
# checkpoints read and write zero-copy per world, so they stay world-major.
LAYOUTS = ("world", "tiled")
LAYOUT_TILE = 32  # worlds per tile: a CUDA warp
TILED_ROLES = frozenset({Role.WORKSPACE})

# Simulator(workspace="group") (the fused lane-group step, pywarp_sim.simt.step): the per-world
# arrays of GROUP_SLOT_ROLES (everything a step derives: poses, com quantities, the mass matrix
# and its factors, contacts, constraint rows, forces, solver and integrator scratch) hold one row
# per resident group slot instead of one per world, and a world keeps its state (Role.STATE),
# its health flags and the arrays named in keep=. That the state is all a step carries is
# measured, not assumed: every array the step reads before writing it is a Role.STATE field or a
# health flag (pywarp_sim.simt.step_footprint; tests/test_simt_step.py checks it).
GROUP_SLOT_ROLES = frozenset({Role.DERIVED, Role.WORKSPACE, Role.SCRATCH})


@dataclasses.dataclass(frozen=True)
class Field:
  """The declaration of one member of Data or of one of its containers.

  shape: symbolic, a tuple of size names or expressions of them (io.data_sizes: nworld, nq, nv,
    nbody, ..., nv_pad = io.padded_nv(nv), max(nv, 1) up to whole 32-byte sectors, ...);
    per-world arrays start with "nworld", which is the workspace rows for a Role.WORKSPACE field
    with Simulator(workspace="thread"). () for a Role.SIZE or Role.GROUP.
  dtype: the Warp dtype of an element (wp.float32, wp.int32, wp.vec3, wp.mat33, ...); int for a
    Role.SIZE; the container class for a Role.GROUP.
  role: a Role.
  doc: units and meaning.
  init: the initial value of every element: "zero", "identity" (unit quaternion (1, 0, 0, 0),
    identity matrix), or the name of a Model table (Model.host) that starts each world's row
    (zero-padded to the row).
  alias: for a member that is another member's array (the same memory): that member's name in
    the enclosing container.
  when: for a group: the size that must be > 0 for it to be allocated (else it is None).
  fields: for a group: its members.
  """
  name: str
  shape: tuple
  dtype: object
  role: Role
  doc: str = ""
  init: str = "zero"
  alias: str = ""
  when: str = ""
  fields: tuple = ()

  def __post_init__(self):
    object.__setattr__(self, "role", Role(self.role))  # ValueError for an unknown role


def _array(shape: tuple, dtype, role: Role, doc: str = "", init: str = "zero"):
  """A dataclass member declared by its Field (the member's name fills Field.name)."""
  return dataclasses.field(metadata={"field": Field("", shape, dtype, role, doc, init)})


def _size(doc: str):
  return dataclasses.field(metadata={"field": Field("", (), int, Role.SIZE, doc)})


def _group(cls, doc: str, when: str = ""):
  return dataclasses.field(metadata={"field": Field("", (), cls, Role.GROUP, doc, when=when,
                                                    fields=fields_of(cls))})


def fields_of(cls) -> tuple:
  """The Fields of a container class, in declaration order: a dataclass declared with the
  helpers above, or a Warp struct made by `_warp_struct`."""
  if dataclasses.is_dataclass(cls):
    return tuple(dataclasses.replace(f.metadata["field"], name=f.name) for f in dataclasses.fields(cls))
  return cls.fields


def _warp_struct(name: str, fields: tuple, doc: str):
  """A Warp struct (for kernels that take the whole buffer) with one array member per Field."""
  annotations = {f.name: wp.array(dtype=f.dtype, ndim=len(f.shape)) for f in fields}
  cls = type(name, (), {"__annotations__": annotations, "__doc__": doc, "__module__": __name__,
                        "__qualname__": name})
  struct = wp.struct(cls)
  struct.fields = fields
  return struct


vec5 = wp.types.vector(length=5, dtype=wp.float32)

# Narrowphase slots: each candidate pair writes its contacts into its own slots
# [pair.slot, pair.slot + pair.maxcon) of its world's row (no atomics), compacted into Contacts.
SLOT_FIELDS = (
  Field("dist", ("nworld", "nslot_pad"), wp.float32, SCRATCH, "m, negative = penetration"),
  Field("pos", ("nworld", "nslot_pad"), wp.vec3, SCRATCH, "m: midpoint between the surfaces"),
  Field("normal", ("nworld", "nslot_pad"), wp.vec3, SCRATCH, "from geom 1 to geom 2"),
  Field("tangent", ("nworld", "nslot_pad"), wp.vec3, SCRATCH, "first frame tangent, zero when unset"),
)
SlotBuffer = _warp_struct("SlotBuffer", SLOT_FIELDS, "Per-pair contact slots of the narrowphase "
                          "(collision_primitive); rows are worlds. Members: types.SLOT_FIELDS.")

# EPA scratch pool of the convex collider (collision_convex): polytopes live in a global pool of
# slots taken by the convex pairs that need one in a step, EPA_SLOTS_PER_WORLD per world on
# average and at least EPA_MIN_SLOTS in all (io.data_sizes: epa_nslot); a step that runs out
# sets the world's Contacts.epa_overflow flag instead of silently dropping the contact.
EPA_SLOTS_PER_WORLD = 4  # average EPA polytopes per world per step (pool of nworld * this)
# Floor of the pool: a small batch of a dense scene (a humanoid among 100 touching objects
# needs 7 polytopes in one world) would overflow an average sized for large batches.
EPA_MIN_SLOTS = 256
NCYLPOLY = 16  # vertices of a cylinder cap in multicontact; a slot's rows double as polygon
#                buffers (a clipped 16-gon has up to 2 * NCYLPOLY vertices)

EPA_FIELDS = (
  Field("vert1", ("epa_nslot", "epa_nvert"), wp.vec3d, SCRATCH, "polytope vertices on geom 1, m"),
  Field("vert2", ("epa_nslot", "epa_nvert"), wp.vec3d, SCRATCH, "polytope vertices on geom 2, m"),
  Field("vert", ("epa_nslot", "epa_nvert"), wp.vec3d, SCRATCH,
        "vertices of the Minkowski difference, m"),
  Field("face_verts", ("epa_nslot", "epa_nface"), wp.vec3i, SCRATCH, "vertex ids of each face"),
  Field("face_adj", ("epa_nslot", "epa_nface"), wp.vec3i, SCRATCH, "adjacent face of each edge"),
  Field("face_v", ("epa_nslot", "epa_nface"), wp.vec3d, SCRATCH,
        "projection of the origin on each face's plane"),
  Field("face_dist2", ("epa_nslot", "epa_nface"), wp.float64, SCRATCH,
        "squared distance of each face's plane to the origin"),
  Field("face_index", ("epa_nslot", "epa_nface"), wp.int32, SCRATCH,
        "position in the map, -1 not in the map, -2 deleted"),
  Field("face_map", ("epa_nslot", "epa_nface"), wp.int32, SCRATCH,
        "the live faces (searched for the closest)"),
  Field("hzn_face", ("epa_nslot", "epa_nface"), wp.int32, SCRATCH, "horizon faces"),
  Field("hzn_edge", ("epa_nslot", "epa_nface"), wp.int32, SCRATCH, "horizon edges"),
  Field("stack", ("epa_nslot", "epa_nface"), wp.vec3i, SCRATCH, "horizon search: face, edge, next child"),
  Field("counter", (1,), wp.int32, SCRATCH, "slots taken this step"),
  Field("overflow", ("nworld",), wp.int32, SCRATCH, "Contacts.epa_overflow", alias="epa_overflow"),
)
EpaScratch = _warp_struct("EpaScratch", EPA_FIELDS, "Pool of EPA polytopes (collision_convex); rows "
                          "are slots. Members: types.EPA_FIELDS.")


@dataclasses.dataclass
class Contacts:
  """Contacts of the last collision pass, per world (MuJoCo's d.contact, batched).

  The first ncon[w] entries of row w are valid, in MuJoCo's pair order; capacity is
  nconmax (arrays are allocated with at least one column: ncon_pad). Units SI; frame rows are
  the normal (from geom[0] to geom[1]) and two tangents, as MuJoCo's contact.frame.
  """
  nworld: int = _size("worlds")
  nconmax: int = _size("contact capacity per world (Model.collision.nconmax)")
  ncon: wp.array = _array(("nworld",), wp.int32, DERIVED, "contacts found")
  dist: wp.array = _array(("nworld", "ncon_pad"), wp.float32, DERIVED, "m; negative = penetration")
  pos: wp.array = _array(("nworld", "ncon_pad"), wp.vec3, DERIVED, "m: midpoint between the surfaces")
  frame: wp.array = _array(("nworld", "ncon_pad"), wp.mat33, DERIVED, "rows normal, tangent1, tangent2")
  includemargin: wp.array = _array(("nworld", "ncon_pad"), wp.float32, DERIVED,
                                   "m: the contact is active when dist < this")
  friction: wp.array = _array(("nworld", "ncon_pad"), vec5, DERIVED,
                              "tangent1, tangent2, spin, roll1, roll2")
  solref: wp.array = _array(("nworld", "ncon_pad"), wp.vec2, DERIVED)
  solreffriction: wp.array = _array(("nworld", "ncon_pad"), wp.vec2, DERIVED)
  solimp: wp.array = _array(("nworld", "ncon_pad"), vec5, DERIVED)
  dim: wp.array = _array(("nworld", "ncon_pad"), wp.int32, DERIVED, "condim 1, 3, 4 or 6")
  geom: wp.array = _array(("nworld", "ncon_pad"), wp.vec2i, DERIVED,
                          "geom ids, geom[0] has the smaller type")
  exclude: wp.array = _array(("nworld", "ncon_pad"), wp.int32, DERIVED,
                             "1 when in the gap (dist >= includemargin): no constraint rows")
  pair: wp.array = _array(("nworld", "ncon_pad"), wp.int32, DERIVED, "candidate pair id in m.collision")
  overflow: wp.array = _array(("nworld",), wp.int32, DERIVED,
                              "1 if the world found more than nconmax contacts since the step began")
  overflow_count: wp.array = _array((1,), wp.int32, COUNTER, "(world, step) overflows so far")
  epa_overflow: wp.array = _array(("nworld",), wp.int32, SCRATCH,
                                  "1 when a convex pair of this collision pass found no free EPA "
                                  "scratch slot (counted as overflow)")
  slots: SlotBuffer = _group(SlotBuffer, "narrowphase slots (SLOT_FIELDS)")
  pair_ncon: wp.array = _array(("nworld", "npair_pad"), wp.int32, SCRATCH, "contacts of each pair")
  convex_scratch: EpaScratch = _group(EpaScratch, "EPA pool (EPA_FIELDS) when the model has convex pairs",
                                      when="nconvex")


@dataclasses.dataclass
class ConstraintData:
  """Constraint rows and solver state per world (MuJoCo's efc_* fields). The first nefc[w]
  rows of world w are valid; nefc_max is the worst case (io.rows_capacity)."""
  nefc_max: int = _size("row capacity per world")
  nefc: wp.array = _array(("nworld",), wp.int32, DERIVED, "rows in use")
  ne: wp.array = _array(("nworld",), wp.int32, DERIVED, "equality rows (the first ne rows)")
  efc_type: wp.array = _array(("nworld", "nefc_max"), wp.int32, WORKSPACE, "ConstraintType")
  efc_id: wp.array = _array(("nworld", "nefc_max"), wp.int32, WORKSPACE,
                            "equality, dof, joint, tendon or contact index")
  efc_J: wp.array = _array(("nworld", "nefc_max", "nv_pad"), wp.float32, WORKSPACE, "constraint Jacobian")
  efc_pos: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "violation, m or rad")
  efc_margin: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "m or rad")
  efc_frictionloss: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "N or N m")
  efc_D: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "1 / R")
  efc_R: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "regulariser")
  efc_K: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE,
                           "stiffness * impedance (0 for friction)")
  efc_B: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "damping")
  efc_vel: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "J qvel")
  efc_aref: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "reference acceleration")
  efc_jdotv: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE,
                               "Jdot qvel of equality rows (mj_Jdotv), m/s^2")
  efc_force: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "constraint force")
  efc_dim: wp.array = _array(("nworld", "nefc_max"), wp.int32, WORKSPACE,
                             "condim on the first row of an elliptic contact")
  efc_coef: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE,
                              "elliptic cone: mu (first row), friction[j-1]")
  efc_cone_H: wp.array = _array(("nworld", "nefc_max", 6), wp.float32, WORKSPACE,
                                "elliptic cone Hessian block rows (solver)")
  efc_state: wp.array = _array(("nworld", "nefc_max"), wp.int32, WORKSPACE,
                               "0 satisfied, 1 quadratic, 2 linear, 3 cone")
  pgs_MinvJ: wp.array = _array(("nworld * 6", "nv_pad"), wp.float32, WORKSPACE,
                               "PGS: M^-1 J' of an elliptic block, 6 rows per world")
  efc_jv: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "solver scratch J * search")
  efc_jar: wp.array = _array(("nworld", "nefc_max"), wp.float32, WORKSPACE, "solver scratch J qacc - aref")
  H: wp.array = _array(("nworld", "nv_pad", "nv_pad"), wp.float32, WORKSPACE,
                       "solver Hessian / Cholesky factor")
  grad: wp.array = _array(("nworld", "nv_pad"), wp.float32, WORKSPACE, "cost gradient")
  Mgrad: wp.array = _array(("nworld", "nv_pad"), wp.float32, WORKSPACE, "preconditioned gradient")
  search: wp.array = _array(("nworld", "nv_pad"), wp.float32, WORKSPACE, "search direction")
  Ma: wp.array = _array(("nworld", "nv_pad"), wp.float32, WORKSPACE, "M qacc")
  solver_niter: wp.array = _array(("nworld",), wp.int32, DERIVED, "solver iterations of the last solve")
  converged: wp.array = _array(("nworld",), wp.int32, DERIVED, "1 when the last solve converged")


@dataclasses.dataclass
class Data:
  """Per-world state and derived quantities; the leading axis is the world.

  Each member is declared once with its shape, dtype, role and meaning (DATA_FIELDS lists them;
  roles: STATE, DERIVED, WORKSPACE, ...). State (what `reset` sets and a checkpoint saves):
  time, qpos, qvel, act, ctrl, qacc_warmstart, qfrc_applied, xfrc_applied and eq_active (reset
  to the model's eq_active0). Everything else is derived by `forward`.
  """
  nworld: int = _size("worlds")
  time: wp.array = _array(("nworld",), wp.float32, STATE, "s")
  qpos: wp.array = _array(("nworld", "nq"), wp.float32, STATE,
                          "joint positions, m or rad (free / ball: quaternion w, x, y, z)", init="qpos0")
  qvel: wp.array = _array(("nworld", "nv"), wp.float32, STATE, "dof velocities, m/s or rad/s")
  act: wp.array = _array(("nworld", "na_pad"), wp.float32, STATE, "actuator activations")
  ctrl: wp.array = _array(("nworld", "nu_pad"), wp.float32, STATE, "actuator controls")
  qacc: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "dof accelerations")
  qacc_warmstart: wp.array = _array(("nworld", "nv"), wp.float32, STATE,
                                    "the solver's warm start: qacc of the last step")
  act_dot: wp.array = _array(("nworld", "na_pad"), wp.float32, DERIVED, "activation time derivative")
  qfrc_applied: wp.array = _array(("nworld", "nv"), wp.float32, STATE, "applied dof forces, N or N m")
  xfrc_applied: wp.array = _array(("nworld", "nbody"), vec6, STATE,
                                  "applied body wrench: force (3), torque (3) at xipos, world frame")
  # kinematics
  xpos: wp.array = _array(("nworld", "nbody"), wp.vec3, DERIVED, "body frame position, m")
  xquat: wp.array = _array(("nworld", "nbody"), wp.vec4, DERIVED, "body frame orientation",
                           init="identity")
  xmat: wp.array = _array(("nworld", "nbody"), wp.mat33, DERIVED, "body frame orientation",
                          init="identity")
  xipos: wp.array = _array(("nworld", "nbody"), wp.vec3, DERIVED, "body com, m")
  ximat: wp.array = _array(("nworld", "nbody"), wp.mat33, DERIVED, "body inertia frame orientation",
                           init="identity")
  xanchor: wp.array = _array(("nworld", "njnt"), wp.vec3, WORKSPACE, "joint anchor, m")
  xaxis: wp.array = _array(("nworld", "njnt"), wp.vec3, WORKSPACE, "joint axis")
  geom_xpos: wp.array = _array(("nworld", "ngeom"), wp.vec3, DERIVED, "geom position, m")
  geom_xmat: wp.array = _array(("nworld", "ngeom"), wp.mat33, DERIVED, "geom orientation")
  site_xpos: wp.array = _array(("nworld", "nsite"), wp.vec3, DERIVED, "site position, m")
  site_xmat: wp.array = _array(("nworld", "nsite"), wp.mat33, DERIVED, "site orientation")
  # com-based quantities
  subtree_com: wp.array = _array(("nworld", "nbody"), wp.vec3, DERIVED, "subtree com, m")
  subtree_mass: wp.array = _array(("nworld", "nbody"), wp.float32, DERIVED, "subtree mass, kg")
  cinert: wp.array = _array(("nworld", "nbody"), vec10, WORKSPACE, "com-based body inertia")
  cdof: wp.array = _array(("nworld", "nv"), vec6, WORKSPACE, "com-based dof motion axis")
  cvel: wp.array = _array(("nworld", "nbody"), vec6, DERIVED, "com-based body velocity")
  cdof_dot: wp.array = _array(("nworld", "nv"), vec6, WORKSPACE, "time derivative of cdof")
  cacc: wp.array = _array(("nworld", "nbody"), vec6, WORKSPACE,
                          "RNE: bias acceleration (with qacc after the solve when a sensor needs it)")
  cfrc_int: wp.array = _array(("nworld", "nbody"), vec6, WORKSPACE,
                              "RNE: bias force (the interaction force after the solve when a sensor needs it)")
  crb: wp.array = _array(("nworld", "nbody"), vec10, WORKSPACE, "composite rigid-body inertia")
  # mass matrix
  qM: wp.array = _array(("nworld", "nv", "nv"), wp.float32, WORKSPACE,
                        "mass matrix, dense symmetric, with armature")
  qLD: wp.array = _array(("nworld", "nv", "nv"), wp.float32, WORKSPACE,
                         "L'DL factor of qM in tree sparsity (lower part)")
  qLDiagInv: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "1 / diag(D) of qLD")
  qH: wp.array = _array(("nworld", "nv", "nv"), wp.float32, WORKSPACE,
                        "factor of M - h * dqfrc/dqvel (implicit integrators)")
  qHDiagInv: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "1 / diag(D) of qH")
  # forces
  actuator_length: wp.array = _array(("nworld", "nu_pad"), wp.float32, DERIVED, "m or rad")
  actuator_velocity: wp.array = _array(("nworld", "nu_pad"), wp.float32, DERIVED, "m/s or rad/s")
  actuator_force: wp.array = _array(("nworld", "nu_pad"), wp.float32, DERIVED, "N or N m")
  qfrc_bias: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "Coriolis, centrifugal, gravity")
  qfrc_spring: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "joint and tendon springs")
  qfrc_damper: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "joint and tendon dampers")
  qfrc_gravcomp: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "gravity compensation")
  qfrc_passive: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "all passive forces")
  qfrc_actuator: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "actuator forces")
  qfrc_smooth: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "all forces but constraints")
  qacc_smooth: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "unconstrained acceleration")
  qfrc_constraint: wp.array = _array(("nworld", "nv"), wp.float32, DERIVED, "constraint forces")
  # integrator scratch (RK4 stages, implicit solves)
  qpos_t0: wp.array = _array(("nworld", "nq"), wp.float32, WORKSPACE, "qpos at the start of the step")
  qvel_t0: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "qvel at the start of the step")
  act_t0: wp.array = _array(("nworld", "na_pad"), wp.float32, WORKSPACE, "act at the start of the step")
  rk_dqvel: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "RK4: sum of B_j * qvel_j")
  rk_dqacc: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "RK4: sum of B_j * qacc_j")
  rk_dact: wp.array = _array(("nworld", "na_pad"), wp.float32, WORKSPACE, "RK4: sum of B_j * act_dot_j")
  qfrc_scratch: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "integrator scratch")
  qacc_scratch: wp.array = _array(("nworld", "nv"), wp.float32, WORKSPACE, "integrator scratch")
  ten_length: wp.array = _array(("nworld", "ntendon_pad"), wp.float32, DERIVED, "tendon length, m or rad")
  ten_velocity: wp.array = _array(("nworld", "ntendon_pad"), wp.float32, DERIVED,
                                  "tendon velocity, m/s or rad/s")
  # sensors (mj_sensorPos / mj_sensorVel / mj_sensorAcc) and what they need beyond the dynamics
  sensordata: wp.array = _array(("nworld", "nsensordata_pad"), wp.float32, DERIVED,
                                "sensor values in MuJoCo's layout (Model.sensor_adr, sensor_dim), SI units")
  subtree_linvel: wp.array = _array(("nworld", "nbody"), wp.vec3, WORKSPACE,
                                    "subtree com velocity, m/s (mj_subtreeVel, when a sensor needs it)")
  subtree_angmom: wp.array = _array(("nworld", "nbody"), wp.vec3, WORKSPACE,
                                    "subtree angular momentum about its com, kg m^2/s (mj_subtreeVel)")
  cfrc_ext: wp.array = _array(("nworld", "nbody"), vec6, WORKSPACE,
                              "com-based external force on each body: applied, contact, connect/weld "
                              "(mj_rnePostConstraint, when a sensor needs it)")
  eq_active: wp.array = _array(("nworld", "neq_pad"), wp.int32, STATE,
                               "equality constraint enabled (user-set)", init="eq_active0")
  contact: Contacts = _group(Contacts, "contacts of the last collision pass (CONTACT_FIELDS)")
  efc: ConstraintData = _group(ConstraintData, "constraint rows and solver state (EFC_FIELDS)")


DATA_FIELDS = fields_of(Data)
CONTACT_FIELDS = fields_of(Contacts)
EFC_FIELDS = fields_of(ConstraintData)

# What a reset of a world writes besides its state (every Role.STATE field, set to its `init`):
# fields zeroed because the next step reads them before writing them, or because a reset world
# must not report the old state's results (as mj_resetData clears them). Paths into Data;
# "efc.efc_jv" / "efc.efc_jar" only where the solver scratch is per world.
RESET_CLEARS = (
  "qacc", "act_dot",               # derived: shown until the next forward / step
  "contact.ncon", "contact.overflow", "efc.nefc",  # the old state's contacts and rows are dropped
  "efc.efc_jv", "efc.efc_jar",     # solver scratch: its first cost evaluation reads them (times 0)
)


def reset_fields() -> tuple:
  """(path, Field) of everything a reset writes, in declaration order: the Role.STATE fields of
  Data (to their `init`), then RESET_CLEARS (to zero)."""
  by_path = {f.name: f for f in DATA_FIELDS}
  by_path.update({f"contact.{f.name}": f for f in CONTACT_FIELDS})
  by_path.update({f"efc.{f.name}": f for f in EFC_FIELDS})
  state = tuple((f.name, f) for f in DATA_FIELDS if f.role == Role.STATE)
  unknown = [p for p in RESET_CLEARS if p not in by_path]
  if unknown:
    raise AssertionError(f"types.RESET_CLEARS names no Data field: {unknown}")
  return state + tuple((p, dataclasses.replace(by_path[p], init="zero")) for p in RESET_CLEARS)
