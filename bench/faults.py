"""Fault injection: do non-finite values stay in the worlds they were written into?

One Simulator with auto_reset=True steps `nworld` worlds for `steps` steps. Before each step,
each world of the odd-numbered half ("faulty" worlds) is hit with probability `fault_rate` by
one non-finite value (NaN, +inf or -inf) written into one random entry of qpos, qvel, ctrl,
act, qfrc_applied or xfrc_applied. A twin Simulator steps the same worlds with the same
controls and no faults. A leak is any of:

  nonfinite_after_step  a world whose qpos, qvel, act or qacc is non-finite after a step
                        (auto_reset must have reset every flagged world in place)
  unflagged             a step whose count of NONFINITE events differs from the number of
                        worlds written into before it (each fault must be flagged in its step)
  clean_mismatch        a never-injected (even-numbered) world whose qpos, qvel or act differs
                        bit for bit from the same world of the twin

One JSON record per run (kind "faults"); `world_steps` counts every world of the faulted
Simulator (the twin's steps are not counted). A progress bar over the steps is drawn on
stderr when it is a terminal (pywarp_sim.cli.progress; quiet=True: none).
"""

import time

import numpy as np

from . import common

FIELDS = ("qpos", "qvel", "ctrl", "act", "qfrc_applied", "xfrc_applied")
VALUES = (float("nan"), float("inf"), float("-inf"))


def _make(backend: str, mjm, device: str, nworld: int, threads):
  import pywarp_sim as pws
  sim = pws.Simulator(pws.put_model(mjm, device), nworld=nworld, device=device, backend=backend,
                      auto_reset=True)
  if backend == "native" and not common.is_cuda(device) and threads:
    from pywarp_sim import native_backend
    native_backend.set_num_threads(sim, threads)
  return sim


def _entry(sim, field: str, world: int, rng) -> tuple:
  """(torch view, index) of one random entry of `field` in `world`."""
  view = getattr(sim, field)
  if field == "xfrc_applied":  # (nworld, nbody, 6): bodies 1.. (the world body has no dofs)
    return view, (world, int(rng.integers(1, view.shape[1])), int(rng.integers(0, 6)))
  return view, (world, int(rng.integers(0, view.shape[1])))


def run_faults(backend: str, model: str, device: str, nworld: int, steps: int, fault_rate: float = 0.01,
               seed: int = 0, threads=None, quiet: bool = False) -> dict:
  import torch

  from pywarp_sim.cli import progress, status
  mjm, label = common.resolve_mj_model(model)
  rec = common.base_record("faults", backend, device)
  rec.update(model=label, nworld=nworld, steps=steps, fault_rate=fault_rate, seed=seed, threads=threads)
  with status(f"building two Simulators of {nworld} worlds ({backend}; a first run compiles Warp's "
              f"kernels)", quiet=quiet):
    sim = _make(backend, mjm, device, nworld, threads)
    twin = _make(backend, mjm, device, nworld, threads)
  fields = [f for f in FIELDS if f != "act" or mjm.na > 0]
  rng = np.random.default_rng(seed)
  ctrl = torch.as_tensor(common.random_controls(mjm, nworld, seed), dtype=sim.ctrl.dtype).to(sim.ctrl.device)
  for s in (sim, twin):
    s.reset()
    s.ctrl[:] = ctrl
  faulty = np.arange(1, nworld, 2)
  clean = torch.as_tensor(np.arange(0, nworld, 2), device=sim.qpos.device)
  injected = {f: 0 for f in fields}
  leaks = {"nonfinite_after_step": 0, "unflagged": 0, "clean_mismatch": 0}
  first_leak = None
  nonfinite_before = sim.counters["nonfinite"]
  t0 = time.perf_counter()
  with progress(f"faults {label} x {nworld}", steps, quiet=quiet, unit="steps") as advance:
    for step in range(steps):
      hit = faulty[rng.random(faulty.size) < fault_rate]
      for w in hit:
        field = fields[int(rng.integers(len(fields)))]
        view, idx = _entry(sim, field, int(w), rng)
        view[idx] = VALUES[int(rng.integers(len(VALUES)))]
        injected[field] += 1
      sim.step()
      twin.step()
      # after auto_reset every world's state must be finite again
      state = [sim.qpos, sim.qvel, sim.qacc] + ([sim.act] if mjm.na else [])
      bad = sum(int((~torch.isfinite(x)).any(dim=1).sum()) for x in state)
      nonfinite = sim.counters["nonfinite"]
      flagged, nonfinite_before = nonfinite - nonfinite_before, nonfinite
      same = all(torch.equal(getattr(sim, f)[clean], getattr(twin, f)[clean])
                 for f in ("qpos", "qvel") + (("act",) if mjm.na else ()))
      step_leaks = {"nonfinite_after_step": bad, "unflagged": int(flagged != len(hit)),
                    "clean_mismatch": int(not same)}
      for k, v in step_leaks.items():
        leaks[k] += v
      if first_leak is None and any(step_leaks.values()):
        first_leak = {"step": step, **step_leaks, "injected_worlds": int(len(hit)), "flagged": flagged}
      advance()
  elapsed = time.perf_counter() - t0
  counters = sim.counters
  rec.update(world_steps=nworld * steps, faulty_worlds=int(faulty.size), clean_worlds=int(clean.numel()),
             injections=int(sum(injected.values())), injections_by_field=injected,
             nonfinite_events=counters["nonfinite"], auto_resets=counters["auto_resets"],
             twin_auto_resets=twin.counters["auto_resets"], leaks=leaks, total_leaks=int(sum(leaks.values())),
             first_leak=first_leak, elapsed_s=elapsed)
  return rec
