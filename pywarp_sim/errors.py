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
