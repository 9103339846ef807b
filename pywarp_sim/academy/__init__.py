"""The academy: a simulated fleet kept calibrated to its robots.

  robot      the Robot protocol (what a robot, simulated or real, must offer)
  proxy      ProxyRobot: a stand-in for hardware (MuJoCo C with hidden parameters)
  params     the calibrated physical parameters and where they live (banks, model, replay)
  motions    excitation and held-out motions, start states
  simbatch   batched replay of candidate parameter sets, one per world; SimRobot
  calibrate  system identification: CMA-ES on batched worlds + Levenberg-Marquardt, CIs
  gap        sim-to-real gap metrics (trajectory NRMSE, parameter error, policy return drop)
  fleet      the fleet loop: calibrate all, fit the fleet distribution, randomisation spec,
             evaluation, incident replay
  python -m pywarp_sim.academy demo --robots N [--quick]
"""

from .robot import Robot, SensorFrame, SensorLog  # noqa: F401
