"""ActionBench: probes, scoring harness and leaderboard for action knowledge in video-language models."""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = "1.0"

__all__ = ["__version__", "PROTOCOL_VERSION", "evaluate"]


def __getattr__(name: str):
    # Lazy: `import actionbench` must stay cheap (no torch import for probe building).
    if name == "evaluate":
        from actionbench.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
