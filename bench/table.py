"""Markdown tables of every result in bench/results/*.jsonl, for the README."""

import json
import pathlib

from . import common


def _read(paths) -> list:
  records = []
  for path in paths:
    with open(path) as f:
      for n, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          rec = json.loads(line)
        except json.JSONDecodeError as exc:
          common.warn(f"{path}:{n}: not JSON ({exc}); skipped")
          continue
        rec["_file"] = path.name
        records.append(rec)
  return records


def _bytes(n) -> str:
  if n is None:
    return "—"
  for unit in ("B", "KiB", "MiB", "GiB"):
    if n < 1024 or unit == "GiB":
      return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1024


def _rate(x: float) -> str:
  return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _peer(r: dict) -> str:
  return "mjwarp" if common.is_cuda(r["device"]) else "mujoco"


def throughput_table(records: list) -> list:
  rows = [r for r in records if r.get("kind", "throughput") == "throughput" and "error" not in r]
  # Reference (the peer): MuJoCo C on a CPU, MuJoCo Warp on a GPU, in the same results file
  # (same machine and run), model and nworld.
  ref = {}
  for r in rows:
    if r["backend"] == _peer(r):
      ref[(r["_file"], r["date"][:10], r["model"], r["nworld"])] = r["steps_per_s"]
  rows.sort(key=lambda r: (r["device_name"], r["date"][:10], r["model"], r["nworld"],
                           r["backend"]))
  lines = ["| device | date | model | backend | threads | nworld | steps/s | vs peer | bytes/world |",
           "|---|---|---|---|---:|---:|---:|---:|---:|"]
  for r in rows:
    base = ref.get((r["_file"], r["date"][:10], r["model"], r["nworld"]))
    ratio = f"{r['steps_per_s'] / base:.2f}× {_peer(r)}" if base else "—"
    device = f"{r['device']} ({r['device_name']})"
    threads = r.get("threads") if r.get("threads") is not None else "—"
    capped = "†" if r.get("steps", 0) < r.get("steps_requested", 0) else ""
    lines.append(f"| {device} | {r['date'][:10]} | {r['model']} | {r['backend']} | {threads} | "
                 f"{r['nworld']} | {_rate(r['steps_per_s'])}{capped} | {ratio} | "
                 f"{_bytes(r.get('bytes_per_world'))} |")
  return lines if rows else []


def compile_table(records: list) -> list:
  rows = [r for r in records if r.get("kind") == "compile" and "error" not in r]
  groups = {}
  for r in rows:
    key = (r["device"], r["device_name"], r["date"][:10], r["model"], r["backend"])
    groups.setdefault(key, {})[r["start"]] = r  # the last record of each start wins
  lines = ["| device | date | model | backend | cold start to first step (s) | warm start (s) | "
           "kernel cache |",
           "|---|---|---|---|---:|---:|---:|"]
  for (device, name, date, model, backend), by in sorted(groups.items()):
    cold, warm = by.get("cold"), by.get("warm")

    def cell(r):
      return f"{r['to_first_step_s']:.2f} ({r['process_wall_s']:.2f} wall)" if r else "—"
    cache = _bytes(cold.get("cache_bytes")) if cold else "—"
    lines.append(f"| {device} ({name}) | {date} | {model} | {backend} | {cell(cold)} | "
                 f"{cell(warm)} | {cache} |")
  return lines if groups else []


def _stage_notes(records: list) -> list:
  """What the pywarp_sim pipeline computed in those runs (it grows stage by stage)."""
  notes = set()
  for r in records:
    stages = r.get("pipeline_stages")
    if r.get("backend") in ("warp", "native") and stages and "error" not in r:
      solver = "constraint solver on" if "constraint_solver" in stages else "no constraint solver"
      contacts = "contacts on" if r.get("contacts_active") else "no collision/contacts"
      notes.add(f"- {r['backend']} ({r['versions'].get('git') or 'unknown commit'}): {contacts}, "
                f"{solver}")
  extra = []
  if any(r.get("steps", 0) < r.get("steps_requested", 0) for r in records if "error" not in r):
    extra.append("- † time-capped: fewer steps than requested were timed (`steps` in the JSON), "
                 "so the trajectory, and the contact load, differ from the other rows")
  if any(r.get("backend") == "mujoco_nocontact" for r in records):
    extra.append("- mujoco_nocontact: MuJoCo C with collision disabled (mjDSBL_CONTACT); joint "
                 "limits, dof friction and the solver on")
  if any(r.get("backend", "").startswith("mujoco") for r in records):
    extra.append("- mujoco bytes/world: one MjData (nbuffer + narena); the rollout keeps one "
                 "MjData per thread plus nstate doubles per world")
  return (sorted(notes) + extra + [""]) if notes or extra else []


def render(results_dir=common.RESULTS_DIR) -> str:
  paths = sorted(pathlib.Path(results_dir).glob("*.jsonl"))
  records = _read(paths)
  out = []
  t = throughput_table(records)
  if t:
    out += ["### Throughput (world-steps per second)", ""] + t + [""] + _stage_notes(records)
  c = compile_table(records)
  if c:
    out += ["### Start-up: process start to first completed step", ""] + c + [""]
  robots = [r for r in records if r.get("kind") == "models"]
  if robots:
    from . import models
    out += ["### Real robots against MuJoCo C (python -m bench models)", "", models.table(robots), ""]
  errors = {}
  for r in records:
    if "error" in r:
      errors.setdefault((r.get("backend"), r.get("device"), r["error"].splitlines()[0]), r)
  if errors:
    out += ["Not measured:", ""]
    out += [f"- {b} on {d}: {e}" for (b, d, e) in sorted(errors, key=str)]
    out.append("")
  if not out:
    return f"no results in {results_dir}/*.jsonl\n"
  return "\n".join(out)
