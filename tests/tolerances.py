"""Every numerical tolerance of the tests, defined once, named by what it bounds, with the
reason that bounds it.

Unless marked otherwise a bound is on `oracle.rel_err(ours, ref)` = max |ours - ref| /
max(max |ref|, 1): relative for large quantities, absolute for small ones. "m" marks an
absolute distance in metres. The oracle is MuJoCo C (float64) fed the same float32 state,
unless the group says otherwise. Native and Warp run the same algorithms in the same float32
precision, so one bound serves both backends against MuJoCo C (tests/backends.py).
tests/test_architecture.py rejects a tolerance constant defined anywhere else.
"""

import mujoco

# ---------------------------------------------------------------------------------------------
# rounding alone (no algorithm in between)

# A float64 value stored in float32 (a model parameter, qpos0, a bank row scaled once, a learning
# rate broadcast as float32), or the same few float32 operations on O(1) values in another order
# (a PD law's ctrl, a reward sum, a velocity push, a friction mixed per contact on both backends,
# one PPO update's weights with the gradients all-reduced over two ranks): 2^-24 (6e-8) relative
# per operation; 1e-6 leaves ~8 ulps of 1.0 while any wrong term is off by >= 1e-4. An rtol, or
# an atol on values below ~4. Measured: 0 (ctrl, rewards, pushes, frictions: the same
# operations), 4e-8 relative (body_mass banks), 5e-8 (qpos0 after a reset), 1.3e-7 (viewer geom
# positions).
FLOAT32_ROUNDING_TOL = 1e-6
# A float64 result that equals another, or zero, in exact arithmetic (the same sum in another
# order; the curvature ratio of residuals linear in a parameter): rounding of 1e-16 relative,
# amplified at most by a finite difference's 1 / h^2 (1e4) here.
FLOAT64_ROUNDING_TOL = 1e-9
# |norm - 1| of a vector normalised in float32 (a contact frame's rows, a free joint's
# quaternion after the integrator's renormalisation): a few ulps (measured 0 on the quaternion);
# an unnormalised one is off by >= 1e-3.
UNIT_NORM_TOL = 1e-5
# s: simulation time after n float32 steps vs MuJoCo's float64 sum. The float32 timestep is off
# by <= 6e-8 relative and each addition rounds by half an ulp of t (<= 6e-8 s below 1 s);
# measured 8.9e-7 s after 200 steps, 0 after 2 (native). A missed or doubled step is off by a
# timestep (>= 1e-3 s).
TIME_TOL = 1e-5

# ---------------------------------------------------------------------------------------------
# float32 pipeline vs float64 MuJoCo C: kinematics, inertia, forces, accelerations (constraints
# disabled). Positions and rotations are a handful of chained transforms of O(1) values (a few
# ulps of 1.0 per body level); forces and inertias are sums over the tree. qacc goes through a
# tree LDL solve whose conditioning (mass ratios, armature) amplifies rounding; measured worst
# here is ~1e-5.

# m: xpos, xipos, xanchor, geom_xpos, subtree_com, ten_length, actuator_length. float32 eps
# (1.2e-7) x |xpos| (< 1.5 m) x chain depth (up to 6 bodies in the humanoid) ~ 1e-6 m; measured
# 2.3e-7 m (xanchor, humanoid, random states of test_smooth) on either backend, 8.5e-8 m on the
# stepped humanoid of test_mjdata, whose worlds' bodies are 0.2 m apart.
POS_TOL = 1e-6
# quaternion and rotation-matrix entries
ROT_TOL = 2e-6
# cinert, crb, qM, qLDiagInv, subtree_mass
INERTIA_TOL = 1e-5
# cvel, cdof, cdof_dot, ten_velocity, actuator_velocity
VEL_TOL = 1e-5
# qfrc_bias, qfrc_passive (spring, damper, gravcomp), qfrc_actuator, actuator_force, act_dot
FORCE_TOL = 1e-5
# qacc and qacc_smooth with constraints disabled (also qacc / qacc_warmstart after one mj_step);
# the issue's bound is 1e-3, target 1e-5
QACC_SMOOTH_TOL = 1e-4
# |qM x - b| of smooth.solve_m for b ~ N(0, 1) (absolute): the float32 LDL solve's rounding times
# the humanoid's mass-matrix conditioning (armature against limb inertias); measured 2.3e-5.
SOLVE_M_RESIDUAL_TOL = 1e-4

# pywarp_sim.native.integrate_pos vs mj_integratePos. float32 kernel: each output is a few
# multiply-adds (and one sin/cos) on O(1) values, so the error is a few float32 ulps of 1.0
# (1.2e-7 each); 2e-6 leaves ~16 ulps of margin while a wrong formula is off by >= 1e-3.
# float64 kernel: same operations as MuJoCo in the same order, only compiler reassociation may
# differ.
INTEGRATE_POS_F32_TOL = 2e-6
INTEGRATE_POS_F64_TOL = 1e-12

# ---------------------------------------------------------------------------------------------
# contacts (collision stage vs MuJoCo's d.contact)

# Analytic colliders in float32 from float32 poses against MuJoCo in float64: measured worst
# errors are ~2e-7 m and ~7e-6 in frame entries (capsule-box closest points); 1e-5 m / 1e-4
# leave margin for other poses while still catching any wrong branch. The same bounds hold from
# qpos, through our float32 kinematics, on either backend: measured worst 2.0e-7 m (dist),
# 3.7e-7 m (pos) on the falling humanoids, 1.2e-5 in the frame (capsule-box, 64 random poses);
# also the humanoid's contact states of test_contact (1.9e-7 m, 6.4e-7). A MuJoCo contact whose
# |dist| is below CONTACT_DIST_TOL touches: whether it exists is rounding-dependent.
CONTACT_DIST_TOL = 1e-5    # m
CONTACT_POS_TOL = 1e-5     # m
CONTACT_FRAME_TOL = 1e-4   # entries of the unit frame vectors
# m: a contact whose MuJoCo dist - includemargin lies within this band may be excluded (in the
# gap) on one side and not the other: the float32 rounding of dist (measured <= 2e-7 m above).
CONTACT_MARGIN_BAND_TOL = 1e-6
# Convex pairs whose sphere/capsule cores do not overlap take MuJoCo's GJK distance path, which
# MuJoCo 4.0 shares with the published source we ported (measured ~2e-8 m, 2e-5).
GJK_DIST_TOL = 1e-6        # m
GJK_FRAME_TOL = 1e-3
# Deep convex contacts come from EPA, which MuJoCo 4.0 changed ("improved numerical
# stability", source unpublished). Contact counts agree exactly (single-shot multicontact,
# see collision_convex); per contact, measured over 2 x 256 poses per pair: median depth error
# 4e-9..2e-7 m, 90th percentile <= 1e-5 m, worst 2.8e-2 m (a deep cylinder-box contact whose
# EPA ends on another face); positions 90th percentile <= 1.4e-4 m; normals of smooth deep
# contacts differ arbitrarily in rare states. These bounds check the same algorithm in the
# typical state, not bit parity.
EPA_DIST_TYPICAL_TOL = 1e-4     # m, for 85% of contacts
EPA_DIST_WORST_TOL = 5e-2       # m, for all contacts (was 1e-1 before single-shot contacts)
EPA_POS_TYPICAL_TOL = 1e-3      # m, for 85% of contacts
EPA_NORMAL_MEDIAN_TOL = 5e-3    # median over contacts of the worst normal entry
# Contact-count agreement with MuJoCo over random dropped or tumbling states (issue 19's goal
# for models that load): a fraction of states, not a distance. Height fields measured: every
# one of 128 dropped poses per geom type and margin (test_hfield), 300 of 300 sliding steps.
CONTACT_COUNT_AGREEMENT_MIN = 0.95
# Our convex contact's error against the exact (analytic) contact may exceed MuJoCo's own
# error by this much (EPA on a polytope approximates the same smooth surface).
CONVEX_EXACT_EXTRA_TOL = 1e-3   # m
# Single-shot contacts of aligned features in fixed poses: their depth and position follow from
# the clipped geometry (measured <= 2e-7 m), except along a cylinder's side, whose line passes
# through a rim vertex of the EPA face (measured <= 3e-4 m).
SINGLE_SHOT_TOL = 1e-5          # m, dist and pos
SINGLE_SHOT_EDGE_TOL = 1e-3     # m, dist and pos, cylinder side on a face

# ---------------------------------------------------------------------------------------------
# constraint rows (efc_*) and the solvers' qacc vs MuJoCo C, solvers run to convergence
# (iterations raised, tolerance tightened in both)

# Row data are float32 evaluations of MuJoCo's float64 formulas: rounding only (measured
# <= 4e-7 for J, pos and vel).
EFC_ROW_TOL = 1e-5
# efc_D (np.testing rtol) follows pos through the impedance: inside a narrow solimp width (the
# zoo's "elbow", 0.002) pos rounding is amplified (measured 1.2e-5).
EFC_D_RTOL = 1e-4
# efc_aref = -B vel - K imp pos: pos rounding (~1e-7 m on ~1 m coordinates) times K imp ~ 2.8e3
# (measured 1.5e-4 on equality rows, which are therefore compared with the residual below).
EFC_AREF_TOL = 1e-4
# Equality rows' aref after removing K imp dpos + B dvel (the rows' own pos/vel differences,
# checked by EFC_ROW_TOL): what remains is the Jdot qvel term and the coefficients (measured
# <= 7.7e-6; plain aref 1.5e-4).
EFC_AREF_RESIDUAL_TOL = 5e-5

# Newton converges to the unique optimum of MuJoCo's strictly convex cost: qacc and
# qfrc_constraint agree up to float32 rounding of the solve (measured <= 7e-6 with limits and
# dof friction; median 2e-6, max 2.5e-5 on contact states of the bundled humanoid). PGS with
# elliptic cones runs MuJoCo's sweep and reaches the same optimum (measured median 2e-6, max
# 1.4e-5). Per world, and for the median over contact states.
NEWTON_QACC_TOL = 1e-4
# Max over contact states of a converged solve (Newton, PGS elliptic, PGS with equality rows):
# measured up to 9e-5 on the humanoid's falling states (PGS elliptic, cold start) and 3e-4 on a
# 1.2 kg box resting on four contacts (Newton; mesh or primitive box alike, test_collision_mesh), so
# NEWTON_QACC_TOL would leave no margin there; PGS converges linearly.
CONVERGED_CONTACT_QACC_MAX_TOL = 1e-3
# CG in float32 stalls earlier than MuJoCo's float64 CG (the cost decrease reaches rounding
# level): measured <= 1e-3 with limits and dof friction.
CG_QACC_TOL = 5e-3
# The issue's acceptance bounds for constrained qacc over contact states: median and max over
# states. Used where a solver may stop on its iteration count (CG, PGS pyramidal, the models of
# PWS_EXTRA_MODELS nobody measured) and for convex (GJK/EPA) contacts. CG measured median
# 5.4e-6, max 2.1e-5 since its improvement test uses the line search's cancellation-free
# decrease (median 3e-4, max 2e-3 when it stopped on the float32 cost difference). Convex
# humanoids with Newton, measured median <= 2.8e-5, max 3.9e-3 (ball_humanoid self-touching,
# pyramidal: a deep cylinder-box edge contact whose line comes from the EPA polytope, where
# MuJoCo 4.0's changed EPA ends on a slightly different face, ~2e-4 m / 3e-3 in the normal, see
# collision_convex) and 1.4e-3 (limb_zoo falling, no convex contact: float32 rounding).
ISSUE_CONTACT_QACC_MEDIAN_TOL = 1e-3
ISSUE_CONTACT_QACC_MAX_TOL = 3e-2

# qacc / qfrc_constraint per world by solver, solvers converged: Newton's bound; CG stalls in
# float32; PGS (MuJoCo's sweep order, equality rows unprojected) converges linearly.
SOLVER_QACC_TOL = {
  mujoco.mjtSolver.mjSOL_NEWTON: NEWTON_QACC_TOL,
  mujoco.mjtSolver.mjSOL_CG: CG_QACC_TOL,
  mujoco.mjtSolver.mjSOL_PGS: CONVERGED_CONTACT_QACC_MAX_TOL,
}

# ---------------------------------------------------------------------------------------------
# native vs Warp (the same float32 algorithms; bitwise comparisons use assert_array_equal)

# Convex (GJK/EPA) pairs: native and Warp run the same float64 code from the same float32
# poses. Measured over test_collision's poses (8 pair types x 64, 3 x 256 with margin):
# identical contact counts, dist and frames; positions within 1.5e-8 m (Warp's JIT contracts
# multiply-adds, the native build does not). One exception: a cylinder cap clipped by a face
# leaves a polygon of up to 20 vertices, and polygonQuad's greedy search for its largest
# quadrilateral compares areas that are equal in exact arithmetic (a regular 16-gon), so
# rounding at 1e-9 m sends it to a different four vertices (MuJoCo's heuristic does this too:
# 23 of 500 random clipped caps perturbed by 1e-9 m). Seen in 4 of 256 cylinder-box worlds with
# margin (corners up to 0.1 m apart); there the count, the depths and the frame must agree, the
# corners may not.
NATIVE_WARP_CONVEX_TOL = 1e-6               # m, dist and pos; entries of the frame
NATIVE_WARP_QUAD_TIES_FRACTION_TOL = 0.03   # fraction of worlds where polygonQuad keeps other corners
# efc_J and efc_pos rows (tendon limits and frictionloss, contacts, joint limits), native vs Warp:
# the same float32 formulas, so only the order of a sum may differ (a few ulps of O(1) entries);
# measured identical on the tendon models' contact states.
NATIVE_WARP_ROW_TOL = 1e-6
# Every field users read (qpos, qvel, qacc, poses, forces), native vs Warp after 20 steps of a
# flailing humanoid batch (controls uniform in +-1) and 2 steps after a reset: contact steps let
# float32 differences grow as CONTACT_TRAJ_*; measured worst 1.3e-4 (20 steps), 9.8e-7 (2 steps).
NATIVE_WARP_STEPPED_FIELDS_TOL = 1e-3
# |qvel| difference, native vs Warp, after 210 steps of one flailing humanoid (the world whose
# Newton line search once sent qacc to 3e16): measured 1.1e-4 (Newton), 3.9e-4 (CG). The motion
# is chaotic, so the bound is a regression check on a blow-up, not on rounding.
NATIVE_WARP_FLAILING_QVEL_TOL = 1e-2
# Native CUDA vs native CPU, 20 steps from falling humanoid states (the same code; libm and
# fused operations may differ): qpos, qvel (oracle.rel_err). Not re-measured here (no GPU).
NATIVE_CUDA_CPU_QPOS_TOL = 1e-3
NATIVE_CUDA_CPU_QVEL_TOL = 1e-2
# RL environments, native vs Warp backend (tests/test_envs.py): the same seed, randomisation and
# actions over 6 env steps; observations (atol) and rewards (atol). Measured 2e-5 / 4e-7 when the
# backends summed in another order, identical in the current build.
NATIVE_WARP_ENV_OBS_TOL = 5e-4
NATIVE_WARP_ENV_REWARD_TOL = 1e-5

# ---------------------------------------------------------------------------------------------
# integration and trajectories vs mj_step

# 200 steps, constraints disabled: a float32 trajectory drifts from the float64 one as rounding
# errors (~1e-7 per step) are amplified by the dynamics; with gentle controls the measured
# drift after 200 steps is <= 4e-6 on these models, so 1e-4 catches any wrong term (a wrong
# integrator or missing force is off by >1e-2 within a few steps).
TRAJ_TOL = 1e-4
# Landing humanoid (contacts, limits, Newton), float32 vs MuJoCo's float64: measured worst
# 4e-6 (qpos) and 4e-5 (qvel) for both backends after 100 Euler / implicitfast steps and 50 RK4
# steps. RK4's stages see contacts at intermediate states, so after the landing its float32
# rounding grows fast, for Warp and native alike (~1e-2 in qvel at 100 steps): RK4 is compared
# at 50 steps. Also actuator_zoo's joint-limited trajectory (100 steps, measured 1.9e-7), and
# native vs Warp over stretches of contact steps (measured 9.5e-8 / 1.3e-5 over 3 steps with an
# auto-reset world).
CONTACT_TRAJ_QPOS_TOL = 1e-4
CONTACT_TRAJ_QVEL_TOL = 1e-3
# One step from MuJoCo's own state (converged solver): float32 rounding of one forward pass and
# integration, the qacc bounds above times the timestep. Measured <= 3.7e-5 on qvel, 2.6e-7 on
# qpos over 100 steps of every integrator on the four-bar biped (test_equality), but 5.4e-6 on
# qpos for ball_humanoid with RK4 on its contact trajectory (test_external_models, either
# backend), so the qpos bound stays 1e-5.
STEP_QPOS_TOL = 1e-5
STEP_QVEL_TOL = 1e-4
# 40 steps from MuJoCo's own contact states of the humanoid (test_contact), every integrator:
# contacts make the motion chaotic, so the drift grows fast; measured Euler and implicitfast
# 1.6e-6, RK4 2.2e-4 (qpos, either backend).
CONTACT_STATES_TRAJ_QPOS_TOL = 2e-3
# 100 free-running steps from a settled (standing, hopping or lying) state: a contact whose
# distance is within float32 rounding of 0 at some step (or at one of RK4's stages) exists in
# one simulator and not the other, and the impulse difference then grows chaotically (measured
# with one-step errors <= 1e-5 at every step: qvel differences up to 0.5 after a hop, qpos up to
# 1e-2). The free-running bound catches gross departures; the one-step bounds are the test.
FREE_TRAJ_QPOS_TOL = 5e-2

# ---------------------------------------------------------------------------------------------
# academy (calibration) and RL

# Zero sensor noise and a correct model: the optimum is the truth; float32 simulation against
# float64 MuJoCo C leaves < 1e-5 relative error (measured), so 0.5% is a safe bound that still
# fails for any real bias (the prior spread is 20-100%). On |log(estimate / truth)|.
CALIBRATION_RECOVERY_TOL = 0.005
# Ground friction on a noiseless proxy (floor phase, motions.floor_motions): measured errors
# 0.005% (TRUTH_F, SMALL_CFG), 0.004% and 0.34% (proxies of seeds 0 and 1, all seven
# parameters, quick configuration). The replay is not the limit (float32 vs float64 over the
# floor phase: 5e-5 rad/s); LM stops in the valley where all masses, motor strength, damping
# and armature scale together (calibrate.py), there up to 0.7% off, and friction moves with
# them. 1% keeps a 3x margin over the worst and still fails a friction left at nominal (22% off
# here). On |log(estimate / truth)|.
CALIBRATION_FRICTION_TOL = 0.01
# A robot's control loop replayed in pywarp_sim (float32) against MuJoCo C (float64,
# academy.proxy) on the same commands: joint positions (rad) and velocities (rad/s), or qpos.
# Held motions over 1 s measured 9.6e-7; the env's delayed PD loop against the robot's over
# 0.3 s with contacts measured 3.5e-5 (qpos). A wrong latency is off by > 1e-2.
ROBOT_REPLAY_TOL = 1e-3
# The floor phase (feet sliding on the floor): measured 3.2e-5 over 0.8 s (also with noise in
# the PD loop), where 1% more ground friction already shows as 8.5e-4.
FLOOR_REPLAY_TOL = 2e-4
# The claim that the floor phase's score is quadratic in the friction change: score / change^2
# at 0.1% and at 1% (relative difference); measured 1.5% here, within 2% on eight parameter sets.
FRICTION_SCORE_QUADRATIC_TOL = 0.1
# A policy's return on a robot (MuJoCo C) and on its true twin in pywarp_sim, relative to
# max(|return|, 1): float32 vs float64 over 1.5 s episodes; measured 6.4e-6 and 2.0e-6, while a
# nominal twin drops by more than 10x the true twin's drop.
TWIN_RETURN_DROP_TOL = 0.02

# ---------------------------------------------------------------------------------------------
# sensors (sensordata vs MuJoCo C after mj_forward / mj_step, per sensor; tests/test_sensor.py)

# Position-stage sensors (joint, tendon and actuator positions, frame positions, axes and
# quaternions, subtree com, magnetometer, clock): the kinematics' float32 rounding (POS_TOL,
# ROT_TOL) plus one transform; measured <= 2.5e-7 (sensor zoo and humanoid, both backends).
SENSOR_POS_TOL = 1e-5
# Velocity-stage sensors (gyro, velocimeter, frame velocities, subtree linear velocity and
# angular momentum): cvel's rounding (VEL_TOL) through a transform and subtree sums; measured
# <= 2.5e-7.
SENSOR_VEL_TOL = 1e-5
# Acceleration/force-stage sensors (accelerometer, force, torque, touch, frame accelerations,
# actuator and limit forces): qacc and efc_force of the converged solve (NEWTON_QACC_TOL) through
# the post-constraint RNE, relative to max(|value|, 1); measured <= 1.6e-5 (a torque sensor in
# contact states of the sensor zoo), <= 8e-6 on the falling humanoid, both backends. Not for a
# force/torque sensor on a floating root: it reads ~0 as a difference of the subtree's
# O(contact force) terms, so its float32 error is absolute in those units.
SENSOR_ACC_TOL = 1e-4

# ---------------------------------------------------------------------------------------------
# lane-group (SIMT) kernels (kernels/simt.h; tests/test_simt.py)

# simt::sincos (Cephes' float reduction and polynomials, the same bits on CUDA and the CPU) vs
# float64 sin/cos, absolute, for |x| <= 8192: measured 7.8e-8 (glibc's sinf: 7.0e-8); one
# float32 eps of 1.0 (1.2e-7) still catches a wrong octant or coefficient (errors >= 1e-4).
SIMT_SINCOS_TOL = 1.2e-7
# Lane-group sum and inclusive scan (butterfly, Hillis-Steele) of 32 float32 lanes vs the
# float64 sum: five levels, each rounding by half an ulp of its partial sums; measured 6.2e-6
# (sum) and 1.4e-5 (scan) absolute, as np.testing's atol + rtol |ref|.
SIMT_LANE_SUM_RTOL = 1e-5
SIMT_LANE_SUM_ATOL = 1e-4
# |L^T D L - qM| of the lane-group factorisation, relative to max |qM| (40.6 kg, the humanoid's
# total mass on the root's translation): float32 rounding of the LDL sweep; measured 5.7e-6
# absolute (1.4e-7 relative).
MASS_FACTOR_RESIDUAL_TOL = 1e-5

# Self-play opponents (tests/test_selfplay.py): the batched opponent (one baddbmm per layer over
# the slots) against rsl-rl's MLP applied to one world alone (addmm): the same float32 products
# summed in another order over 32-wide layers of O(1) activations, a few ulps of the O(1)
# actions; a world given another slot's policy is off by O(0.1).
OPPONENT_ACTION_TOL = 1e-5
# A model value after MjSpec.to_xml and recompiling (the sumo arena's two robots, relative):
# the XML keeps the geometry the robots moved into the arena's frames to the digits it writes,
# and masses recomputed from it round at that digit; measured 4.9e-7 (the
# two robots alike), so the margin is only 2x: a robot missing a body is off by >= 1e-2.
XML_ROUNDTRIP_TOL = 1e-6

# A robot at rest after a drop (examples/sensors.py, the quadruped after 1 s): soft contacts
# and the settling motion leave residuals. Feet touch sensors against the robot's weight
# (relative): measured 2.9e-4; accelerometer z against g (m/s^2): measured 2.5e-3; gyro
# (rad/s): measured 7.3e-4. A missing foot or a sensor in the wrong frame is off by >= 25%.
AT_REST_WEIGHT_RTOL = 0.01
AT_REST_ACC_TOL = 0.05
AT_REST_GYRO_TOL = 0.01

# Menagerie's legged robots through bench.models (tests/test_menagerie_models.py): contact
# counts are held to CONTACT_COUNT_AGREEMENT_MIN (measured 100% in 31 of 34 scenes, 15 of 16
# states on G1 and Talos' motor scene while multicontact clipped the first face pair within
# mjFACE_TOL rather than the most nearly antiparallel, 16 of 16 since:
# tests/test_menagerie_contacts.py). Sensordata, relative per sensor: acceleration-stage sensors
# carry the constrained qacc's float32 error; measured <= 1.0e-4 over every scene with sensors
# at converged GJK/EPA (Cassie, whose stiff connect rods, solref 0.005 at dt 0.0005, amplify the
# float32 rounding of body positions), 4.9e-4 at the shipped ccd_tolerance (Fourier N1's IMU).
MENAGERIE_SENSORDATA_TOL = 1e-3
# The issue's goal for Menagerie scenes whose contacts come from GJK/EPA on curved shapes, both
# simulators at converged collision settings (bench.models.CONVERGED_CCD): sensordata measured
# <= 2.4e-5 (Fourier N1's IMU; 4.9e-4 at the shipped ccd_tolerance 1e-6, where EPA stops on
# faces whose normals are off by up to 5e-3 rad in MuJoCo as in ours), 5.3e-6 on Barkour vb's
# height field (1.1e-3 shipped); qacc there is held to CONVERGED_CONTACT_QACC_MAX_TOL (measured
# <= 1.1e-4 and 1.1e-5; 2.8e-3 and 3.6e-3 shipped).
MENAGERIE_CONVERGED_SENSORDATA_TOL = 1e-4
# sumo.heading (cos yaw, sin yaw) in float32 from a unit quaternion against float64 atan2 then
# cos/sin (measured <= 3.9e-7 over 257 random quaternions; float32 rounding of the quaternion's
# products and the normalisation)
HEADING_TOL = 1e-6

# SumoEnv.observations (float32 torch) against the module doc's definition in float64 (rotation
# matrices from mju_quat2Mat, the yaw by atan2) after 40 steps of 8 worlds with resets:
# measured 6.2e-7 (entries up to 3.0); float32 rounding of the quaternion products and the
# frame rotations of O(1) quantities.
SUMO_OBS_TOL = 5e-6
