"""ActionBench: probes, scoring harness and leaderboard for action knowledge in video-language models."""

from __future__ import annotations

from typing import Any

from actionbench.version import PROTOCOL_VERSION, __version__

__all__ = ["__version__", "PROTOCOL_VERSION", "evaluate"]


def evaluate(model: Any, probes: Any, videos: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Score a model on probe sets: see `actionbench.runner.evaluate` for the arguments.

    Imported on call: `import actionbench` stays cheap (no torch import for probe building).
    """
    from actionbench.runner import evaluate as run

    return run(model, probes, videos, **kwargs)
