"""The optional RL libraries the envs build on, imported in one place.

VecEnvBase: rsl-rl-lib's `rsl_rl.env.VecEnv` (extra "rl"), the base class of the envs (TaskEnv,
selfplay's SumoEnv) so that rsl-rl's runners accept them; `object` where it is not installed,
and the envs work without it. TensorDict: tensordict's, in which the envs return observations;
None where it is not installed (rsl-rl-lib depends on it).
"""

try:  # rsl-rl-lib is optional (extra "rl"); the envs work without it
  from rsl_rl.env import VecEnv as VecEnvBase
except ImportError:  # pragma: no cover - depends on the install
  VecEnvBase = object

try:
  from tensordict import TensorDict
except ImportError:  # pragma: no cover - depends on the install
  TensorDict = None

__all__ = ["TensorDict", "VecEnvBase"]
