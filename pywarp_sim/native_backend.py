"""backend="native": the fused C++/CUDA mj_step of kernels/forward.h over the Simulator's arrays.

The native step runs the whole pipeline of one world in one function (kinematics, com,
mass matrix and factor, collision over the static pair list, constraint rows, Newton / CG /
PGS, integrator, health flags, auto-reset) with the same algorithms and ordering as the Warp modules. It
reads and writes the Simulator's own Warp arrays through raw pointers (zero copy): the
pointer tables are built once, at Simulator creation, from the layout the compiled module
exports (`step_layout()`), and every array is checked against it (dtype, element width,
shape, contiguity, device).

* device "cpu": `pywarp_sim._native`, an OpenMP loop over worlds (see `set_num_threads`).
* device "cuda:N": `pywarp_sim._native_cuda`, one CUDA thread per world, launched on the
  current torch stream of the device, like the Simulator's Warp launches (no allocation, copy
  or synchronisation; capturable in a CUDA graph).

Geom pairs that need the GJK/EPA collider (collision_convex) run its port in
kernels/collision_convex.h + collision_gjk.h (float64, EPA scratch on each thread's stack: opt.ccd_iterations is
capped by the compiled `ccd_max_iterations`).

Not supported (a RuntimeError at Simulator creation says which): models without a collision
stage, ccd_iterations above that cap.

With `Simulator(..., workspace="thread")` the step's intermediate results (WORKSPACE_FIELDS:
com-frame dynamics quantities, mass-matrix factors, constraint rows, integrator scratch) have
`workspace_rows(device, model)` rows, 8 per OpenMP thread (one per lane of a lockstep group)
or one per resident CUDA thread, rather than one per world; a thread steps a world to the end
before its rows take the next one.

With `Simulator(..., layout="tiled")` the per-world arrays of TILED_FIELDS (the workspace) hold
tiles of LAYOUT_TILE worlds, [tile][scalar][lane] (kernels/types.h WorldArray): the step always
runs staged (set_staging), each world gathered from its tile into the stepping thread's buffer
and scattered back, so that on CUDA a warp's copies of one scalar of its 32 worlds coalesce;
`world_major(sim, name)` reads such an array back as (nworld, ...). The lane-group kernels
(pywarp_sim.simt) read world-major arrays only and refuse a tiled Simulator.

The tables hold the addresses of the arrays that exist at creation. Replacing a Model or
Data array afterwards (instead of writing into it) needs `refresh(sim)`; writes into the
arrays (sim.qpos[:] = ..., bank values) are seen by the next step as usual.
"""

from __future__ import annotations

import math

import mujoco
import torch
import warp as wp

from . import native
from .types import (CONTACT_FIELDS, DATA_FIELDS, EFC_FIELDS, GROUP_SLOT_ROLES, LAYOUT_TILE, TILED_ROLES, ConeType,
                    DisableBit, EqType, IntegratorType, Role, SolverType)

__all__ = ["require", "forward", "step", "refresh", "set_num_threads", "set_lanes", "set_staging",
           "stage_bytes", "stepper", "NativeStepper", "world_major", "TILED_FIELDS",
           "state_bytes_per_world", "workspace_rows", "WORKSPACE_FIELDS", "layout_name", "schema_field",
           "GROUP_SLOT_FIELDS", "slot_fields", "settings_fingerprint"]

# The native layout's names of Data fields (kernels/types.h): a Data field by its name, a
# contact field as con_<name>, a constraint field as efc_<name> (its own name where it starts
# with efc_, and pgs_MinvJ, which has no prefix).
_CONTAINERS = {"data": DATA_FIELDS, "contact": CONTACT_FIELDS, "efc": EFC_FIELDS}
_EFC_UNPREFIXED = ("pgs_MinvJ",)


def layout_name(container: str, name: str) -> str:
  """The native layout's name of field `name` of a Data container ("data", "contact", "efc")."""
  if container == "contact":
    return "con_" + name
  if container == "efc" and not (name.startswith("efc_") or name in _EFC_UNPREFIXED):
    return "efc_" + name
  return name


def _layout_index() -> dict:
  """{layout name: (container, Field)} of every Data array."""
  index = {}
  for container, fields in _CONTAINERS.items():
    for f in fields:
      if f.role in (Role.SIZE, Role.GROUP):
        continue
      key = layout_name(container, f.name)
      if key in index:
        raise ValueError(f"Data fields {index[key][0]}.{index[key][1].name} and {container}.{f.name} have "
                         f"the same native layout name '{key}'; rename one (types.py)")
      index[key] = (container, f)
  return index


_BY_LAYOUT_NAME = _layout_index()


def schema_field(name: str):
  """(container, types.Field) of the native layout's Data entry `name` (container "data",
  "contact" or "efc"), or None when no Data field has that layout name (the Simulator's health
  arrays)."""
  return _BY_LAYOUT_NAME.get(name)


# Layout names of the fields whose role is workspace (types.py): intermediate results of one
# world's step, recomputed from the state every step and read by nothing after it (joint
# frames and the com-frame quantities of the dynamics, the mass matrix and its factors,
# constraint rows and solver scratch, RK4 stage values). Simulator(workspace="thread")
# allocates them per thread. What stays per world: the state, contacts, poses, subtree_com,
# cvel, actuator quantities, the generalized forces, qacc and the solver's per-world counters.
WORKSPACE_FIELDS = frozenset(layout_name(container, f.name) for container, fields in _CONTAINERS.items()
                             for f in fields if f.role == Role.WORKSPACE)
# Layout names of the fields held per resident group slot with Simulator(workspace="group") unless
# kept (types.GROUP_SLOT_ROLES: everything a step derives).
GROUP_SLOT_FIELDS = frozenset(layout_name(container, f.name) for container, fields in _CONTAINERS.items()
                              for f in fields if f.role in GROUP_SLOT_ROLES)
# Layout names of the fields stored in tiles of worlds with layout="tiled" (types.TILED_ROLES).
TILED_FIELDS = frozenset(layout_name(container, f.name) for container, fields in _CONTAINERS.items()
                         for f in fields if f.role in TILED_ROLES)


def workspace_rows(device, model) -> int:
  """Rows of the per-thread solver workspace on `device`: 8 per OpenMP thread the CPU step may
  use (omp_get_max_threads(), i.e. OMP_NUM_THREADS or all cores), or the step kernel's
  resident threads on a GPU (occupancy x SMs)."""
  device = wp.get_device(device)
  require(device)
  if device.is_cuda:
    has_convex = bool(model.collision is not None and model.collision.nconvex)
    return int(native.module("cuda").resident_step_threads(device.ordinal, has_convex))
  cpu = native.module("cpu")
  return int(cpu.lanes) * max(1, int(cpu.openmp_max_threads()))


def _module_for(device):
  return native.module("cuda" if device.is_cuda else "cpu")


def _device_name(device) -> str:
  if device is None or not isinstance(device, str):
    device = wp.get_device(device)
    return "cpu" if device.is_cpu else f"cuda:{device.ordinal}"
  return device


def require(device) -> None:
  """Raises RuntimeError when backend="native" cannot run on `device` (None, a wp.Device or a
  name such as "cpu" / "cuda:0"), saying why: module not built, no CUDA, no such device."""
  name = _device_name(device)
  reason = native.unavailable_reason(name)
  module = native.module("cpu" if name == "cpu" else "cuda")
  if not reason and not hasattr(module, "StepPlan"):
    reason = ("the compiled native module predates the fused step (no StepPlan); rebuild with "
              "`make venv`")
  if reason:
    raise RuntimeError(f"backend='native' is unavailable on {name}: {reason}; use backend='warp'")


# ---- Python homes of the C++ table entries (kernels/types.h) -------------------------

def _model_array(m, name):
  if name.startswith("pair_"):
    return getattr(m.collision, name[len("pair_"):])
  if name in ("geom_rbound", "geom_aabb"):
    return getattr(m.collision, name)
  if name == "gravity":
    return m.opt.gravity
  return getattr(m, name)


def step_layout(sim) -> list:
  """The native step's array layout (kernels/types.h): [{name, group, width, count}]."""
  return _module_for(sim.device).step_layout()


def data_array(sim, name):
  """The Warp array behind the native layout's Data entry `name` (Data fields, contacts
  `con_*`, constraint rows `efc_*`: schema_field, and the Simulator's health arrays)."""
  d = sim.data
  extra = sim.health_arrays()  # health, last_reset, counters
  if name in extra:
    return extra[name]
  found = schema_field(name)
  if found is None:
    raise KeyError(f"native layout entry '{name}' is neither a Data field (types.py) nor a health array")
  container, f = found
  arr = getattr({"data": d, "contact": d.contact, "efc": d.efc}[container], f.name)
  if f.name == "pgs_MinvJ":
    # (rows * 6, nv_pad) in the Warp solver; the same memory seen as (rows, 6 * nv_pad)
    return arr.reshape((arr.shape[0] // 6, 6 * arr.shape[1]))
  return arr


def _sizes(sim) -> dict:
  m, d = sim.model, sim.data
  return dict(
    nq=m.nq, nv=m.nv, nu=m.nu, na=m.na, nbody=m.nbody, njnt=m.njnt, ngeom=m.ngeom, nsite=m.nsite,
    npair=m.collision.npair, nconmax=m.collision.nconmax, nefc_max=d.efc.nefc_max,
    nv_pad=int(d.efc.search.shape[1]), nu_pad=int(d.ctrl.shape[1]), na_pad=int(d.act.shape[1]),
    ncon_pad=int(d.contact.dist.shape[1]),
    ntendon=m.ntendon, nwrap=int(m.wrap_jnt.shape[0]), ntendon_pad=int(d.ten_length.shape[1]),
    nsensor=m.nsensor, nsensordata_pad=int(d.sensordata.shape[1]),
    nmesh=int(m.mesh_vertadr.shape[0]), nmeshvert=int(m.mesh_vert.shape[0]),
    nmeshgraph=int(m.mesh_graph.shape[0]), nmeshpoly=int(m.mesh_polyvertadr.shape[0]),
    nmeshpolyvert=int(m.mesh_polyvert.shape[0]), nmeshpolymap=int(m.mesh_polymap.shape[0]),
    nmeshface=int(m.mesh_face.shape[0]), nhfieldtable=int(m.hfield_table.shape[0]),
    nmeshhullnbr=int(m.mesh_hullnbrid.shape[0]),
    neq=m.neq, neq_pad=int(d.eq_active.shape[1]), neqdata=int(m.eq_data.shape[1]),
  )


def _options(sim) -> tuple:
  m = sim.model
  o = m.opt
  mjo = m.mj_model.opt

  def on(bit):
    return 0 if o.disabled(bit) else 1

  pairs = m.collision
  contacts_off = o.disabled(DisableBit.CONTACT) or o.disabled(DisableBit.CONSTRAINT)
  ints = dict(
    integrator=int(o.integrator),
    implicit_damping=int(m.has_damping and not o.disabled(DisableBit.EULERDAMP)
                         and not o.disabled(DisableBit.DAMPER)),
    cone_elliptic=int(o.cone == ConeType.ELLIPTIC), solver_type=int(o.solver),
    iterations=int(o.iterations), ls_iterations=int(o.ls_iterations),
    en_constraint=on(DisableBit.CONSTRAINT), en_friction=on(DisableBit.FRICTIONLOSS),
    en_limit=on(DisableBit.LIMIT), en_contact=on(DisableBit.CONTACT), en_spring=on(DisableBit.SPRING),
    en_damper=on(DisableBit.DAMPER), en_gravity=on(DisableBit.GRAVITY),
    en_clampctrl=on(DisableBit.CLAMPCTRL), en_warmstart=on(DisableBit.WARMSTART),
    en_actuation=on(DisableBit.ACTUATION), en_refsafe=on(DisableBit.REFSAFE),
    has_gravcomp=int(m.has_gravcomp),
    collision_on=int(not (pairs.disabled or contacts_off or pairs.npair == 0)),
    auto_reset=_auto_reset_mask(sim),
    # the convex collider reads MuJoCo's options, as collision_convex.narrowphase does
    ccd_iterations=int(mjo.ccd_iterations),
    multiccd=0 if int(mjo.disableflags) & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD) else 1,
    has_convex=int(pairs.nconvex > 0),
    en_sensor=int(m.nsensor > 0 and not o.disabled(DisableBit.SENSOR)),
    sensor_rne_post=int(m.sensor_rne_postconstraint), sensor_subtree_vel=int(m.sensor_subtree_vel),
    en_equality=int(m.neq > 0 and not o.disabled(DisableBit.EQUALITY)),
    en_island=on(DisableBit.ISLAND),
  )
  reals = dict(timestep=float(o.timestep), impratio=float(o.impratio), tolerance=float(o.tolerance),
               ls_tolerance=float(o.ls_tolerance), solver_scale=1.0 / (m.meaninertia * max(1, m.nv)),
               max_qvel=float(sim.max_qvel), ccd_tolerance=float(mjo.ccd_tolerance),
               magnetic_x=o.magnetic[0], magnetic_y=o.magnetic[1], magnetic_z=o.magnetic[2])
  return ints, reals


def _auto_reset_mask(sim) -> int:
  """ModelView.auto_reset: the Health bits that trigger a reset (Simulator.reset_on), 0: off."""
  return int(sim.reset_on) if sim.auto_reset else 0


def _fingerprint(sim) -> tuple:
  """Scalar settings the plan copied; compared before every call (cheap) to pick up changes."""
  o = sim.model.opt
  mjo = sim.model.mj_model.opt
  return (_auto_reset_mask(sim), sim.max_qvel, o.timestep, o.integrator, o.disableflags, o.cone, o.solver,
          o.iterations, o.ls_iterations, o.tolerance, o.ls_tolerance, o.impratio, int(mjo.disableflags),
          int(mjo.ccd_iterations), float(mjo.ccd_tolerance))


def settings_fingerprint(sim) -> tuple:
  """The scalar settings a plan copies into its tables (auto_reset mask, max_qvel, then the model's
  options): a plan compares it before a call and rebuilds (or, where only the first two changed,
  updates them in place)."""
  return _fingerprint(sim)


def check_model(m) -> None:
  """Raises RuntimeError for model features the fused native step does not implement: equality
  constraints of a type kernels/equality.h has no rows for (io.put_model rejects them for both
  backends; this keeps the native step safe for a Model built another way)."""
  if m.neq:
    known = {int(t) for t in EqType}
    for eqid, t in enumerate(m.eq_type.numpy()):
      if int(t) not in known:
        name = mujoco.mj_id2name(m.mj_model, mujoco.mjtObj.mjOBJ_EQUALITY, eqid) or f"#{eqid}"
        raise RuntimeError(f"backend='native' has no rows for equality constraint '{name}' of type "
                           f"{mujoco.mjtEq(int(t)).name} (kernels/equality.h: connect, weld, joint, tendon); "
                           f"use backend='warp'")


def _check_supported(sim) -> None:
  m = sim.model
  check_model(m)
  if m.collision is None or sim.data.contact is None or sim.data.efc is None:
    raise RuntimeError("backend='native' needs the model's collision pairs and the Data contact/efc "
                       "arrays (pywarp_sim.put_model builds them); use backend='warp'")
  if int(m.opt.integrator) not in (int(IntegratorType.EULER), int(IntegratorType.RK4),
                                   int(IntegratorType.IMPLICITFAST)):
    raise RuntimeError(f"backend='native' does not support integrator {m.opt.integrator}")
  if int(m.opt.solver) not in (int(SolverType.PGS), int(SolverType.CG), int(SolverType.NEWTON)):
    raise RuntimeError(f"backend='native' does not support solver {m.opt.solver}")
  pairs = m.collision
  cap = getattr(_module_for(sim.device), "ccd_max_iterations", None)
  if pairs.nconvex and cap is None:
    raise RuntimeError("backend='native': the compiled native module predates the convex (GJK/EPA) "
                       "collider this model needs; rebuild with `make venv`")
  if pairs.nconvex and int(m.mj_model.opt.ccd_iterations) > cap:
    raise RuntimeError(
      f"backend='native' keeps the GJK/EPA scratch of a convex geom pair on each thread's stack, sized "
      f"for opt.ccd_iterations <= {cap}; this model has ccd_iterations = "
      f"{int(m.mj_model.opt.ccd_iterations)} and {pairs.nconvex} convex pair(s). Lower ccd_iterations, "
      f"raise kCcdMaxIterations in kernels/collision_gjk.h and rebuild, or use backend='warp'")
  mjm = m.mj_model
  if int(m.hfield_table.shape[0]) > 1 << 24:
    raise RuntimeError(
      f"backend='native' indexes height-field elevations through a float table (exact up to 2^24 "
      f"entries); this model's height fields have {mjm.nhfielddata} elevations. Use smaller height "
      f"fields or backend='warp'")
  if pairs.nconvex and mjm.nmeshpoly and not int(mjm.opt.disableflags) & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD):
    npolyvert = int(mjm.mesh_polyvertnum.max())
    # kernels/collision_gjk.h kMaxPolyVert: the polygons share the EPA polytope's storage
    maxpoly = getattr(_module_for(sim.device), "max_poly_vert", None)
    if maxpoly is None:
      raise RuntimeError("backend='native': the compiled native module predates mesh multicontact "
                         "polygons in the EPA work buffer; rebuild with `make venv`")
    if npolyvert > maxpoly:
      raise RuntimeError(
        f"backend='native' clips mesh hull polygons of up to {maxpoly} vertices in each thread's "
        f"EPA work buffer (multicontact); this model has one of {npolyvert}. Lower the mesh's "
        f"maxhullvert, disable multiCCD, or use backend='warp'")


def _scalar_info(arr, name):
  """(scalar kind 'float'|'int', scalars per element) of a Warp array's dtype."""
  dtype = arr.dtype
  scalar = wp.to_torch(arr).dtype  # the scalar type of a (vector / matrix) Warp dtype
  kind = {torch.float32: "float", torch.int32: "int"}.get(scalar)
  if kind is None:
    raise RuntimeError(f"native backend: array '{name}' has dtype {dtype}; expected float32 or int32 data")
  return kind, int(wp.types.type_size(dtype))


def _address(arr) -> int:
  return int(arr.ptr) if arr.ptr else 0


def build_tables(sim, layout, keep: list | None = None, tiles: bool = False) -> tuple:
  """(ints, reals, model_arrays, data_arrays) for StepPlan, each array checked against `layout`.
  Every array referenced is appended to `keep` (the caller holds them while the plan lives).
  tiles: the caller steps staged and so reads tiled arrays (layout="tiled"); otherwise a tiled
  Simulator raises RuntimeError."""
  tiled = _tiled(sim)
  if tiled and not tiles:
    raise RuntimeError("this Simulator has layout='tiled' (workspace arrays in tiles of worlds); only the "
                       "staged native step reads them (the lane-group kernels of pywarp_sim.simt read one "
                       "world's arrays contiguously): build the Simulator with layout='world'")
  sizes = _sizes(sim)
  ints, reals = _options(sim)
  ints.update(sizes)
  device = sim.device
  nworld = sim.nworld
  nslot = _nslot(sim)
  slotted = slot_fields(sim)
  model_arrays, data_arrays = {}, {}
  for e in layout:
    name, group, width = e["name"], e["group"], int(e["width"])
    if group in ("size", "option_int", "option_real"):
      continue
    count = int(eval(e["count"], {"__builtins__": {}}, sizes))  # noqa: S307 - our own size expressions
    if group.startswith("model"):
      arr = _model_array(sim.model, name)
      where = f"Model array '{name}'"
    else:
      arr = data_array(sim, name)
      where = f"Data array '{name}'"
    if not isinstance(arr, wp.array):
      raise RuntimeError(f"native backend: {where} is {type(arr).__name__}, not a Warp array")
    if keep is not None:
      keep.append(arr)
    if arr.device != device:
      raise RuntimeError(f"native backend: {where} is on {arr.device}, the Simulator on {device}")
    if arr.size and not arr.is_contiguous:
      raise RuntimeError(f"native backend: {where} is not contiguous")
    kind, elem = _scalar_info(arr, name)
    want_kind = "int" if group.endswith("_int") else "float"
    if kind != want_kind:
      raise RuntimeError(f"native backend: {where} holds {kind} data, the kernel expects {want_kind}")
    if elem != width:
      raise RuntimeError(f"native backend: {where} has {elem} scalars per element, expected {width}")
    scalars = arr.size * elem
    if group == "model_bank":
      nbank = int(arr.shape[0])
      if nbank < 1 or scalars != nbank * count * width:
        raise RuntimeError(f"native backend: bank '{name}' has shape {arr.shape}; expected (nbank >= 1, "
                           f"{count}) of {width}-vectors")
      model_arrays[name] = (_address(arr), count * width, nbank)
    elif group in ("model_int", "model_float"):
      if scalars != count * width:
        raise RuntimeError(f"native backend: {where} has shape {arr.shape}; expected {count} elements of "
                           f"{width} scalars")
      model_arrays[name] = _address(arr)
    elif group == "global_int":
      if scalars < count:
        raise RuntimeError(f"native backend: {where} has {scalars} entries, expected {count}")
      data_arrays[name] = _address(arr)
    elif nslot and name in slotted:
      if arr.shape[0] != nslot or scalars != nslot * count * width:
        raise RuntimeError(f"native backend: workspace array '{name}' has shape {arr.shape}; expected "
                           f"(rows={nslot}, ...) with {count * width} scalars per row")
      data_arrays[name] = (_address(arr), count * width, nslot)
    elif tiled and name in TILED_FIELDS:
      padded = -(-nworld // LAYOUT_TILE) * LAYOUT_TILE
      if arr.shape[0] != padded or scalars != padded * count * width:
        raise RuntimeError(f"native backend: tiled {where} has shape {arr.shape}; expected (nworld padded "
                           f"to whole tiles = {padded}, ...) with {count * width} scalars per world")
      data_arrays[name] = (_address(arr), count * width, 0, LAYOUT_TILE)
    else:
      if arr.shape[0] != nworld or scalars != nworld * count * width:
        raise RuntimeError(f"native backend: {where} has shape {arr.shape}; expected (nworld={nworld}, ...) "
                           f"with {count * width} scalars per world")
      data_arrays[name] = (_address(arr), count * width, 0)
  return ints, reals, model_arrays, data_arrays


def _tiled(sim) -> bool:
  """Whether the Simulator's TILED_FIELDS hold tiles of worlds (layout="tiled")."""
  return getattr(sim, "layout", "world") == "tiled"


def world_major(sim, name: str) -> torch.Tensor:
  """A (nworld, ...) torch copy of the native layout's Data entry `name` (a Data field, con_*,
  efc_*: schema_field), in world order whatever the layout: for a tiled array (layout="tiled"),
  its [tile][scalar][lane] memory rearranged; otherwise a copy of its rows. Raises ValueError
  for a per-thread workspace array (workspace="thread": its rows are no world's)."""
  arr = data_array(sim, name)
  if name in slot_fields(sim):
    raise ValueError(f"'{name}' is workspace held per {sim.workspace} with workspace='{sim.workspace}' (its rows "
                     f"describe no particular world); build the Simulator with workspace='world'")
  t = wp.to_torch(arr, requires_grad=False)
  if _tiled(sim) and name in TILED_FIELDS:
    rows, scalars = t.shape[0], math.prod(t.shape[1:])
    t = t.reshape(rows // LAYOUT_TILE, scalars, LAYOUT_TILE).transpose(1, 2).reshape(t.shape)
  return t[:sim.nworld].clone()


def _nslot(sim) -> int:
  """Rows of the per-thread (workspace="thread") or per-group-slot (workspace="group") workspace
  (0: per world)."""
  if sim.workspace == "world":
    return 0
  return int(sim.data.qM.shape[0])


def slot_fields(sim) -> frozenset:
  """Layout names of the Simulator's Data arrays held in workspace rows rather than per world:
  WORKSPACE_FIELDS with workspace="thread"; GROUP_SLOT_FIELDS but the kept ones with
  workspace="group"; none with workspace="world"."""
  if sim.workspace == "thread":
    return WORKSPACE_FIELDS
  if sim.workspace == "group":
    kept = {layout_name(*p.split(".", 1)) if "." in p else p for p in sim.keep}
    return GROUP_SLOT_FIELDS - kept
  return frozenset()


class NativeStepper:
  """The compiled StepPlan of one Simulator; `num_threads` (CPU) is the OpenMP thread count,
  0 = OpenMP's default (OMP_NUM_THREADS or all cores)."""

  def __init__(self, sim, num_threads: int = 0):
    require(sim.device)
    _check_supported(sim)
    self.device = sim.device
    self.num_threads = int(num_threads)
    self.lanes = True  # CPU: lockstep groups of eight worlds (set_lanes)
    # each world steps inside a per-thread buffer (set_staging); always with tiled arrays
    self.staging = _tiled(sim)
    self._module = _module_for(sim.device)
    self.build(sim)

  def build(self, sim):
    # The plan holds raw addresses: keep every array alive while it is used, so an array the
    # user replaces is never freed under it (a replaced array is still stale: see refresh).
    keep = []
    tables = build_tables(sim, self._module.step_layout(), keep, tiles=True)
    if self.device.is_cuda:
      self.plan = self._module.StepPlan(*tables, sim.nworld, self.device.ordinal, _nslot(sim))
    else:
      self.plan = self._module.StepPlan(*tables, sim.nworld, _nslot(sim))
      self.plan.lanes = self.lanes
    self.plan.staging = self.staging
    self._fingerprint = _fingerprint(sim)
    self._arrays = keep

  def _sync_settings(self, sim):
    fp = _fingerprint(sim)
    if fp != self._fingerprint:
      if fp[2:] != self._fingerprint[2:]:
        _check_supported(sim)
        self.build(sim)  # model options changed: rebuild every table
      else:
        self.plan.set_runtime(_auto_reset_mask(sim), float(sim.max_qvel))
        self._fingerprint = fp

  def step(self, sim, nsteps: int):
    self._sync_settings(sim)
    if self.device.is_cuda:
      self.plan.step(int(nsteps), _torch_stream(sim))
    else:
      self.plan.step(int(nsteps), self.num_threads)

  def forward(self, sim):
    self._sync_settings(sim)
    if self.device.is_cuda:
      self.plan.forward(_torch_stream(sim))
    else:
      self.plan.forward(self.num_threads)

  def reset(self, sim, mask):
    """Simulator.reset of the worlds whose entry of `mask` (wp.array int32 (nworld,) on the
    Simulator's device) is set: kernels/forward.h's reset_world, the function the step's auto
    reset runs."""
    if self.device.is_cuda:
      self.plan.reset(mask.ptr, _torch_stream(sim))
    else:
      self.plan.reset(mask.ptr)


def _torch_stream(sim) -> int:
  """cudaStream_t of the current torch stream on the Simulator's device (where the Simulator
  queues its Warp work too)."""
  import torch
  return int(torch.cuda.current_stream(sim.torch_device).cuda_stream)


def stepper(sim) -> NativeStepper:
  """The NativeStepper of a Simulator(backend="native"), built on first use (at creation)."""
  st = sim.__dict__.get("_native_stepper")
  if st is None:
    if sim.backend not in ("native", "simt"):  # simt: forward and reset are the native step's
      raise RuntimeError(f"Simulator has backend='{sim.backend}', not 'native'")
    st = NativeStepper(sim)
    sim.__dict__["_native_stepper"] = st
  return st


def forward(sim) -> None:
  """Simulator.forward for backend="native"."""
  stepper(sim).forward(sim)


def step(sim, nsteps: int = 1) -> None:
  """Simulator.step for backend="native": nsteps of mj_step + health (+ auto_reset) per world."""
  if nsteps < 0:
    raise ValueError(f"nsteps must be >= 0, got {nsteps}")
  stepper(sim).step(sim, nsteps)


def reset(sim, mask) -> None:
  """Simulator.reset's state reset for backend="native": the worlds whose entry of mask
  (wp.array int32 (nworld,) on sim's device) is set."""
  stepper(sim).reset(sim, mask)


def refresh(sim) -> None:
  """Rebuilds the pointer tables (after Model or Data arrays were replaced by new arrays)."""
  st = stepper(sim)
  _check_supported(sim)
  st.build(sim)
  if "_simt_plan" in sim.__dict__:  # the lane-group step's tables (pywarp_sim.simt.plan)
    sim.__dict__["_simt_plan"].rebuild(sim)


def set_num_threads(sim, num_threads: int) -> None:
  """OpenMP threads of a CPU native Simulator's step (0 = OpenMP default)."""
  if num_threads < 0:
    raise ValueError(f"num_threads must be >= 0 (0 = OpenMP default), got {num_threads}")
  stepper(sim).num_threads = int(num_threads)


def set_solver_dense_loops(dense: bool) -> None:
  """CPU native constraint solver: with dense=True every Jacobian row, qM row and Newton factor
  row is read whole instead of over its nonzero span (kernels/solver.h's SolveSpans; the
  results are the same bit for bit, which tests/test_solver_sparsity.py checks). Process-wide
  (every CPU native Simulator); default False. The CUDA step always takes the spans."""
  native.module("cpu").set_solver_dense_loops(bool(dense))


def solver_dense_loops() -> bool:
  """Whether set_solver_dense_loops(True) is in effect."""
  return bool(native.module("cpu").solver_dense_loops())


def set_lanes(sim, enabled: bool) -> None:
  """CPU: run the smooth stages (kinematics, com, crb + factor, com_vel, rne) and the
  integrator's implicit solve of eight worlds at once, one SIMD lane per world (default on;
  used from 2 worlds per thread up, every integrator). The trajectories are the same bit for bit
  either way; off is the per-world path."""
  st = stepper(sim)
  if st.device.is_cuda:
    raise RuntimeError("set_lanes applies to the CPU native backend; the CUDA step runs one world per thread")
  st.lanes = bool(enabled)
  st.plan.lanes = st.lanes


def set_staging(sim, enabled: bool) -> None:
  """Each world steps inside a buffer of the thread stepping it (kernels/step_stage.h): its
  per-world Data copied in, the workspace arrays there without copying, copied back after its
  steps. On CUDA the buffer is the step kernel's local memory, which the hardware interleaves
  across a warp (coalesced where the Simulator's world-major arrays are not); at most
  `max_stage_bytes` (64 KiB) per world: with the humanoid that needs a lower nconmax and is
  meant with workspace="thread". On the CPU it is a per-thread heap block and runs the
  per-world path (not the lockstep groups). Off by default; the trajectories are the same bit
  for bit either way. Raises ValueError when the buffer would be too large, and when turning it
  off for a Simulator with layout="tiled" (its tiled arrays are read only staged)."""
  st = stepper(sim)
  if not enabled and _tiled(sim):
    raise ValueError("a Simulator with layout='tiled' steps staged only (its workspace arrays are in tiles "
                     "of worlds, which the stages cannot index); build it with layout='world' to step "
                     "unstaged")
  st.plan.staging = bool(enabled)  # the CUDA plan checks the size
  st.staging = bool(enabled)


def stage_bytes(sim) -> int:
  """Bytes of one world's staging buffer (set_staging)."""
  return int(stepper(sim).plan.stage_bytes)


def state_bytes_per_world(sim) -> dict:
  """Bytes per world of the arrays the native step reads or writes: {'data': per-world Data
  arrays (state, derived quantities and, with workspace="world", the solver workspace),
  'workspace': per-thread workspace arrays / nworld (0 with workspace="world"), 'model':
  shared Model arrays / nworld}."""
  layout = _module_for(sim.device).step_layout()
  slotted = slot_fields(sim)
  data = workspace = model = 0
  for e in layout:
    if e["group"].startswith("data"):
      nbytes = data_array(sim, e["name"]).capacity
      if e["name"] in slotted:
        workspace += nbytes
      else:
        data += nbytes
    elif e["group"].startswith("model"):
      model += _model_array(sim.model, e["name"]).capacity
  return {"data": data / sim.nworld, "workspace": workspace / sim.nworld, "model": model / sim.nworld}
