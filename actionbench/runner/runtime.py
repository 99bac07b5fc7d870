"""Where a process runs: torch.distributed under torchrun, the device, AMP autocast, and the progress bar.

One runtime for the harness and for training code built on it (paxion_models reuses it).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Runtime:
    """Where this process runs: rank, world size, device, precision."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp_dtype: torch.dtype | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp_dtype)

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def start_runtime(device: str = "auto", amp: str = "auto") -> Runtime:
    """Join torch.distributed when launched by torchrun (WORLD_SIZE > 1); pick the device and AMP dtype."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available here")
        if dev.index is None:
            dev = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ValueError(f"--amp {amp!r}: choose auto, off, bf16 or fp16")
    amp_dtype = None
    if dev.type == "cuda" and amp != "off":
        if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
            amp_dtype = torch.float16
        else:
            amp_dtype = torch.bfloat16
    elif dev.type != "cuda" and amp in ("bf16", "fp16"):
        raise ValueError(f"--amp {amp}: mixed precision runs on CUDA only (device is {dev})")
    owns = False
    if world > 1:
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
            owns = True
        rank, world = dist.get_rank(), dist.get_world_size()
    return Runtime(rank, world, dev, amp_dtype, owns)


def shard_of(key: str, world: int) -> int:
    return int(key[:12], 16) % world


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision in `dtype` on CUDA; nothing elsewhere, or when `dtype` is None."""
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def progress_bar(enabled: bool, *, info: bool = False) -> Any:
    """A rich progress bar on stderr (a disabled one when not `enabled`: add_task and advance still work).

    `info`: one more column showing each task's `info` field (training shows its loss there), and the time spent.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if info:
        columns += [TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    return Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True), transient=False,
                    disable=not enabled)
