"""Warp functions for MuJoCo's rotation and spatial algebra.

Quaternions are wp.vec4 in MuJoCo's (w, x, y, z) order (not wp.quat, which is
(x, y, z, w)). Spatial vectors are (angular, linear); com inertias are vec10 in
MuJoCo's cinert layout.
"""

import warp as wp

from .types import vec10

MINVAL = 1e-15


@wp.func
def quat_mul(a: wp.vec4, b: wp.vec4) -> wp.vec4:
  return wp.vec4(
    a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
    a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
    a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
    a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
  )


@wp.func
def quat_conj(q: wp.vec4) -> wp.vec4:
  return wp.vec4(q[0], -q[1], -q[2], -q[3])


@wp.func
def quat_normalize(q: wp.vec4) -> wp.vec4:
  n = wp.length(q)
  if n < 1e-10:
    return wp.vec4(1.0, 0.0, 0.0, 0.0)
  return q / n


@wp.func
def quat_to_mat(q: wp.vec4) -> wp.mat33:
  q00 = q[0] * q[0]
  q01 = q[0] * q[1]
  q02 = q[0] * q[2]
  q03 = q[0] * q[3]
  q11 = q[1] * q[1]
  q12 = q[1] * q[2]
  q13 = q[1] * q[3]
  q22 = q[2] * q[2]
  q23 = q[2] * q[3]
  q33 = q[3] * q[3]
  return wp.mat33(
    q00 + q11 - q22 - q33, 2.0 * (q12 - q03), 2.0 * (q13 + q02),
    2.0 * (q12 + q03), q00 - q11 + q22 - q33, 2.0 * (q23 - q01),
    2.0 * (q13 - q02), 2.0 * (q23 + q01), q00 - q11 - q22 + q33,
  )


@wp.func
def rot_vec_quat(v: wp.vec3, q: wp.vec4) -> wp.vec3:
  return quat_to_mat(q) @ v


@wp.func
def axis_angle_to_quat(axis: wp.vec3, angle: float) -> wp.vec4:
  s = wp.sin(0.5 * angle)
  return wp.vec4(wp.cos(0.5 * angle), axis[0] * s, axis[1] * s, axis[2] * s)


@wp.func
def quat_integrate(q: wp.vec4, omega: wp.vec3, dt: float) -> wp.vec4:
  """mju_quatIntegrate: rotate q by the local angular velocity omega for dt."""
  n = wp.length(omega)
  axis = wp.vec3(1.0, 0.0, 0.0)
  if n > 1e-10:
    axis = omega / n
  qrot = axis_angle_to_quat(axis, n * dt)
  return quat_mul(quat_normalize(q), qrot)


@wp.func
def quat_to_vel(q: wp.vec4) -> wp.vec3:
  """mju_quat2Vel with dt = 1: rotation vector (axis * angle) of q."""
  axis = wp.vec3(q[1], q[2], q[3])
  s = wp.length(axis)
  if s < 1e-10:
    return wp.vec3(0.0)
  angle = 2.0 * wp.atan2(s, q[0])
  if angle > wp.pi:
    angle -= 2.0 * wp.pi
  return axis * (angle / s)


@wp.func
def sub_quat(qa: wp.vec4, qb: wp.vec4) -> wp.vec3:
  """mju_subQuat: rotation vector taking qb to qa, in qb's frame."""
  return quat_to_vel(quat_mul(quat_conj(qb), qa))


@wp.func
def motion_ang(v: wp.spatial_vector) -> wp.vec3:
  return wp.vec3(v[0], v[1], v[2])


@wp.func
def motion_lin(v: wp.spatial_vector) -> wp.vec3:
  return wp.vec3(v[3], v[4], v[5])


@wp.func
def spatial(ang: wp.vec3, lin: wp.vec3) -> wp.spatial_vector:
  return wp.spatial_vector(ang[0], ang[1], ang[2], lin[0], lin[1], lin[2])


@wp.func
def cross_motion(v: wp.spatial_vector, u: wp.spatial_vector) -> wp.spatial_vector:
  """mju_crossMotion: v x u for motion vectors."""
  w = motion_ang(v)
  return spatial(wp.cross(w, motion_ang(u)), wp.cross(w, motion_lin(u)) + wp.cross(motion_lin(v), motion_ang(u)))


@wp.func
def cross_force(v: wp.spatial_vector, f: wp.spatial_vector) -> wp.spatial_vector:
  """mju_crossForce: v x* f for a force vector f."""
  w = motion_ang(v)
  return spatial(wp.cross(w, motion_ang(f)) + wp.cross(motion_lin(v), motion_lin(f)), wp.cross(w, motion_lin(f)))


@wp.func
def mul_inert_vec(i: vec10, v: wp.spatial_vector) -> wp.spatial_vector:
  """mju_mulInertVec: com inertia times motion vector."""
  return wp.spatial_vector(
    i[0] * v[0] + i[3] * v[1] + i[4] * v[2] - i[8] * v[4] + i[7] * v[5],
    i[3] * v[0] + i[1] * v[1] + i[5] * v[2] + i[8] * v[3] - i[6] * v[5],
    i[4] * v[0] + i[5] * v[1] + i[2] * v[2] - i[7] * v[3] + i[6] * v[4],
    i[8] * v[1] - i[7] * v[2] + i[9] * v[3],
    i[6] * v[2] - i[8] * v[0] + i[9] * v[4],
    i[7] * v[0] - i[6] * v[1] + i[9] * v[5],
  )


@wp.func
def inert_com(inertia: wp.vec3, mat: wp.mat33, dif: wp.vec3, mass: float) -> vec10:
  """mju_inertCom: principal inertia rotated by mat, shifted by dif = xipos - com."""
  d = wp.diag(inertia)
  r = mat @ d @ wp.transpose(mat)
  return vec10(
    r[0, 0] + mass * (dif[1] * dif[1] + dif[2] * dif[2]),
    r[1, 1] + mass * (dif[0] * dif[0] + dif[2] * dif[2]),
    r[2, 2] + mass * (dif[0] * dif[0] + dif[1] * dif[1]),
    r[0, 1] - mass * dif[0] * dif[1],
    r[0, 2] - mass * dif[0] * dif[2],
    r[1, 2] - mass * dif[1] * dif[2],
    mass * dif[0], mass * dif[1], mass * dif[2], mass,
  )


@wp.func
def dof_com(axis: wp.vec3, offset: wp.vec3) -> wp.spatial_vector:
  """mju_dofCom for a rotational dof: (axis, axis x offset), offset = com - anchor."""
  return spatial(axis, wp.cross(axis, offset))


@wp.func
def point_jac_dot(cdof: wp.spatial_vector, point_minus_com: wp.vec3, force: wp.vec3, torque: wp.vec3) -> float:
  """Generalised force of a world-frame force/torque at a point through one dof (J^T f)."""
  w = motion_ang(cdof)
  lin = motion_lin(cdof) + wp.cross(w, point_minus_com)
  return wp.dot(lin, force) + wp.dot(w, torque)
