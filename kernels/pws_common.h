// Native-only: compiler glue (PWS_HD for nvcc and the host compiler) and the joint-type
// codes, which the Warp pipeline gets from Warp and types.py.
// Shared macros for the header-only kernels: compiled by the host C++ compiler
// (CPU backend, OpenMP) and by nvcc (CUDA backend) from the same source.
#pragma once

#if defined(__CUDACC__)
#define PWS_HD __host__ __device__
#else
#define PWS_HD
#endif

namespace pws {

// MuJoCo's joint type codes (mjtJoint); the compiled MjModel stores these in jnt_type.
enum JointType : int {
  kJointFree = 0,   // 7 qpos (pos, quat wxyz), 6 dofs (linear world vel, angular local vel)
  kJointBall = 1,   // 4 qpos (quat wxyz), 3 dofs (angular local vel)
  kJointSlide = 2,  // 1 qpos, 1 dof
  kJointHinge = 3,  // 1 qpos, 1 dof
};

// counter += value, safe when several worlds (OpenMP threads or CUDA threads) share the counter.
PWS_HD inline void atomic_add_int(int* counter, int value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(counter, value);
#else
  __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
#endif
}

}  // namespace pws
