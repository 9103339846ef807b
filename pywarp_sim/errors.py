"""Errors raised by pywarp_sim."""


class UnsupportedModelError(ValueError):
  """A MuJoCo model uses a feature that pywarp_sim does not implement.

  Raised at load time, never at step time: the message names the element
  (by MuJoCo name or index) and the feature, so the model can be edited or
  the feature requested.
  """


class IgnoredModelElementWarning(UserWarning):
  """A MuJoCo model has elements that pywarp_sim loads but does not evaluate (e.g. sensors):
  the simulation is unaffected, but what MuJoCo would compute from them is not available."""


class MujocoVersionWarning(UserWarning):
  """The installed MuJoCo is not the release pywarp_sim's conformance suite was measured
  against (the oracle pinned in pyproject.toml). Models load and step; collider details of
  that release may differ from what pywarp_sim computes."""
