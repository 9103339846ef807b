"""bench/backends.py's lane-group backend ("simt": pywarp_sim.simt.step, the fused step a group of
lanes per world) on the CPU emulation, as the GPU session times it on a device."""

import pytest

from bench import backends

pytest.importorskip("pywarp_sim._native")


@pytest.mark.parametrize("group_size", [8, 32])
def test_simt_backend_times_the_lane_group_step(group_size):
  """A throughput record of the lane-group step: the requested steps in one launch each, every
  world healthy, the group size recorded and no CUDA graph (n steps per launch)."""
  rec = backends.run_throughput("simt", "humanoid", "cpu", 8, 3, threads=1, group_size=group_size)
  assert "error" not in rec, rec.get("error")
  assert rec["steps"] == 3 and rec["steps_per_s"] > 0
  assert rec["group_size"] == group_size and rec["persistent"] is False
  assert rec["unhealthy_worlds"] == 0 and rec["cuda_graph"].startswith("none")


def test_simt_backend_records_what_it_refuses():
  """The persistent launch is CUDA's: on the CPU the record carries the refusal, by name,
  instead of a rate."""
  rec = backends.run_throughput("simt", "humanoid", "cpu", 8, 3, threads=1, persistent=True)
  assert "persistent=True is the CUDA launch" in rec["error"] and "steps_per_s" not in rec


def test_simt_backend_times_the_group_workspace():
  """--workspace group: the lane-group step with everything a step derives held per group slot
  (a world keeps its state, under 2 KB for the humanoid); the record names the slots and bytes per
  world and per slot (simt.group_memory; on CUDA also the device memory used, cudaMemGetInfo)."""
  rec = backends.run_throughput("simt", "humanoid", "cpu", 8, 3, threads=1, workspace="group")
  assert "error" not in rec, rec.get("error")
  assert rec["steps"] == 3 and rec["steps_per_s"] > 0 and rec["workspace"] == "group"
  assert rec["group_slots"] >= 8 and rec["group_bytes_per_world"] < 2048 < rec["group_bytes_per_slot"]
  assert "device_memory_used_bytes" not in rec  # measured on CUDA only
  assert rec["unhealthy_worlds"] == 0
