"""Scores per probe (float32) from the gathered outputs, and the decided prediction rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch

from actionbench import metrics
from actionbench.models.protocol import ModelError
from actionbench.runner.encode import call, checked
from actionbench.runner.plan import VR, Plan, option_key, pair_key, text_key
from actionbench.runner.runtime import Runtime

SIMILARITY_CHUNK = 512  # videos per similarity call when scoring


def _f32(x: float) -> float:
    return float(np.float32(x))


def _width(x: torch.Tensor) -> str:
    return " x ".join(str(d) for d in x.shape[1:])


def similarity_block(model: Any, vkeys: list[str], tkeys: list[str], store: dict[str, torch.Tensor], rt: Runtime,
                     start: int = 0) -> np.ndarray:
    """model.similarity of the videos `vkeys` (at most SIMILARITY_CHUNK) x the texts `tkeys`, as float32 on the CPU;
    `start` numbers the videos in messages."""
    name = getattr(model, "name", type(model).__name__)
    try:
        v = torch.stack([store[k] for k in vkeys]).to(rt.device)
        t = torch.stack([store[k] for k in tkeys]).to(rt.device)
    except RuntimeError as e:
        raise ModelError(f"model {name}: embeddings of different shapes cannot be compared ({e})") from None
    try:
        with torch.inference_mode():
            s = call(model, "similarity", model.similarity, v.float(), t.float())
    except ModelError:
        if v.shape[1:] != t.shape[1:]:  # said plainly, not as "mat1 and mat2 shapes cannot be multiplied"
            raise ModelError(f"model {name}: text embeddings are {_width(t)} wide but video embeddings are "
                             f"{_width(v)} wide; encode_texts and encode_videos must agree") from None
        raise
    s = checked(s, len(vkeys), model, "similarity", f"scoring videos {start + 1}-{start + len(vkeys)}")
    if tuple(s.shape) != (len(vkeys), len(tkeys)):
        raise ModelError(f"model {name}: similarity returned shape {tuple(s.shape)} for "
                         f"{len(vkeys)} videos x {len(tkeys)} texts")
    return s.numpy()


def scores_dual(model: Any, plan: Plan, store: dict[str, torch.Tensor], blind: bool,
                 rt: Runtime) -> dict[str, tuple[float, float]]:
    """(s_true, s_foil) per probe id from the video and text embeddings, in float32."""
    pairs: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
    for it in plan.items:
        if it.unit.error is not None:
            continue
        p, u = it.probe, it.unit
        true = (u.forward_key, text_key(p.text))
        if p.task == VR:
            foil = true if blind else (u.reversed_key, text_key(p.text))
        else:
            foil = (u.forward_key, text_key(p.foil_text))
        pairs[p.probe_id] = (true, foil)
    by_view: dict[str, set[str]] = defaultdict(set)
    for true, foil in pairs.values():
        for v, t in (true, foil):
            by_view[v].add(t)
    sims: dict[tuple[str, str], float] = {}
    views = sorted(by_view)
    for start in range(0, len(views), SIMILARITY_CHUNK):
        chunk = views[start : start + SIMILARITY_CHUNK]
        tkeys = sorted(set().union(*(by_view[v] for v in chunk)))
        s = similarity_block(model, chunk, tkeys, store, rt, start)
        col = {k: j for j, k in enumerate(tkeys)}
        for i, vk in enumerate(chunk):
            for tk in by_view[vk]:
                sims[(vk, tk)] = float(s[i, col[tk]])
    return {pid: (sims[true], sims[foil]) for pid, (true, foil) in pairs.items()}


def scores_cross(plan: Plan, store: dict[str, torch.Tensor], blind: bool,
                 options: bool = False) -> dict[str, tuple[float, float]]:
    out = {}
    for it in plan.items:
        if it.unit.error is not None:
            continue
        p, u = it.probe, it.unit
        if options and p.task != VR:  # both captions offered together (score_options)
            out[p.probe_id] = (float(store[option_key(u.forward_key, p.text, p.foil_text)]),
                               float(store[option_key(u.forward_key, p.foil_text, p.text)]))
            continue
        s_true = float(store[pair_key(u.forward_key, p.text)])
        if p.task == VR:
            s_foil = s_true if blind else float(store[pair_key(u.reversed_key, p.text)])
        else:
            s_foil = float(store[pair_key(u.forward_key, p.foil_text)])
        out[p.probe_id] = (s_true, s_foil)
    return out


def scores_by_probe(model: Any, plan: Plan) -> dict[str, tuple[float, float]]:
    live = [it for it in plan.items if it.unit.error is None]
    if not live:
        return {}
    s = checked(call(model, "score_probes", model.score_probes, [it.probe for it in live]), len(live), model,
                "score_probes", "all probes")
    if tuple(s.shape) != (len(live), 2):
        raise ModelError(f"model {model.name}: score_probes returned shape {tuple(s.shape)}, not ({len(live)}, 2)")
    return {it.probe.probe_id: (float(s[i, 0]), float(s[i, 1])) for i, it in enumerate(live)}


def predictions_for(plan: Plan, scores: dict[str, tuple[float, float]], ties: str,
                    logit_scale: float | None) -> list[dict[str, Any]]:
    """Prediction rows (float32 scores, decision, tie) for every probe that has scores, by probe id."""
    rows = []
    for it in plan.items:
        if it.probe.probe_id not in scores:
            continue
        s_true, s_foil = (_f32(s) for s in scores[it.probe.probe_id])
        credit, tie = metrics.decide(s_true, s_foil, it.probe.task, ties, it.probe.probe_id, logit_scale)
        row = {
            "probe_id": it.probe.probe_id,
            "task": it.probe.task,
            "dataset": it.clip.dataset,
            "clip_id": it.clip.clip_id,
            "source_video": it.clip.source_video,
            "group": it.clip.action,
            "s_true": s_true,
            "s_foil": s_foil,
            "decision": credit,
            "tie": bool(tie),
        }
        relation = (it.probe.edit or {}).get("relation") if it.probe.task == "action_antonym" else None
        if relation:  # what an AA foil contrasts (absent for other tasks and older probe sets)
            row["relation"] = relation
        rows.append(row)
    return rows
