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


class CheckpointError(ValueError):
  """A checkpoint cannot be restored: unreadable or corrupted file, a file that is not a
  pywarp_sim checkpoint (or holds pickled objects), another format version, or a simulator
  that differs from the one that wrote it (sizes, model, backend). The message names the
  file, the entry or field, and what to do; nothing has been written into the simulator."""


class CheckpointWarning(UserWarning):
  """A checkpoint was restored, but the resumed run will not repeat the saved one bit for
  bit (another backend or device), or it was written by another pywarp_sim version."""
