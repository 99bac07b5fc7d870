"""The one task table: every task's id, short name, chance level, the views and texts it needs, its metric.

Probes, the runner, metrics, bundles, the leaderboard and the CLI read tasks from here; nothing else spells a
task id. The three two-way probe tasks are registered below; downstream tasks (retrieval, multiple choice:
DESIGN.md) register with `register(Task(...))` and declare their own `kind` and `metric`.

A two-way probe (kind `two_way`) compares s(view, text) with s(foil view, foil text); which views and texts a
task needs is what the runner plans from:
- `views`: the video views a probe is scored on (`forward`, and `reversed` for Video Reversal);
- `texts`: the probe fields scored against them (`text`, and `foil_text` when the foil is a text).
"""

from __future__ import annotations

from dataclasses import dataclass

from actionbench.errors import InputError

FORWARD = "forward"
REVERSED = "reversed"


@dataclass(frozen=True)
class Task:
    """One row of the task table."""

    id: str  # as written in probes.jsonl, predictions and results.json
    short: str  # column heading: AA, VR, OR
    name: str  # as a reader would say it
    chance: float  # percent correct by chance
    views: tuple[str, ...]  # the video views a probe is scored on
    texts: tuple[str, ...]  # the probe fields scored against the views
    metric: str = "accuracy"  # accuracy (two-way), later recall@k or multiple-choice accuracy
    kind: str = "two_way"  # two_way | retrieval | multiple_choice (downstream tasks)
    action: bool = False  # probes action knowledge: the "consistent" score needs every action task
    control: bool = False  # the object-knowledge control

    @property
    def foil_is_reversed_video(self) -> bool:
        """The foil is the same text on the reversed view (Video Reversal), not another text."""
        return REVERSED in self.views

    @property
    def has_foil_text(self) -> bool:
        return "foil_text" in self.texts


class UnknownTaskError(InputError):
    """A task id that is not in the table."""


_TABLE: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the table (a second task with the same id is refused); returns it."""
    if task.id in _TABLE:
        if _TABLE[task.id] == task:
            return task
        raise ValueError(f"task {task.id!r} is registered already")
    if not task.views or not task.texts:
        raise ValueError(f"task {task.id!r}: give the views and texts it needs")
    _TABLE[task.id] = task
    return task


def get(task_id: str) -> Task:
    """The task `task_id`; an unknown id is one line naming the known ones."""
    try:
        return _TABLE[task_id]
    except KeyError:
        raise UnknownTaskError(f"unknown task {task_id!r}; known: {', '.join(_TABLE)}") from None


def all_tasks() -> tuple[Task, ...]:
    """Every registered task, in registration order (the probe tasks first, in the paper's order)."""
    return tuple(_TABLE.values())


def ids(kind: str | None = "two_way") -> tuple[str, ...]:
    """The ids of the registered tasks of `kind` (None: every kind), in table order."""
    return tuple(t.id for t in _TABLE.values() if kind is None or t.kind == kind)


def action_ids() -> tuple[str, ...]:
    """The two-way action tasks (AA, VR): a clip is "consistent" when it passes all of them."""
    return tuple(t.id for t in _TABLE.values() if t.action and t.kind == "two_way")


def short(task_id: str) -> str:
    return get(task_id).short


ACTION_ANTONYM = register(Task(
    id="action_antonym", short="AA", name="Action Antonym", chance=50.0,
    views=(FORWARD,), texts=("text", "foil_text"), action=True,
))
VIDEO_REVERSAL = register(Task(
    id="video_reversal", short="VR", name="Video Reversal", chance=50.0,
    views=(FORWARD, REVERSED), texts=("text",), action=True,
))
OBJECT_REPLACEMENT = register(Task(
    id="object_replacement", short="OR", name="Object Replacement", chance=50.0,
    views=(FORWARD,), texts=("text", "foil_text"), control=True,
))

# The probe tasks, in the paper's order (AA, VR, OR): probes.jsonl, results and tables use these ids.
PROBE_TASKS: tuple[str, ...] = ids("two_way")
AA, VR, OR = ACTION_ANTONYM.id, VIDEO_REVERSAL.id, OBJECT_REPLACEMENT.id

# Downstream tasks (the paper's Table 2), run by the same runner as the probes. Their metrics are in
# actionbench.downstream_metrics, their sets in actionbench.datasets.downstream_set. A retrieval task's
# chance depends on its candidate count (R@1 = 100 / texts), so `chance` is 0 here and the set says the rest.
VIDEO_TEXT_RETRIEVAL = register(Task(
    id="video_text_retrieval", short="V2T/T2V", name="video-text retrieval", chance=0.0,
    views=(FORWARD,), texts=("candidates",), metric="recall@k", kind="retrieval",
))
VIDEO_ACTION_RETRIEVAL = register(Task(
    id="video_action_retrieval", short="V2A", name="video-to-action retrieval", chance=0.0,
    views=(FORWARD,), texts=("candidates",), metric="recall@k", kind="retrieval",
))
MULTIPLE_CHOICE_QA = register(Task(
    id="multiple_choice_qa", short="MC-QA", name="five-way multiple-choice question answering", chance=20.0,
    views=(FORWARD,), texts=("choices",), metric="accuracy", kind="multiple_choice",
))
DOWNSTREAM_TASKS: tuple[str, ...] = ids("retrieval") + ids("multiple_choice")

# The original's scoring options for retrieval tasks (REFERENCE.md §5.1, `eval_method`): the model alone, the sum of
# the model's and a backbone's softmax scores, or the backbone's top 50 re-ranked by the model.
RETRIEVAL_METHODS: tuple[str, ...] = ("default", "ensemble_with_backbone", "two_step_independent")
