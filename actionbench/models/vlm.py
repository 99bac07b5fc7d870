"""`vlm:<hub id or folder>`: generative video-LLMs (image-text-to-text models whose processor takes video or
a list of frames), scored by the log-probabilities they give to text.

Modes (`--model-arg mode=...`):
- `likelihood` (default): s(view, text) = log P(text | video, prompt), the sum of the caption tokens'
  log-probabilities (`normalize=mean`: their mean). A cross-encoder: AA and OR compare two captions under one
  view, VR one caption under the forward and the reversed view.
- `choice`: "Which caption describes the video? (A) .. (B) ..", asked in both option orders so a preference
  for a letter or a position cancels: each option's score is the mean, over the two orders, of the
  log-probability of its letter (their difference is the mean margin of the correct letter). VR: "Does the
  video show: <text>?" per view, s = log P(yes) - log P(no).

The video and the prompt up to the first varying text (the prefix) run once per view; every text of that view
is scored from the prefix's key/value cache, in batches of `text_batch` continuations. The prompt is the
processor's chat template around the question (a plain "question / Answer:" layout without one); the
rendered template and its hash are recorded in the bundle and are part of the model's fingerprint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from actionbench.ids import stable_hash
from actionbench.models.hf_loading import (
    as_uint8,
    load_pretrained,
    pick_dtype,
    processor_record,
    require_transformers,
    weights_hash,
)
from actionbench.models.protocol import CrossEncoder, ModelError, ModelSpec, Preprocess

VERSION = "vlm-1"
MODES = ("likelihood", "choice")
NORMALIZE = ("sum", "mean")
QUESTIONS = {
    "likelihood": "Describe what happens in the video in one sentence.",
    "choice": "Which caption describes the video?\n(A) {a}\n(B) {b}\nAnswer with the option's letter.",
    "yes_no": "Does the video show: {text}?\nAnswer yes or no.",
}
ANSWERS = {"likelihood": "{caption}", "choice": "{answer}", "yes_no": "{answer}"}
LETTERS = ("A", "B")
YES_NO = ("Yes", "No")
FIELDS = ("{caption}", "{a}", "{b}", "{text}", "{answer}")
DEFAULT_FRAME_SIDE = 448  # pixel-budget processors (Qwen2-VL family): the square side handed to them


@dataclass(frozen=True)
class Template:
    """One prompt: `prefix` (holds the visual placeholder; run once per view) + `rest` (fields filled per text)."""

    prefix: str
    rest: str

    @property
    def text(self) -> str:
        return self.prefix + self.rest

    def fill(self, **values: str) -> str:
        out = self.rest
        for key, value in values.items():
            out = out.replace("{" + key + "}", value)
        return out


def split_template(rendered: str) -> Template:
    """Split a rendered prompt at its first field: what comes before is the same for every text of a view."""
    cut = min((i for f in FIELDS if (i := rendered.find(f)) >= 0), default=len(rendered))
    return Template(rendered[:cut], rendered[cut:])


class VideoLLM(CrossEncoder):
    """A generative video-LLM scored by text log-probabilities from a cached video prefix (see module doc)."""

    order_invariant = False

    def __init__(
        self,
        source: str,
        *,
        mode: str = "likelihood",
        normalize: str = "sum",
        question: str | None = None,
        frames_as: str = "auto",
        size: int | None = None,
        text_batch: int = 16,
        dtype: str = "auto",
        device_map: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ) -> None:
        transformers = require_transformers("vlm:")
        if mode not in MODES:
            raise ModelError(f"vlm:{source}: mode={mode!r}: choose {' or '.join(MODES)}")
        if normalize not in NORMALIZE:
            raise ModelError(f"vlm:{source}: normalize={normalize!r}: choose {' or '.join(NORMALIZE)}")
        if mode == "choice" and normalize != "sum":
            raise ModelError(f"vlm:{source}: normalize applies to mode=likelihood only")
        if int(text_batch) < 1:
            raise ModelError(f"vlm:{source}: text_batch must be at least 1")
        self.source, self.mode, self.normalize = source, mode, normalize
        self.text_batch = int(text_batch)
        self.device_map = device_map
        self.dtype = pick_dtype(dtype, device_map)
        self.explicit_dtype = dtype != "auto"
        common: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
        if revision is not None:
            common["revision"] = str(revision)
        self.processor = load_pretrained(transformers.AutoProcessor, source, "vlm:", **common)
        kwargs = dict(common, dtype=self.dtype)
        if device_map is not None:
            kwargs["device_map"] = device_map
        self.model = load_pretrained(transformers.AutoModelForImageTextToText, source, "vlm:", **kwargs)
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None:
            raise ModelError(f"vlm:{source}: its processor has no tokenizer")
        self.frames_as = self._frames_as(frames_as)
        self.preprocess = Preprocess(size=self._frame_size(size), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.templates = self._templates(question)
        self.answer_ids = {
            name: [self._ids(a) for a in answers]
            for name, answers in (("choice", LETTERS), ("yes_no", YES_NO))
        }
        self.prompt_hash = stable_hash(*(self.templates[k].text for k in sorted(self.templates)), length=16)
        self.weights_hash = weights_hash(source, self.model.config)
        self.version = f"{VERSION}/{mode}/{normalize}/prompt-{self.prompt_hash}"
        self.details = {
            "family": getattr(self.model.config, "model_type", None),
            "class": type(self.model).__name__,
            "processor": processor_record(self.processor),
            "scoring": {
                "mode": mode,
                "normalize": normalize if mode == "likelihood" else None,
                "frames_as": self.frames_as,
                "prompt_hash": self.prompt_hash,
                "prompt_templates": {k: self.templates[k].text for k in sorted(self.templates)},
                "answers": {"choice": list(LETTERS), "yes_no": list(YES_NO)} if mode == "choice" else None,
                "text_batch": self.text_batch,
            },
        }
        self.device = self._model_device()
        self._memo: tuple[str, torch.Tensor, tuple[Any, torch.Tensor, int]] | None = None

    # ------------------------------------------------------------------------------------------ set-up

    def _frames_as(self, frames_as: str) -> str:
        has_video = getattr(self.processor, "video_processor", None) is not None and bool(
            getattr(self.processor, "video_token", None))
        if frames_as == "auto":
            return "video" if has_video else "images"
        if frames_as not in ("video", "images"):
            raise ModelError(f"vlm:{self.source}: frames_as={frames_as!r}: choose auto, video or images")
        if frames_as == "video" and not has_video:
            raise ModelError(f"vlm:{self.source}: its processor takes no video; use frames_as=images")
        if frames_as == "images" and getattr(self.processor, "image_processor", None) is None:
            raise ModelError(f"vlm:{self.source}: its processor takes no images")
        return frames_as

    def _frame_size(self, size: int | None) -> tuple[int, int]:
        """The processor's own input size where it has one; a square within a pixel budget (the Qwen-VL family's
        processors count pixels, not sides) otherwise. The processor still resizes as its config says."""
        part = getattr(self.processor, "video_processor" if self.frames_as == "video" else "image_processor")
        if size is not None:
            return int(size), int(size)
        s = getattr(part, "size", None) or {}
        get = s.get if isinstance(s, dict) else lambda k, d=None: getattr(s, k, d)
        if get("height") and get("width"):
            return int(get("height")), int(get("width"))
        if getattr(part, "merge_size", None):  # a pixel budget: min / max pixels per frame
            factor = int(getattr(part, "patch_size", 14) or 14) * int(part.merge_size)
            most = getattr(part, "max_pixels", None) or get("longest_edge")
            least = getattr(part, "min_pixels", None) or get("shortest_edge")
            side = DEFAULT_FRAME_SIDE // factor * factor
            if most:
                side = min(side, int(math.isqrt(int(most)) // factor * factor))
            if least:
                side = max(side, int(math.ceil(math.sqrt(int(least)) / factor) * factor))
            return side, side
        side = get("shortest_edge") or get("longest_edge") or DEFAULT_FRAME_SIDE
        return int(side), int(side)

    def _visual_content(self) -> list[dict[str, str]]:
        from actionbench.video import FrameSpec

        if self.frames_as == "video":
            return [{"type": "video"}]
        return [{"type": "image"}] * FrameSpec().num_frames

    def _templates(self, question: str | None) -> dict[str, Template]:
        names = ["likelihood"] if self.mode == "likelihood" else ["choice", "yes_no"]
        if question is not None and self.mode != "likelihood":
            raise ModelError(f"vlm:{self.source}: question= applies to mode=likelihood (choice uses fixed questions)")
        out = {}
        for name in names:
            q = question if question is not None else QUESTIONS[name]
            out[name] = split_template(self._render(q) + ANSWERS[name])
            if self.mode == "likelihood" and "{caption}" not in out[name].rest:
                raise ModelError(f"vlm:{self.source}: the prompt must end with the caption")
        if len(out) > 1:  # one prefix for both questions: what they share, cut at a line or the visual placeholder
            shared = os.path.commonprefix([t.prefix for t in out.values()])
            cut = max(shared.rfind("\n") + 1, self._placeholder_end(shared))
            out = {k: Template(t.text[:cut], t.text[cut:]) for k, t in out.items()}
        return out

    def _placeholder_end(self, text: str) -> int:
        token = str(getattr(self.processor, "video_token" if self.frames_as == "video" else "image_token", "") or "")
        at = text.rfind(token) if token else -1
        return at + len(token) if at >= 0 else 0

    def _render(self, question: str) -> str:
        messages = [{"role": "user", "content": [*self._visual_content(), {"type": "text", "text": question}]}]
        if getattr(self.processor, "chat_template", None):
            try:
                return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except Exception as e:
                raise ModelError(f"vlm:{self.source}: its chat template failed ({type(e).__name__}: {e})") from None
        token = self._placeholder()
        return f"{token}\n{question}\nAnswer: "

    def _placeholder(self) -> str:
        if self.frames_as == "video":
            return str(self.processor.video_token)
        token = getattr(self.processor, "image_token", None)
        if not token:
            raise ModelError(f"vlm:{self.source}: its processor names no image token and has no chat template")
        from actionbench.video import FrameSpec

        return str(token) * FrameSpec().num_frames

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _model_device(self) -> torch.device:
        try:
            return self.model.get_input_embeddings().weight.device
        except Exception:
            return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> VideoLLM:
        if self.device_map is not None:  # accelerate placed the layers; inputs go where the embeddings are
            self.device = self._model_device()
            return self
        device = torch.device(device)
        dtype = self.dtype if self.explicit_dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
        self.model.to(device=device, dtype=dtype)
        self.dtype = dtype
        self._memo = None
        self.device = device
        return self

    # ------------------------------------------------------------------------------------------ scoring

    @torch.inference_mode()
    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """`[B, T, 3, H, W]` and N texts -> `[B, N]`: caption log-likelihood, or the yes/no log-odds in choice mode."""
        rows = []
        for view in frames:
            if self.mode == "likelihood":
                t = self.templates["likelihood"]
                items = [(self._ids(t.fill(caption=text)), None) for text in texts]
                sums = self.continuations(view, t.prefix, items)
                rows.append(torch.tensor([s / n if self.normalize == "mean" else s for s, n in sums]))
            else:
                t = self.templates["yes_no"]
                yes, no = self.answer_ids["yes_no"]
                items = [(self._ids(t.fill(text=text, answer="")), [yes, no]) for text in texts]
                got = self.continuations(view, t.prefix, items)
                rows.append(torch.tensor([y - n for y, n in got]))
        return torch.stack(rows).float()

    # -------------------------------------------------------------------------------- the prefix engine

    def encode_prefix(self, view: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        """Processor inputs for one view and the prompt prefix (holding the visual placeholder)."""
        clip = as_uint8(view)
        chat = bool(getattr(self.processor, "chat_template", None))
        kwargs: dict[str, Any] = {"text": [prefix], "return_tensors": "pt", "add_special_tokens": not chat}
        if self.frames_as == "video":
            kwargs["videos"] = [clip]
        else:
            kwargs["images"] = [list(clip)]
        try:
            inputs = self.processor(**kwargs)
        except Exception as e:
            raise ModelError(f"model {self.name}: its processor failed on a view ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
        out = {}
        for k, v in inputs.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device)
                out[k] = v.to(self.dtype) if v.is_floating_point() else v
        return out

    @torch.inference_mode()
    def continuations(self, view: torch.Tensor, prefix: str, items: list[tuple[list[int], list[list[int]] | None]],
                      inputs: dict[str, torch.Tensor] | None = None) -> list[tuple[float, ...]]:
        """Log-probabilities of text after one view's prefix, from its key/value cache.

        Each item is `(context_ids, targets)`. `targets=None`: the context itself is scored, giving
        (sum of its tokens' log-probs, token count). Otherwise: for each target, the sum of its tokens'
        log-probs after the context (one sequence for all targets when each is a single token).
        `inputs`: the view's processor output (`encode_prefix`), when the caller already has it.
        """
        cache, last, offset = self._prefix(view, prefix, inputs)
        seqs, reads = self._sequences(items)
        logps: list[torch.Tensor] = [last.new_empty(0)] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i]), i))
        for start in range(0, len(order), self.text_batch):
            chunk = [i for i in order[start : start + self.text_batch] if seqs[i]]
            if not chunk:
                continue
            for i, lp in zip(chunk, self._run(cache, offset, [seqs[i] for i in chunk]), strict=True):
                logps[i] = lp
        return self._collect(items, seqs, reads, logps, last)

    def _prefix(self, view: torch.Tensor, prefix: str, inputs: dict[str, torch.Tensor] | None
                ) -> tuple[Any, torch.Tensor, int]:
        """The prefix's key/value cache, its last log-probs and the position of the next token. The last view's
        prefix is kept: in choice mode `score_options` and `score` (the yes/no question) share the prefix up to the
        end of the video, so a view the runner hands to both runs it once."""
        memo = self._memo
        if memo is not None and memo[0] == prefix and memo[1].shape == view.shape and torch.equal(memo[1], view):
            return memo[2]
        inputs = inputs if inputs is not None else self.encode_prefix(view, prefix)
        out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        cache = out.cache if hasattr(out, "cache") else out.past_key_values
        last = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        offset = int(inputs["input_ids"].shape[1]) + self._rope_delta()
        self._memo = (prefix, view.clone(), (cache, last, offset)) if self.mode == "choice" else None
        return cache, last, offset

    @staticmethod
    def _sequences(items: list[tuple[list[int], list[list[int]] | None]]) -> tuple[list[list[int]], list[Any]]:
        """The token sequences to run after the prefix, and for each item where its answers are read."""
        seqs: list[list[int]] = []
        reads: list[Any] = []
        for ctx, targets in items:
            if targets is None:
                seqs.append(list(ctx))
                reads.append(("self", len(seqs) - 1))
            elif all(len(t) == 1 for t in targets):
                seqs.append(list(ctx))
                reads.append(("next", len(seqs) - 1))
            else:
                first = len(seqs)
                seqs.extend(list(ctx) + list(t) for t in targets)
                reads.append(("each", first))
        return seqs, reads

    def _run(self, cache: Any, offset: int, seqs: list[list[int]]) -> list[torch.Tensor]:
        """Right-padded sequences after the cached prefix -> each one's next-token log-probs `[len, V]`."""
        from transformers import DynamicCache

        n, width = len(seqs), max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((n, width), int(pad), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        layers = [(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1)) for layer in cache.layers]
        expanded = DynamicCache(ddp_cache_data=layers, config=self.model.config)
        positions = (torch.arange(width) + offset).unsqueeze(0).expand(n, -1)
        # Right padding and a causal mask: no real token sees a pad, so no attention mask is needed.
        out = self.model(input_ids=ids.to(self.device), position_ids=positions.to(self.device), cache=expanded,
                         use_cache=True)
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        return [logp[i, : len(s)] for i, s in enumerate(seqs)]

    def _rope_delta(self) -> int:
        """Multimodal RoPE (the Qwen-VL family) numbers text after the video from the largest visual position."""
        inner = getattr(self.model, "model", None)
        delta = getattr(inner, "rope_deltas", None)
        return int(delta.reshape(-1)[0]) if isinstance(delta, torch.Tensor) else 0

    @staticmethod
    def _collect(items: list[tuple[list[int], list[list[int]] | None]], seqs: list[list[int]], reads: list[Any],
                 logps: list[torch.Tensor], last: torch.Tensor) -> list[tuple[float, ...]]:
        def seq_logprob(i: int, start: int) -> float:
            """Sum of log P(seqs[i][j]) for j >= start, predicted from the prefix's last position for j = 0."""
            total = 0.0
            for j in range(start, len(seqs[i])):
                row = last if j == 0 else logps[i][j - 1]
                total += float(row[seqs[i][j]])
            return total

        out: list[tuple[float, ...]] = []
        for (ctx, targets), (how, i) in zip(items, reads, strict=True):
            if how == "self":
                out.append((seq_logprob(i, 0), float(len(seqs[i]))))
            elif how == "next":
                row = last if not seqs[i] else logps[i][len(seqs[i]) - 1]
                out.append(tuple(float(row[t[0]]) for t in targets))
            else:
                out.append(tuple(seq_logprob(i + k, len(ctx)) for k in range(len(targets))))
        return out

    # --------------------------------------------------------------------------- the reference (no reuse)

    @torch.inference_mode()
    def full_forward_logprob(self, view: torch.Tensor, prefix: str, continuation: list[int],
                             inputs: dict[str, torch.Tensor] | None = None) -> float:
        """Sum of log P(continuation) from one forward pass over prefix + continuation (no cache): the reference
        the cached path must match, and the baseline of benchmarks/vlm_throughput.py. `inputs`: the view's
        processor output (`encode_prefix`), when the caller already has it."""
        inputs = dict(inputs) if inputs is not None else self.encode_prefix(view, prefix)
        n_prefix = inputs["input_ids"].shape[1]
        extra = torch.tensor([continuation], dtype=torch.long, device=self.device)
        inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        if "mm_token_type_ids" in inputs:
            inputs["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(extra)], dim=1)
        if hasattr(self.model, "model") and hasattr(self.model.model, "rope_deltas"):
            self.model.model.rope_deltas = None
        logits = self.model(**inputs, use_cache=False).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        return float(sum(logp[n_prefix - 1 + j, tok] for j, tok in enumerate(continuation)))


class ChoiceVideoLLM(VideoLLM):
    """`mode=choice`: AA and OR probes are asked as one two-option question (the runner calls `score_options`);
    `score` answers the yes/no question of Video Reversal."""

    @torch.inference_mode()
    def score_options(self, frames: torch.Tensor, pairs: list[tuple[str, str]]) -> torch.Tensor:
        """`[1, T, 3, H, W]` and P (first, second) caption pairs -> `[P, 2]`: each caption's score when the two are
        offered as options (choice mode): the mean over both option orders of the log-probability of its letter.
        The pair is put in a canonical order first, so the result never depends on which caption a probe lists first."""
        t = self.templates["choice"]
        a_id, b_id = self.answer_ids["choice"]
        canon = [tuple(sorted(p)) for p in pairs]
        items = []
        for x, y in canon:
            items.append((self._ids(t.fill(a=x, b=y, answer="")), [a_id, b_id]))  # x is A
            items.append((self._ids(t.fill(a=y, b=x, answer="")), [a_id, b_id]))  # y is A
        got = self.continuations(frames[0], t.prefix, items)
        out = []
        for i, (pair, (x, _)) in enumerate(zip(pairs, canon, strict=True)):
            (x_as_a, y_as_b), (y_as_a, x_as_b) = got[2 * i], got[2 * i + 1]
            sx, sy = (x_as_a + x_as_b) / 2, (y_as_b + y_as_a) / 2
            out.append((sx, sy) if pair[0] == x else (sy, sx))
        return torch.tensor(out, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------- factory


def vlm(rest: str, mode: str = "likelihood", normalize: str = "sum", question: str | None = None,
        frames_as: str = "auto", size: int | None = None, text_batch: int = 16, dtype: str = "auto",
        device_map: str | None = None, trust_remote_code: bool = False, revision: str | None = None) -> VideoLLM:
    """`vlm:<hub id or folder>` factory."""
    if not rest:
        raise ModelError("vlm: give a hub id or a local folder, e.g. vlm:Qwen/Qwen2-VL-2B-Instruct")
    if not isinstance(trust_remote_code, bool):
        raise ModelError("vlm: trust_remote_code must be true or false")
    cls = ChoiceVideoLLM if mode == "choice" else VideoLLM
    return cls(rest, mode=mode, normalize=normalize, question=question, frames_as=frames_as, size=size,
                    text_batch=text_batch, dtype=dtype, device_map=device_map, trust_remote_code=trust_remote_code,
                    revision=revision)


SPECS = [
    ModelSpec(
        name="vlm",
        factory=vlm,
        prefix=True,
        description="vlm:<hub id|folder>: generative video-LLM (Qwen2-VL family, LLaVA-OneVision, ...); "
        "mode=likelihood (log P(caption | video); normalize=sum|mean) or mode=choice (A/B both orders, VR yes/no); "
        "args: question, size, text_batch, dtype, device_map, trust_remote_code, revision",
        weights="hub id (downloaded by transformers) or a local folder; pip install 'actionbench[hf]'",
    )
]
