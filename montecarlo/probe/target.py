"""The probe's TARGET: a factory of freshly initialized models, named on the command line.

A target is ``MODULE:FACTORY`` where ``MODULE`` is an importable dotted name
(``my_package.models``) or a path to a Python file (``path/to/models.py``), and ``FACTORY`` is a
callable reached from it by attribute access (``build``, ``Zoo.resnet``).  The factory is called
with no arguments, or with the keyword arguments written after it as Python literals:
``models.py:mlp(depth=20, bn=True)``.  Every call must return a new ``torch.nn.Module`` whose
parameters are drawn afresh: the probe calls it once per initialization, under a seed of its
own, because a model's ``reset_parameters`` cannot be assumed to exist or to reach every
parameter.

Every failure raises :class:`TargetError` (a ``ValueError``) whose message names the target and
what failed (not importable, no such attribute, not callable, bad keyword arguments).  Nothing
here imports torch: the check that the factory returns a module is the probe's (it needs the
model anyway).
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FORMAT = "MODULE:FACTORY, MODULE a dotted module name or a path/to/file.py, optionally FACTORY(key=literal, ...)"


class TargetError(ValueError):
    """The target cannot be loaded or called; the message says what and why."""


@dataclass(frozen=True)
class Target:
    """A parsed target: where the factory lives, its attribute path and its keyword arguments."""

    text: str
    module: str
    attribute: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.module.endswith(".py") or "/" in self.module or "\\" in self.module


def parse_target(text: str) -> Target:
    """Split ``MODULE:FACTORY[(k=v, ...)]``; the keyword values must be Python literals."""
    if not isinstance(text, str) or ":" not in text.split("(", 1)[0]:
        raise TargetError(f"TARGET={text!r} is not allowed: expected {FORMAT}")
    # the factory follows the last ':' before any argument list (a Windows drive's ':' comes earlier)
    split = text.split("(", 1)[0].rfind(":")
    module, rest = text[:split].strip(), text[split + 1:]
    rest = rest.strip()
    kwargs: dict[str, Any] = {}
    if "(" in rest:
        if not rest.endswith(")"):
            raise TargetError(f"TARGET={text!r} is not allowed: the keyword arguments must close with ')' "
                              f"({FORMAT})")
        name, _, args = rest.partition("(")
        kwargs = _literal_kwargs(text, args[:-1])
        rest = name.strip()
    if not module or not rest or not all(part.isidentifier() for part in rest.split(".")):
        raise TargetError(f"TARGET={text!r} is not allowed: expected {FORMAT}")
    return Target(text, module, rest, kwargs)


def _literal_kwargs(text: str, args: str) -> dict[str, Any]:
    try:
        call = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError as exc:
        raise TargetError(f"TARGET={text!r}: the arguments ({args}) are not valid Python: {exc.msg}") from None
    if not isinstance(call, ast.Call) or call.args:
        raise TargetError(f"TARGET={text!r}: only keyword arguments are allowed, e.g. factory(depth=10)")
    out = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise TargetError(f"TARGET={text!r}: '**' is not allowed in the arguments")
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise TargetError(f"TARGET={text!r}: argument {kw.arg}={ast.unparse(kw.value)} is not a Python "
                              "literal (numbers, strings, booleans, None, tuples, lists, dicts)") from None
    return out


def _import_file(target: Target) -> Any:
    path = Path(target.module).expanduser()
    if not path.is_file():
        raise TargetError(f"TARGET={target.text!r}: the file {path} does not exist")
    # a private module name per file, so two files of the same name do not collide in sys.modules
    name = "_probe_target_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"TARGET={target.text!r}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # sibling imports of the file work
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is the target's
        sys.modules.pop(name, None)
        raise TargetError(f"TARGET={target.text!r}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _import_module(target: Target) -> Any:
    try:
        return importlib.import_module(target.module)
    except ModuleNotFoundError as exc:
        raise TargetError(f"TARGET={target.text!r}: module {target.module!r} is not importable "
                          f"({exc}); give a dotted module name on sys.path or a path/to/file.py") from exc
    except Exception as exc:
        raise TargetError(f"TARGET={target.text!r}: importing {target.module!r} failed: "
                          f"{type(exc).__name__}: {exc}") from exc


def load_factory(text: str) -> Callable[[], Any]:
    """The zero-argument factory the target names (keyword arguments bound), checked callable."""
    target = parse_target(text)
    obj = _import_file(target) if target.is_file else _import_module(target)
    where = target.module
    for part in target.attribute.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"TARGET={target.text!r}: {where} has no attribute {part!r}")
        obj = getattr(obj, part)
        where = f"{where}:{part}"
    if not callable(obj):
        raise TargetError(f"TARGET={target.text!r}: {target.attribute} is a {type(obj).__name__}, not callable "
                          "(a function or class that returns a fresh torch.nn.Module)")
    kwargs = dict(target.kwargs)

    def factory() -> Any:
        return obj(**kwargs)

    factory.__qualname__ = factory.__name__ = target.attribute
    factory.target = target  # type: ignore[attr-defined]
    return factory
