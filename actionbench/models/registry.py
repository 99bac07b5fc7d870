"""Finding a model by name: built-ins, the `actionbench.models` entry points, and `path/to/file.py:factory`.

Names resolve in this order:
1. an exact registry name (`chance`, or a plugin's name);
2. `<prefix>:<rest>` for a prefix entry (`clip:ViT-B-32`, `blind:chance`, a plugin's `paxion:...`): the
   factory receives `rest=...`;
3. `path/to/file.py:factory`: the file is imported and `factory(**args)` called.

An entry point in the group may load a factory callable (registered under the entry point's name), a
ModelSpec, or a list of ModelSpecs. Built-ins win over plugins of the same name.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from actionbench.ids import stable_hash
from actionbench.models.protocol import ModelError, ModelSpec, check_model, model_kind

ENTRY_POINT_GROUP = "actionbench.models"
_FILE_FORM = re.compile(r"^(?P<path>.+\.py):(?P<attr>[A-Za-z_][\w.]*)$")


# ------------------------------------------------------------------------------------ model arguments


def parse_value(text: str) -> Any:
    """`--model-arg` values: int, then float, then true/false, else the string itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_model_args(pairs: Iterable[str], checkpoint: str | Path | None = None) -> dict[str, Any]:
    """`["k=v", ...]` (and `--checkpoint P`, short for `checkpoint=P`) -> keyword arguments."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ModelError(f"--model-arg {pair!r}: expected key=value with a Python identifier as key")
        if key in args:
            raise ModelError(f"--model-arg {key!r} given twice")
        args[key] = parse_value(value)
    if checkpoint is not None:
        if "checkpoint" in args:
            raise ModelError("--checkpoint and --model-arg checkpoint=... both given")
        args["checkpoint"] = str(checkpoint)
    return args


# ----------------------------------------------------------------------------------------- the listing


@dataclass
class Registry:
    """Every model spec found, plus the plugins that failed to load (named with the reason)."""

    specs: dict[str, ModelSpec] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # entry point name -> error
    shadowed: list[str] = field(default_factory=list)  # plugin specs hidden by an earlier name

    def add(self, spec: ModelSpec) -> None:
        if spec.name in self.specs:
            self.shadowed.append(f"{spec.name} ({spec.source}) is hidden by {self.specs[spec.name].source}")
            return
        self.specs[spec.name] = spec


def builtin_specs() -> list[ModelSpec]:
    """The built-in entries: chance, clip:<arch>, hf:<id>, vlm:<id>, text-prior and the controls."""
    from actionbench.models import builtin, clip, controls, hf, text_prior, vlm

    return [*builtin.SPECS, *clip.SPECS, *hf.SPECS, *vlm.SPECS, *controls.SPECS, *text_prior.SPECS]


def _specs_from(obj: Any, ep_name: str, dist: str) -> list[ModelSpec]:
    source = f"entry point ({dist})" if dist else "entry point"
    if isinstance(obj, ModelSpec):
        items: list[Any] = [obj]
    elif isinstance(obj, (list, tuple)) and all(isinstance(s, ModelSpec) for s in obj):
        items = list(obj)
    elif callable(obj):
        doc = inspect.getdoc(obj) or ""
        items = [ModelSpec(name=ep_name, factory=obj, description=doc.splitlines()[0] if doc else "")]
    else:
        raise ModelError(f"entry point {ep_name!r} gives {type(obj).__name__}, not a factory or ModelSpec(s)")
    return [s if s.source != "built-in" else _with_source(s, source) for s in items]


def _with_source(spec: ModelSpec, source: str) -> ModelSpec:
    return dataclasses.replace(spec, source=source)


def _plugin_entry_points(first: str | None = None) -> list[Any]:
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if first is not None:  # the entry point named like the request loads first (often the only one needed)
        eps.sort(key=lambda ep: ep.name != first)
    return eps


def _load_entry_point(registry: Registry, ep: Any) -> None:
    dist = getattr(getattr(ep, "dist", None), "name", "") or ""
    try:
        for spec in _specs_from(ep.load(), ep.name, dist):
            registry.add(spec)
    except Exception as e:  # a broken plugin must not break the others
        registry.broken[ep.name] = f"{type(e).__name__}: {e}".splitlines()[0]


def load_registry() -> Registry:
    """Built-ins and every plugin (for `actionbench models`)."""
    registry = Registry()
    for spec in builtin_specs():
        registry.add(spec)
    for ep in _plugin_entry_points():
        _load_entry_point(registry, ep)
    return registry


def _find(registry: Registry, name: str) -> tuple[ModelSpec, str | None] | None:
    if name in registry.specs and not registry.specs[name].prefix:
        return registry.specs[name], None
    head, sep, rest = name.partition(":")
    spec = registry.specs.get(head)
    if sep and spec is not None and spec.prefix:
        return spec, rest
    return None


def resolve(name: str) -> tuple[ModelSpec, str | None]:
    """The spec that creates `name` (and the `rest` after its prefix), loading plugins only when needed."""
    registry = Registry()
    for spec in builtin_specs():
        registry.add(spec)
    found = _find(registry, name)
    pending = _plugin_entry_points(first=name.partition(":")[0])
    while found is None and pending:
        _load_entry_point(registry, pending.pop(0))
        found = _find(registry, name)
    if found is not None:
        return found
    match = _FILE_FORM.match(name)
    if match:
        return _file_spec(Path(match["path"]), match["attr"]), None
    candidates = sorted(registry.specs) + [f"{n}:<...>" for n, s in registry.specs.items() if s.prefix]
    close = difflib.get_close_matches(name, list(registry.specs), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(candidates)}"
    broken = "".join(f"; plugin {n!r} failed to load ({e})" for n, e in sorted(registry.broken.items()))
    raise ModelError(f"unknown model {name!r}{hint}{broken} (or give path/to/file.py:factory)")


def _file_spec(path: Path, attr: str) -> ModelSpec:
    """Import `path` as a module and take `attr` from it (a factory or a ModelSpec)."""
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    # Named by path and content: a file edited since it was imported is imported again, not served from sys.modules.
    module_name = f"actionbench_user_model_{stable_hash(str(path.resolve()), path.read_bytes().hex(), length=12)}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ModelError(f"model file {path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise ModelError(f"model file {path}: import failed ({type(e).__name__}: {e})") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"model file {path}: no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, ModelSpec):
        return _with_source(obj, f"file {path}")
    if not callable(obj):
        raise ModelError(f"model file {path}: {attr!r} is not callable (expected a factory)")
    return ModelSpec(name=f"{path.stem}:{attr}", factory=obj, source=f"file {path}")


# ------------------------------------------------------------------------------------------- creating


def is_model(obj: Any) -> bool:
    """Does `obj` have a protocol's scoring methods (a dual encoder, a cross-encoder or a probe scorer)?"""
    try:
        model_kind(obj)
    except ModelError:
        return False
    return True


__all__ = ["Registry", "create_model", "is_model", "load_registry", "model_kind", "parse_model_args", "resolve"]


def create_model(name: str, args: dict[str, Any] | None = None) -> Any:
    """Create the model registered as `name` with keyword arguments `args`."""
    args = dict(args or {})
    if not name:
        raise ModelError("empty model name")
    spec, rest = resolve(name)
    if spec.wraps:  # a wrapper (the controls): <rest> names the model it wraps, created with the arguments
        if not rest:
            raise ModelError(f"{spec.name}: name the model to wrap, e.g. {spec.name}:clip:ViT-B-32")
        inner = create_model(rest, args)
    try:
        if spec.wraps:
            model = spec.factory(inner=inner)
        else:
            model = spec.factory(rest=rest, **args) if spec.prefix else spec.factory(**args)
    except TypeError as e:
        # Almost always an argument the factory does not take: say which model and which arguments.
        given = ", ".join(f"{k}={v!r}" for k, v in args.items()) or "no arguments"
        raise ModelError(f"model {name!r} cannot be created with {given} ({e})") from e
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"model {name!r}: {type(e).__name__}: {e}".splitlines()[0]) from e
    if not is_model(model):
        raise ModelError(f"model {name!r}: its factory returned {type(model).__name__}, which is not a model")
    # The name a user typed is the leaderboard row; file factories keep a name their model sets itself.
    if spec.source.startswith("file ") and _own_name(model):
        pass
    else:
        model.name = name
    if not _own(model, "args"):
        model.args = args
    if not spec.source.startswith("built-in") and not _own(model, "factory_source"):
        # A file or entry-point plugin: its code is part of what it computes (see source_digest).
        model.factory_source = source_digest(spec.factory)
    check_model(model)  # anything missing is one line now, not an AttributeError deep in the runner
    return model


_HARNESS_DIR = Path(__file__).resolve().parents[1]


def source_digest(*objects: Any) -> str | None:
    """A hash of the source files that define `objects` (functions, classes, or instances: their class, and a
    wrapped `inner` model's), outside the harness itself. It goes into a model's fingerprint, so a plugin whose code
    changed never gets the embeddings its old code cached, even when it forgets to bump its `version`."""
    files: set[Path] = set()
    todo = list(objects)
    while todo:
        obj = todo.pop()
        if obj is None:
            continue
        target = obj if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj) else type(obj)
        try:
            source = inspect.getsourcefile(target)
        except (TypeError, OSError):
            source = None
        if source:
            path = Path(source).resolve()
            if _HARNESS_DIR not in path.parents and path.is_file():
                files.add(path)
        inner = getattr(obj, "inner", None) if not inspect.isclass(obj) else None
        if inner is not None and inner is not obj:
            todo.append(inner)
    if not files:
        return None
    return stable_hash(*[f"{p.name}:{stable_hash(p.read_bytes().decode('utf-8', 'replace'))}" for p in sorted(files)])


def _own(model: Any, attr: str) -> bool:
    return attr in vars(model) if hasattr(model, "__dict__") else False


def _own_name(model: Any) -> bool:
    """True when the model names itself (not the protocol base class's placeholder)."""
    name = getattr(model, "name", None)
    return bool(name) and name not in ("model", "cross-encoder")
