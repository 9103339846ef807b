"""Errors raised by pywarp_sim."""


class UnsupportedModelError(ValueError):
  """A MuJoCo model uses a feature that pywarp_sim does not implement.

  Raised at load time, never at step time: the message names the element
  (by MuJoCo name or index) and the feature, so the model can be edited or
  the feature requested.
  """
