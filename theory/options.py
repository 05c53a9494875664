"""Command-line options derived from dataclass fields: every option is declared once.

A frozen spec or config dataclass declares each of its fields with :func:`option` (a
``dataclasses.field`` whose metadata holds the help text, allowed values, flag spelling and
aliases).  The CLIs build their flags from those fields (:func:`add_options`), read the given
values back (:func:`given_values`) and rebuild a command line from a stored object
(:func:`command_args`) — so a flag, its type, its allowed values and its help live in one place,
next to the field they set, and the provenance commands printed in reports can never drift from
the parser.

A field that a subclass redeclares with another default (``ShallowSpec.depth = 1``) keeps the
metadata of the first class in the method resolution order that declared it with :func:`option`;
its help then lists each class's default (``default 10; shallow: 1``).

The BN derivative's vocabulary (one set of names for the fully connected nets and the convnets)
is here too: :data:`BN_BACKWARDS`, and :func:`bn_backward` which accepts the older spelling
``autograd`` (what training-mode autograd does: differentiate through the statistics) as an alias
of ``through``, so stored documents and scripts keep working.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from kernels.plan import BN_BACKWARDS as KERNEL_BN_BACKWARDS

META_KEY = "option"

#: how batch-norm (or mean-centring) statistics are differentiated: held constant (the theorems'
#: model: BN rescales path-weights) or differentiated through (autograd in training mode)
BN_BACKWARDS = KERNEL_BN_BACKWARDS  # declared with the kernels that implement them
BN_BACKWARD_ALIASES = {"autograd": "through"}
BN_BACKWARD_HELP = ("how batch statistics (BN, centring) are differentiated: constant = treated as "
                    "constants (the theorems' model) | through = differentiated through, as autograd does "
                    "in training mode ('autograd' is accepted for through)")


class OptionValueError(ValueError, argparse.ArgumentTypeError):
    """A value outside an option's allowed set (argparse prints the message as the usage error)."""


def bn_backward(value: str) -> str:
    """The canonical name of a BN-derivative setting (``autograd`` → ``through``).

    Raises :class:`OptionValueError` (a ``ValueError``) naming the value and the allowed names;
    as an argparse ``type=`` it becomes the usage error.
    """
    value = BN_BACKWARD_ALIASES.get(value, value)
    if value not in BN_BACKWARDS:
        allowed = ", ".join(BN_BACKWARDS) + " (alias: " + ", ".join(
            f"{a} = {b}" for a, b in BN_BACKWARD_ALIASES.items()) + ")"
        raise OptionValueError(f"bn_backward={value!r} is not allowed: one of {allowed}")
    return value


bn_backward.__name__ = "bn-backward"  # argparse names the type in its message


def add_bn_backward(parser: Any, default: str | None = None, *, extra_help: str = "") -> None:
    """``--bn-backward constant|through`` (alias ``autograd``) on ``parser`` or an argument group."""
    shown = f" (default {default})" if default else ""
    parser.add_argument("--bn-backward", dest="bn_backward", type=bn_backward, default=default,
                        metavar="{" + ",".join(BN_BACKWARDS) + "}", help=BN_BACKWARD_HELP + extra_help + shown)


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: Sequence[Any] | None = None,
           flag: str | None = None, aliases: Sequence[str] = (), metavar: str | None = None,
           default_text: str | None = None, cli: bool = True,
           parse: Callable[[str], Any] | None = None, format: Callable[[Any], str] | None = None,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is also a command-line option.

    ``flag`` defaults to ``--`` + the field name with ``-`` for ``_``; ``aliases`` are further
    spellings; ``default_text`` replaces the computed "(default …)" of the help; ``cli=False``
    keeps a field out of the command line (e.g. a hash computed from the data); ``parse`` turns
    the command-line text into the field's value (default: the field's type) and ``format`` the
    value back into text for :func:`command_args`.
    """
    meta = {META_KEY: {"help": help, "choices": tuple(choices) if choices is not None else None,
                       "flag": flag, "aliases": tuple(aliases), "metavar": metavar,
                       "default_text": default_text, "cli": cli, "parse": parse, "format": format}}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Option:
    """One command-line option, resolved from a field (and its redeclarations in subclasses)."""

    name: str
    flag: str
    aliases: tuple[str, ...]
    kind: type  # int | float | str | bool
    choices: tuple[Any, ...] | None
    help: str
    defaults: dict[str, Any]  # owner label -> default
    metavar: str | None
    default_text: str | None
    parse: Callable[[str], Any] | None
    format: Callable[[Any], str] | None

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, *self.aliases)

    def help_text(self) -> str:
        if self.default_text is not None:
            return f"{self.help} (default {self.default_text})" if self.default_text else self.help
        values = [v for v in self.defaults.values()]
        if not values or self.kind is bool:
            return self.help
        common = max(set(map(repr, values)), key=lambda r: sum(repr(v) == r for v in values))
        parts = [_show(next(v for v in values if repr(v) == common))]
        parts += [f"{owner}: {_show(v)}" for owner, v in self.defaults.items() if repr(v) != common]
        return f"{self.help} (default " + "; ".join(parts) + ")"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def _base_type(hint: Any) -> type:
    """``int`` from ``int``, ``int | None``, ``Optional[int]``; tuples of ints as ``tuple``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return tuple
    if args and origin is not None and origin not in (tuple, list):
        return _base_type(args[0])
    return hint if isinstance(hint, type) else str


def options_of(classes: Iterable[type], label: Callable[[type], str] = lambda c: c.__name__,
               only: Sequence[str] | None = None) -> list[Option]:
    """The options of every :func:`option` field of ``classes``, in declaration order, merged by name."""
    found: dict[str, dict[str, Any]] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = _meta(cls, f.name)
            if meta is None or not meta["cli"] or (only is not None and f.name not in only):
                continue
            entry = found.setdefault(f.name, {"meta": meta, "kind": _base_type(hints[f.name]), "defaults": {}})
            if f.default is not dataclasses.MISSING:
                entry["defaults"][label(cls)] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                entry["defaults"][label(cls)] = f.default_factory()
    out = []
    for name, entry in found.items():
        meta = entry["meta"]
        out.append(Option(name=name, flag=meta["flag"] or "--" + name.replace("_", "-"), aliases=meta["aliases"],
                          kind=entry["kind"], choices=meta["choices"], help=meta["help"],
                          defaults=entry["defaults"], metavar=meta["metavar"], default_text=meta["default_text"],
                          parse=meta["parse"], format=meta["format"]))
    if only is not None:
        out.sort(key=lambda o: list(only).index(o.name))
    return out


def _meta(cls: type, name: str) -> dict | None:
    """The option metadata of field ``name``: the first class in the MRO that declared it so."""
    for klass in cls.__mro__:
        fields = getattr(klass, "__dataclass_fields__", {})
        if name in fields and META_KEY in fields[name].metadata:
            return fields[name].metadata[META_KEY]
    return None


def add_options(parser: Any, options: Iterable[Option], *, set_defaults: bool = False) -> None:
    """Add one argparse option per :class:`Option`.

    With ``set_defaults=False`` (specs) an omitted option is ``None`` and the dataclass's own
    default applies; with ``True`` (configs with a single owner) argparse holds the default.
    Booleans that default to true get a ``--no-…`` flag.
    """
    for opt in options:
        kwargs: dict[str, Any] = {"dest": opt.name, "help": opt.help_text().replace("%", "%%")}
        default = next(iter(opt.defaults.values()), None) if set_defaults else None
        if opt.kind is bool:
            on = bool(next(iter(opt.defaults.values()), False))
            flag = ("--no-" + opt.flag[2:]) if on else opt.flag
            parser.add_argument(flag, *opt.aliases, action="store_false" if on else "store_true",
                                default=on if set_defaults else None, **kwargs)
            continue
        kwargs["type"] = opt.parse or opt.kind
        if opt.choices is not None:
            kwargs["choices"] = opt.choices
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        parser.add_argument(*opt.flags, default=default, **kwargs)


def given_values(args: argparse.Namespace, options: Iterable[Option]) -> dict[str, Any]:
    """``{field: value}`` of the options that were given (not ``None``)."""
    return {o.name: getattr(args, o.name) for o in options if getattr(args, o.name, None) is not None}


def command_args(obj: Any, options: Iterable[Option], *, skip_defaults: bool = True) -> list[str]:
    """The flags that rebuild ``obj`` (a dataclass instance) from its class defaults."""
    parts: list[str] = []
    defaults = {f.name: f.default for f in dataclasses.fields(obj)}
    for opt in options:
        if not hasattr(obj, opt.name):
            continue
        value = getattr(obj, opt.name)
        if value is None or (skip_defaults and defaults.get(opt.name, dataclasses.MISSING) == value):
            continue
        if opt.kind is bool:
            on = bool(next(iter(opt.defaults.values()), False))
            if value != on:
                parts.append(("--no-" + opt.flag[2:]) if on else opt.flag)
            continue
        text = opt.format(value) if opt.format else repr(value) if isinstance(value, float) else _show(value)
        parts.append(f"{opt.flag} {text}")
    return parts


def flag_of(field: str, options: Iterable[Option]) -> str:
    """The flag that sets ``field`` (``depth`` → ``--depth``); for error messages."""
    for opt in options:
        if opt.name == field:
            return opt.flag
    return "--" + field.replace("_", "-")
