"""The model protocol (public abstract bases and the load-time check) and the registry of models by name.

Part of actionbench's public surface (README, "Public surface"): plug-ins and paxion_models import from here.
"""

from __future__ import annotations

from actionbench.models.protocol import (
    CrossEncoder,
    DualEncoder,
    Model,
    ModelError,
    ModelProfile,
    ModelSpec,
    Preprocess,
    ProbeScorer,
    VideoTextModel,
    check_model,
    model_kind,
)
from actionbench.models.registry import create_model, load_registry, parse_model_args

__all__ = [
    "CrossEncoder",
    "DualEncoder",
    "Model",
    "ModelError",
    "ModelProfile",
    "ModelSpec",
    "Preprocess",
    "ProbeScorer",
    "VideoTextModel",
    "check_model",
    "create_model",
    "load_registry",
    "model_kind",
    "parse_model_args",
]
