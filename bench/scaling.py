"""Throughput and memory against nworld for several backends, in one process run."""

import json
import pathlib

from . import backends, common

DEFAULT_NWORLD_CPU = [1, 4, 16, 64, 256, 1024]
DEFAULT_NWORLD_GPU = [4 ** k for k in range(11)]  # 1 .. 2^20
DEFAULT_MAX_SECONDS_CPU = 60.0
DEFAULT_MAX_SECONDS_GPU = 30.0
DEFAULT_REPEAT = 3  # shared or virtual machines are noisy: median of 3 runs per config


def default_nworlds(device: str) -> list:
  return list(DEFAULT_NWORLD_GPU if common.is_cuda(device) else DEFAULT_NWORLD_CPU)


def default_max_seconds(device: str) -> float:
  return DEFAULT_MAX_SECONDS_GPU if common.is_cuda(device) else DEFAULT_MAX_SECONDS_CPU


def result_stem(device: str) -> str:
  return f"scaling-{common.device_slug(device)}-{common.today()}"


def sweep(backend_names, device: str, nworlds, steps: int, out_dir, model: str = "humanoid",
          threads=None, max_seconds=None, graph_mode: str = "auto", plot: bool = True,
          repeat: int = DEFAULT_REPEAT) -> dict:
  """Runs every (nworld, backend) in turn, nworld outermost so slow drifts of the machine
  spread over all backends. A backend that is unavailable (not built / not installed) gets
  one error record and is skipped from then on; any other failure is recorded and the sweep
  goes on. Returns the paths written."""
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  stem = result_stem(device)
  jsonl = out_dir / f"{stem}.jsonl"
  if jsonl.exists():
    common.warn(f"overwriting {jsonl} (one sweep per device and day)")
    jsonl.unlink()
  sink = common.Sink(str(jsonl))
  unavailable = set()
  records = []
  for nworld in nworlds:
    for backend in backend_names:
      if backend in unavailable:
        continue
      common.warn(f"{backend} on {device}: nworld={nworld} ...")
      rec = backends.run_throughput(backend, model, device, nworld, steps, threads=threads,
                                    max_seconds=max_seconds, graph_mode=graph_mode,
                                    repeat=repeat)
      rec["sweep"] = stem
      sink.emit(rec)
      records.append(rec)
      if "error" in rec and "traceback" not in rec:  # BackendUnavailable: no point retrying
        unavailable.add(backend)
  paths = {"jsonl": str(jsonl)}
  if plot:
    paths.update(plot_records(records, out_dir / stem))
  return paths


def load_jsonl(path) -> list:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _label(rec: dict) -> str:
  where = "CPU" if not common.is_cuda(rec["device"]) else rec["device"]
  threads = rec.get("threads")
  extra = f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
  return f"{rec['backend']} ({where}{extra})"


def _count(n: int) -> str:
  if n >= 1 << 20 and n % (1 << 20) == 0:
    return f"{n >> 20}M"
  if n >= 10000 and n % 1024 == 0:
    return f"{n >> 10}K"
  return str(n)


def plot_records(records: list, stem) -> dict:
  """Two PNGs next to `stem`: steps/s vs nworld and bytes/world vs nworld, log-log, one line
  per backend. Failed configs are left out (their reasons are in the JSON lines)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import matplotlib.ticker

  ok = [r for r in records if "error" not in r]
  series = {}
  for r in ok:
    series.setdefault(_label(r), []).append(r)
  first = records[0] if records else {}
  title = (f"{first.get('model', '?')} — {first.get('device_name', '?')} — "
           f"{first.get('date', '')[:10]}")
  failed = sorted({r["backend"] for r in records if "error" in r} - {r["backend"] for r in ok})
  note = f"not run: {', '.join(failed)} (see .jsonl)" if failed else ""
  out = {}
  for key, field, ylabel in (
    ("throughput_png", "steps_per_s", "world-steps per second (median; bars: min-max of repeats)"),
    ("memory_png", "bytes_per_world", "bytes per world (Warp: Data arrays / nworld; MuJoCo: one MjData)"),
  ):
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
    for label, rs in sorted(series.items()):
      rs = sorted(rs, key=lambda r: r["nworld"])
      xs, ys = [r["nworld"] for r in rs], [r[field] for r in rs]
      line, = ax.plot(xs, ys, marker="o", label=label)
      if field == "steps_per_s" and all(len(r.get("steps_per_s_samples", [])) > 1 for r in rs):
        # Spread of the repeats (min..max) around the median: how noisy the machine was.
        lo = [y - min(r["steps_per_s_samples"]) for y, r in zip(ys, rs)]
        hi = [max(r["steps_per_s_samples"]) - y for y, r in zip(ys, rs)]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor=line.get_color(), capsize=3, alpha=0.7)
      if field == "bytes_per_world" and all("bytes_per_world_used" in r for r in rs):
        # MuJoCo: the allocated MjData (arena sized by <size memory>) vs its peak use.
        ax.plot([r["nworld"] for r in rs], [r["bytes_per_world_used"] for r in rs], marker="x",
                linestyle="--", color=line.get_color(), label=f"{label}: peak used")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    nworlds = sorted({r["nworld"] for r in ok})
    if nworlds:
      ax.set_xticks(nworlds, [_count(n) for n in nworlds])
      ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("nworld (worlds stepped together)")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if series:
      ax.legend(fontsize=8)
    if note:
      ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, color="gray")
    fig.tight_layout()
    path = f"{stem}-{'throughput' if field == 'steps_per_s' else 'memory'}.png"
    fig.savefig(path)
    plt.close(fig)
    out[key] = path
  return out
