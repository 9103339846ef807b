"""bench/callgrind_selfplay.py's report: callgrind dumps labelled by env and part summed into
instructions per env step, with the native step's inclusive cost read from its call sites."""

import pytest

from bench import callgrind_selfplay as cg


def _dump(path, label, total, native_calls=()):
  """A callgrind dump (format of callgrind 3.19 with name compression): `total` Ir, and one
  call site of StepPlan::step per entry of native_calls (its inclusive Ir)."""
  lines = ["# callgrind format", "version: 1", "creator: callgrind-3.19.0", "pid: 1", "cmd: python",
           "part: 1", "", f"desc: Trigger: Client Request: {label}", "", "positions: line",
           "events: Ir", f"summary: {total}", "", "ob=(1) /x/_native.so", "fl=(1) ???",
           "fn=(1) pybind11 glue", "0 10"]
  for i, ir in enumerate(native_calls):
    lines += ["cfn=(2) (anonymous namespace)::StepPlan::step(int, int)" if i == 0 else "cfn=(2)",
              "calls=1 0", f"0 {ir}"]
  lines += ["", "fn=(2)", "0 5", "cfn=(2)", "calls=1 0", "0 999", "", f"totals: {total}", ""]
  path.write_text("\n".join(lines))
  return str(path)


def test_summarise_sums_the_parts_per_env(tmp_path):
  files = [
    _dump(tmp_path / "o.1", "outside", 7),
    _dump(tmp_path / "o.2", "two_agent|rest|16 worlds 2 env steps", 100),
    _dump(tmp_path / "o.3", "two_agent|physics|16 worlds 2 env steps", 1000, [600, 300]),
    _dump(tmp_path / "o.4", "two_agent|opponent|16 worlds 2 env steps", 40),
    _dump(tmp_path / "o.5", "two_agent|rest|16 worlds 2 env steps", 60),
    _dump(tmp_path / "o.6", "single_agent|physics|16 worlds 2 env steps", 500, [450]),
    _dump(tmp_path / "o.7", "single_agent|rest|16 worlds 2 env steps", 80),
  ]
  r = cg.summarise(files)
  two, one = r["two_agent"], r["single_agent"]
  assert (two["nworld"], two["env_steps"]) == (16, 2)
  # per env step: the dumps' totals over 2 steps; the self call of StepPlan::step not counted
  assert (two["rest"], two["physics"], two["opponent"], two["native"]) == (80, 500, 20, 450)
  assert two["env_step"] == 600
  assert (one["physics"], one["native"], one["opponent"], one["env_step"]) == (250, 225, 0, 290)


def test_summarise_refuses_files_of_another_run(tmp_path):
  with pytest.raises(ValueError, match="no dump of `bench.callgrind_selfplay run`"):
    cg.summarise([_dump(tmp_path / "o.1", "outside", 7)])
  with pytest.raises(ValueError, match="unknown part 'solver'"):
    cg.summarise([_dump(tmp_path / "o.2", "two_agent|solver|16 worlds 2 env steps", 7)])
