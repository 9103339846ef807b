"""python -m bench {throughput,scaling,compile,faults,conformance,proxies,distributed,models,plot,table} ... (see bench/README.md)."""

import argparse
import json
import os
import sys

from . import common

from .backends import BACKENDS as BACKEND_CHOICES
from .proxies import SCOPES as PROXY_SCOPES


def _ranged(name: str):
  """pywarp_sim.cli's argument type `name` (range checked at parse time), imported when such
  an argument is given, so that `bench table` and `bench plot` do not import pywarp_sim
  (warp, mujoco: seconds)."""
  def parse(text: str):
    from pywarp_sim import cli
    return getattr(cli, name)(text)
  parse.__name__ = name
  return parse


positive_int, nonneg_int, positive_float, fraction = (
  _ranged(n) for n in ("positive_int", "nonneg_int", "positive_float", "fraction"))


def _int_list(text: str) -> list:
  try:
    values = [int(v) for v in text.split(",") if v.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
  if not values or min(values) < 1:
    raise argparse.ArgumentTypeError(f"expected integers >= 1, got '{text}'")
  return values


def _backend_list(text: str) -> list:
  names = [b.strip() for b in text.split(",") if b.strip()]
  bad = [b for b in names if b not in BACKEND_CHOICES]
  if bad or not names:
    raise argparse.ArgumentTypeError(f"unknown backend(s) {bad}; choose from {BACKEND_CHOICES}")
  return names


def _summary(rec: dict) -> str:
  head = f"{rec['backend']:>13} {rec['device']:>7} nworld={rec['nworld']:<8}"
  if "error" in rec:
    return f"{head} ERROR {rec['error'].splitlines()[0]}"
  return (f"{head} {rec['steps_per_s']:>14,.0f} steps/s  {rec['bytes_per_world']:>12,.0f} B/world"
          f"  compile {rec['compile_s']:.3f}s  warmup {rec['warmup_s']:.3f}s  steps {rec['steps']}")


def _add_common(p, graph=True):
  p.add_argument("--model", default="humanoid", help="bundled model name or MJCF/URDF path")
  p.add_argument("--device", default="cpu", help="cpu or cuda:N")
  p.add_argument("--threads", type=positive_int, default=None,
                 help="host threads for mujoco rollout (default: os.cpu_count())")
  p.add_argument("--max-seconds", type=positive_float, default=None,
                 help="cap on the timed part of each config; fewer steps are run to stay under it")
  p.add_argument("--repeat", type=positive_int, default=None,
                 help="timed runs per config, each from the initial state; the median is kept "
                      "(default: 1 for throughput, 3 for scaling)")
  if graph:
    p.add_argument("--cuda-graph", choices=("auto", "bench", "off"), default="auto",
                   help="auto: the Simulator's own graph (sim.capture) if it has one, else a plain "
                        "step loop; bench: capture sim.step(1) here; off: plain loop")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
  sub = parser.add_subparsers(dest="cmd", required=True, metavar="{throughput,scaling,compile,faults,conformance,proxies,distributed,models,plot,table}")

  p = sub.add_parser("throughput", help="world-steps/s of one backend, one JSON line per nworld")
  _add_common(p)
  p.add_argument("--backend", choices=BACKEND_CHOICES, default="warp")
  p.add_argument("--workspace", choices=("world", "thread", "group"), default="world",
                 help="native: solver workspace per world (default) or per thread; simt: 'group' holds "
                      "everything a step derives per group slot, a world its state alone "
                      "(Simulator(workspace=...); on CUDA the persistent launch, the device memory used "
                      "recorded)")
  p.add_argument("--nconmax", type=nonneg_int, default=None,
                 help="warp/native: contact capacity per world (Simulator(nconmax=...); default: "
                      "every candidate pair's worst case)")
  p.add_argument("--staging", action="store_true",
                 help="native: each world steps inside a per-thread buffer (native_backend.set_staging; "
                      "on CUDA the kernel's local memory)")
  p.add_argument("--group-size", type=int, choices=(8, 16, 32), default=None,
                 help="simt: lanes per world of the fused lane-group step (default: "
                      "pywarp_sim.simt.DEFAULT_GROUP_SIZE, 8)")
  p.add_argument("--persistent", action="store_true",
                 help="simt (CUDA): resident groups taking worlds from an atomic counter")
  p.add_argument("--nworld", type=_int_list, default=[64], help="e.g. 64 or 1,16,256")
  p.add_argument("--steps", type=positive_int, default=200)
  p.add_argument("--json", action="store_true", help="JSON lines only (no summary on stderr)")
  p.add_argument("--out", default=None, help="also append the JSON lines to this file")

  p = sub.add_parser("scaling", help="sweep nworld for several backends; JSON lines and plots")
  _add_common(p)
  p.add_argument("--backends", type=_backend_list, default=["warp", "mujoco"])
  p.add_argument("--nworld", type=_int_list, default=None,
                 help="default: CPU 1,4,...,1024; GPU 1,4,...,2^20 (powers of 4)")
  p.add_argument("--steps", type=positive_int, default=200)
  p.add_argument("--out-dir", default=str(common.RESULTS_DIR))
  p.add_argument("--no-plot", action="store_true")

  p = sub.add_parser("compile", help="cold and warm start to the first step, in subprocesses")
  p.add_argument("--backend", choices=BACKEND_CHOICES, default="warp")
  p.add_argument("--model", default="humanoid")
  p.add_argument("--device", default="cpu")
  p.add_argument("--nworld", type=positive_int, default=1)
  p.add_argument("--out", default=None, help="also append the JSON lines to this file "
                 "(default bench/results/compile-<device>-<date>.jsonl)")

  p = sub.add_parser("faults", help="fault injection with auto_reset: count NaN leaks (bench/faults.py)")
  p.add_argument("--backend", choices=("warp", "native"), default="native")
  p.add_argument("--model", default="humanoid")
  p.add_argument("--device", default="cpu")
  p.add_argument("--nworld", type=positive_int, default=1024)
  p.add_argument("--steps", type=positive_int, default=1000)
  p.add_argument("--fault-rate", type=fraction, default=0.01,
                 help="probability per step that a faulty (odd-numbered) world gets a non-finite value")
  p.add_argument("--seed", type=nonneg_int, default=0)
  p.add_argument("--threads", type=positive_int, default=None, help="OpenMP threads of the CPU native backend")
  p.add_argument("--out", default=None, help="also append the JSON line to this file "
                 "(default bench/results/faults-<device>-<date>.jsonl)")

  p = sub.add_parser("conformance", help="the MuJoCo conformance suite against another MuJoCo "
                     "release: states that differ per pair type and per model (bench/conformance.py)")
  p.add_argument("--mujoco", default=None, metavar="X.Y.Z",
                 help="MuJoCo release to compare (installed into build/mujoco-X.Y.Z); default: "
                      "the installed one")
  p.add_argument("--poses", type=int, default=256, help="random poses per geom-pair type")
  p.add_argument("--no-tests", action="store_true", help="skip running the conformance tests")
  p.add_argument("--json", action="store_true", help="print the JSON object instead of tables")
  p.add_argument("--out", default=None, help="also write the JSON object to this file")

  p = sub.add_parser("proxies", help="GPU-speed proxies without a GPU: ptxas resources, occupancy, "
                     "sectors per request, lane efficiency, bytes per world (bench/proxies.py)")
  p.add_argument("--model", default="humanoid")
  p.add_argument("--arch", default="sm_90", help="CUDA architecture ptxas reports for")
  p.add_argument("--nworld", type=int, default=256, help="worlds of the lane-efficiency run (CPU)")
  p.add_argument("--steps", type=int, default=100, help="steps of the lane-efficiency run (CPU)")
  p.add_argument("--no-ptxas", action="store_true", help="skip the nvcc compile (minutes; cached)")
  p.add_argument("--scope", choices=PROXY_SCOPES, default=None,
                 help="only this scope's records (fused_step: the fused lane-group step's); default all")
  p.add_argument("--json", action="store_true", help="JSON lines only (no summary on stderr)")
  p.add_argument("--out", default=None, help="also append the JSON lines to this file")

  p = sub.add_parser("distributed", help="data-parallel training env steps/s for 1, 2, ... ranks "
                     "(torchrun; bench/distributed.py)")
  p.add_argument("--ranks", type=_int_list, default=[1, 2], help="rank counts, e.g. 1,2,4")
  p.add_argument("--task", default="humanoid-walk")
  p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (one GPU per rank, NCCL)")
  p.add_argument("--num-envs", type=int, default=256, help="environments per rank")
  p.add_argument("--iterations", type=int, default=4)
  p.add_argument("--num-steps-per-env", type=int, default=24)
  p.add_argument("--threads-per-rank", type=int, default=None,
                 help="CPU: cores (and threads) pinned to each rank at every rank count "
                      "(default: this node's cores / the largest rank count)")
  p.add_argument("--json", action="store_true", help="JSON lines only (no summary on stderr)")
  p.add_argument("--out", default=None, help="also append the JSON lines to this file "
                 "(default bench/results/distributed-<device>-<date>.jsonl)")

  p = sub.add_parser("models", help="real robots (a mujoco_menagerie checkout) against MuJoCo C: load per "
                     "backend, contacts, qacc per cone, sensordata, native / MuJoCo C steps/s (bench/models.py)")
  p.add_argument("--path", help="folder of robot folders, each with scene*.xml (a mujoco_menagerie checkout)")
  p.add_argument("--robots", default=None, help="comma-separated robot folders (default: the legged robots "
                 "of bench.models.ROBOTS found under --path)")
  p.add_argument("--states", type=positive_int, default=None, help="dropped/tumbling states per scene (default 16)")
  p.add_argument("--no-speed", action="store_true", help="skip the steps/s columns")
  p.add_argument("--json", default=None, metavar="OUT", help="also append the JSON lines to this file")
  p.add_argument("--fill-missing-meshes", action="store_true",
                 help="write tetrahedra for absent mesh files and check that they change no physics")
  p.add_argument("--table", default=None, metavar="JSONL", help="print the Markdown table of a run's JSON lines")

  p = sub.add_parser("plot", help="redraw the two PNGs of a scaling .jsonl next to it")
  p.add_argument("jsonl")

  p = sub.add_parser("table", help="Markdown tables of bench/results/*.jsonl")
  p.add_argument("--results-dir", default=str(common.RESULTS_DIR))

  argv = sys.argv[1:] if argv is None else list(argv)
  if argv[:1] == ["_first-step"]:  # the child process of `compile`; not a user command
    child = argparse.ArgumentParser(prog="python -m bench _first-step")
    child.add_argument("--backend", required=True)
    child.add_argument("--model", required=True)
    child.add_argument("--device", required=True)
    child.add_argument("--nworld", type=int, default=1)
    args = child.parse_args(argv[1:])
    from . import compile as compile_bench
    print(json.dumps(compile_bench.first_step(args.backend, args.model, args.device, args.nworld)),
          flush=True)
    return 0

  args = parser.parse_args(argv)

  if args.cmd in ("throughput", "scaling", "compile", "faults"):
    problem = common.check_device(args.device)
    if problem:
      common.warn(problem)
      return 2

  if args.cmd == "throughput":
    if args.workspace == "group" and args.backend != "simt":
      common.warn("--workspace group is stepped by the lane-group step: use it with --backend simt")
      return 2
    from . import backends
    sink = common.Sink(args.out)
    failed = False
    for nworld in args.nworld:
      rec = backends.run_throughput(args.backend, args.model, args.device, nworld, args.steps,
                                    threads=args.threads, max_seconds=args.max_seconds,
                                    graph_mode=args.cuda_graph, repeat=args.repeat or 1,
                                    workspace=args.workspace, nconmax=args.nconmax,
                                    staging=args.staging, group_size=args.group_size,
                                    persistent=args.persistent)
      sink.emit(rec)
      failed |= "error" in rec
      if not args.json:
        print(_summary(rec), file=sys.stderr, flush=True)
    return 1 if failed else 0

  if args.cmd == "scaling":
    from . import scaling
    nworlds = args.nworld or scaling.default_nworlds(args.device)
    max_seconds = args.max_seconds or scaling.default_max_seconds(args.device)
    paths = scaling.sweep(args.backends, args.device, nworlds, args.steps, args.out_dir,
                          model=args.model, threads=args.threads, max_seconds=max_seconds,
                          graph_mode=args.cuda_graph, plot=not args.no_plot,
                          repeat=args.repeat or scaling.DEFAULT_REPEAT)
    for rec in scaling.load_jsonl(paths["jsonl"]):
      print(_summary(rec), file=sys.stderr)
    for what, path in paths.items():
      common.warn(f"wrote {what}: {os.path.relpath(path)}")
    return 0

  if args.cmd == "compile":
    from . import compile as compile_bench
    out = args.out or str(common.RESULTS_DIR /
                          f"compile-{common.device_slug(args.device)}-{common.today()}.jsonl")
    records = compile_bench.run_compile(args.backend, args.model, args.device, args.nworld,
                                        sink=common.Sink(out))
    common.warn(f"appended to {os.path.relpath(out)}")
    return 1 if any("error" in r for r in records) else 0

  if args.cmd == "faults":
    from . import faults
    out = args.out or str(common.RESULTS_DIR / f"faults-{common.device_slug(args.device)}-{common.today()}.jsonl")
    rec = faults.run_faults(args.backend, args.model, args.device, args.nworld, args.steps, args.fault_rate,
                            args.seed, args.threads)
    common.Sink(out).emit(rec)
    common.warn(f"{rec['world_steps']:,} world-steps, {rec['injections']:,} faults injected, "
                f"{rec['auto_resets']:,} auto resets, leaks {rec['leaks']}; appended to {os.path.relpath(out)}")
    return 1 if rec["total_leaks"] else 0

  if args.cmd == "conformance":
    from . import conformance
    rec = conformance.run(args.mujoco, args.poses, tests=not args.no_tests)
    if args.out:
      with open(args.out, "w") as f:
        json.dump(rec, f, indent=1)
    print(json.dumps(rec, allow_nan=False) if args.json else conformance.render(rec))
    return 0

  if args.cmd == "proxies":
    from . import proxies
    sink = common.Sink(args.out, quiet=False)
    for rec in proxies.run(args.model, args.arch, args.nworld, args.steps, ptxas=not args.no_ptxas,
                           scope=args.scope):
      sink.emit(rec)
      if not args.json:
        common.warn(f"{rec['kernel']}: {rec['registers']} registers, stack {rec['stack_bytes']} B, "
                    f"spills {rec['spill_bytes']} B, occupancy {rec['occupancy']}, sectors/request "
                    f"{rec['sectors_per_request']}, lane efficiency {rec['lane_efficiency']}")
    return 0

  if args.cmd == "distributed":
    from . import distributed
    out = args.out or str(common.RESULTS_DIR / f"distributed-{common.device_slug(args.device)}-{common.today()}.jsonl")
    for rec in distributed.sweep(args.ranks, args.task, args.device, args.num_envs, args.iterations,
                                 args.num_steps_per_env, common.Sink(out),
                                 threads_per_rank=args.threads_per_rank):
      if not args.json:
        common.warn(f"{rec['ranks']} rank(s): {rec['env_steps_per_s']:,.0f} env steps/s, "
                    f"{rec['iteration_s']:.2f} s per iteration, efficiency {rec['efficiency']:.2f}")
    common.warn(f"appended to {os.path.relpath(out)}")
    return 0

  if args.cmd == "models":
    from . import models
    if args.table:
      with open(args.table) as f:
        print(models.table([json.loads(line) for line in f if line.strip()]))
      return 0
    if not args.path:
      parser.error("models: --path DIR (a mujoco_menagerie checkout) or --table JSONL is required")
    recs = models.run(args.path, args.robots.split(",") if args.robots else None,
                      args.states or models.NSTATES, not args.no_speed, args.json, args.fill_missing_meshes)
    if recs:
      common.warn("\n" + models.table(recs))
    return 0

  if args.cmd == "plot":
    from . import scaling
    stem = args.jsonl[:-len(".jsonl")] if args.jsonl.endswith(".jsonl") else args.jsonl
    for what, path in scaling.plot_records(scaling.load_jsonl(args.jsonl), stem).items():
      common.warn(f"wrote {what}: {os.path.relpath(path)}")
    return 0

  if args.cmd == "table":
    from . import table
    print(table.render(args.results_dir))
    return 0

  return 2


if __name__ == "__main__":
  sys.exit(main())
