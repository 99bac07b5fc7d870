"""The model protocol (public abstract bases and the load-time check) and the registry of models by name."""

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
    "model_kind",
]
