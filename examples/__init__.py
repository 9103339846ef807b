"""Examples run from the repository root (tests/test_examples.py and
tests/test_cleanrl_example.py run each):

  python -m pywarp_sim.train --task examples.quadruped:QuadrupedWalkCfg --device cpu --num-envs 64
  python -m examples.sensors
  python -m examples.cleanrl_ppo --task humanoid-stand --num-envs 64
  PWS_MENAGERIE=/path/to/mujoco_menagerie python -m pywarp_sim.train --task examples.h1_turn:H1TurnCfg

quadruped.py: a robot (quadruped.xml, position actuators) and a task defined outside the
package, with envs/mdp.py terms and one term of its own. sensors.py: a Simulator stepped from
Python, its sensors read by name. cleanrl_ppo.py: a single-file CleanRL-style PPO training
any task through gymnasium's VectorEnv API (envs.make_gym). h1_turn.py: Menagerie's Unitree
H1 (motors, per-joint PD gains) and a turn-in-place task in one file.
"""
