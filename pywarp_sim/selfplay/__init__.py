"""Self-play on the batched simulator: two robots per world, a league of frozen snapshots.

  python -m pywarp_sim.selfplay train|eval|play ...   (selfplay/__main__.py)

Modules, in the order the data flows:
  compose     two copies of a robot model in one MJCF world (MjSpec.attach, prefixes a_/b_),
              a floor and a ring;
  sumo        SumoEnv: the competitive task (rewards, win/loss/draw, egocentric symmetric
              observations), rsl-rl's VecEnv for agent A, agent B driven by `env.opponent`;
  opponents   Snapshot (a frozen rsl-rl actor) and OpponentBatch (one snapshot per block of
              worlds, every block's inference in one batched matrix product per layer);
  league      League: the snapshot pool, PFSP / uniform / latest opponent sampling, openskill
              ratings refitted to the whole match history, the win-rate matrix;
  league_run  LeagueRun: PPO iterations against the league, evaluation matches, checkpoints
              that resume bit for bit;
  ranks       RankedLeagueRun: the league on several ranks (torchrun), one shared pool;
  plots       ratings and win-rate matrix figures.
"""

from .compose import Arena, agent_indices  # compose.compose: the module keeps the name
from .league import League
from .opponents import OpponentBatch, Snapshot, snapshot_of
from .sumo import SumoCfg, SumoEnv

__all__ = ["Arena", "League", "OpponentBatch", "Snapshot", "SumoCfg", "SumoEnv", "agent_indices",
           "snapshot_of"]
