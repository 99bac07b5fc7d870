"""The runner: plan, decode, runtime, encode, order check, shard, score, run (see `run` for the steps)."""

from __future__ import annotations

from actionbench.runner.plan import SUBSET_RULE
from actionbench.runner.run import MissingVideosError, command_line, evaluate

__all__ = ["SUBSET_RULE", "MissingVideosError", "command_line", "evaluate"]
