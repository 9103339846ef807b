"""Examples run from the repository root (tests/test_examples.py runs each):

  python -m pywarp_sim.train --task examples.quadruped:QuadrupedWalkCfg --device cpu --num-envs 64
  python -m examples.sensors

quadruped.py: a robot (quadruped.xml, position actuators) and a task defined outside the
package, with envs/mdp.py terms and one term of its own. sensors.py: a Simulator stepped from
Python, its sensors read by name.
"""
