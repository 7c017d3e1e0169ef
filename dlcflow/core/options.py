"""Options objects: frozen dataclasses that carry a step's settings as one value.

Each post-processing and analysis step has one (``FilterOptions`` beside
:func:`dlcflow.post.filters.filter_file`, ``OutlierOptions``, ``LabeledVideoOptions``,
``AnalysisOptions``). They subclass :class:`Options`, which gives them

* :meth:`Options.gather`: the DLC-named functions (``filterpredictions(config, video,
  videotype, shuffle, trainingsetindex, filtertype, ...)``) keep their parameter lists and
  pass ``locals()`` here, so a call builds the object the same way in every function;
  with ``options=`` the object is used as given, and an option keyword that does not keep
  its default beside it is an error (one line naming the keyword);
* :meth:`Options.from_config` / :meth:`Options.to_config`: the workflow config's section
  (``config/config.yaml``, checked by ``workflow/schemas/config.schema.yaml``) to an object
  and back. ``CONFIG_KEYS`` are the fields the section sets, ``WORKFLOW_KEYS`` the
  section's keys that are not options of the step (they choose the model or the targets),
  and ``CONFIG_DEFAULTS`` the few section defaults that differ from DLC's.

Validation happens in ``__post_init__`` (helpers below): a ValueError of one line that
names the option and what it may be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Self

__all__ = ["Options", "check_bool", "check_choice", "check_int", "check_real"]


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of the options dataclasses (see the module docstring)."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ()
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ()
    CONFIG_DEFAULTS: ClassVar[Mapping[str, Any]] = {}

    def _set(self, name: str, value: object) -> None:
        """Normalise a field in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    @classmethod
    def gather(cls, options: Self | None, arguments: Mapping[str, Any], where: str) -> Self:
        """The options of a DLC-named call: ``arguments`` (the function's ``locals()``; the
        names that are fields are taken) or ``options`` when given. With ``options``, a field
        argument that differs from the field's default raises ValueError."""
        names = [f.name for f in dataclasses.fields(cls) if f.name in arguments]
        if options is None:
            return cls(**{name: arguments[name] for name in names})
        if not isinstance(options, cls):
            raise TypeError(
                f"{where}: options must be a {cls.__name__}, not {type(options).__name__}"
            )
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        changed = [name for name in names if not _same(arguments[name], defaults[name])]
        if changed:
            raise ValueError(
                f"{where}: {changed[0]} given both as a keyword and in options=; "
                f"set it in the {cls.__name__} only"
            )
        return options

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Self:
        """The options of a workflow config section (missing keys keep their defaults;
        ``WORKFLOW_KEYS`` are left out; any other key is an error)."""
        known = set(cls.CONFIG_KEYS) | set(cls.WORKFLOW_KEYS)
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown config key {unknown[0]!r} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**{k: v for k, v in section.items() if k in cls.CONFIG_KEYS})

    def to_config(self) -> dict[str, Any]:
        """The ``CONFIG_KEYS`` values, as a workflow config section holds them."""
        return {name: getattr(self, name) for name in self.CONFIG_KEYS}


def _same(value: object, default: object) -> bool:
    """Whether an argument keeps its default (20.0 keeps 20; True does not keep 1)."""
    if value is default:
        return True
    numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in (value, default))
    if not numbers and type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # arrays and the like
        return False


def _fail(owner: str, name: str, value: object, what: str) -> ValueError:
    return ValueError(f"{owner}: {name} {value!r} {what}")


def check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> None:
    """``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name} {value!r} is not one of {', '.join(choices)}")


def check_int(owner: str, name: str, value: object, minimum: int = 0) -> None:
    """``value`` is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise _fail(owner, name, value, f"must be an integer >= {minimum}")


def check_real(
    owner: str,
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    open_ends: bool = False,
) -> None:
    """``value`` is a number in ``[low, high]`` (``(low, high)`` with ``open_ends``)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value > low if open_ends else value >= low
    if ok and high is not None:
        ok = value < high if open_ends else value <= high
    if not ok:
        left, right = ("(", ")") if open_ends else ("[", "]")
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise _fail(owner, name, value, f"must be a number in {span}")


def check_bool(owner: str, name: str, value: object) -> None:
    """``value`` is True or False."""
    if not isinstance(value, bool):
        raise _fail(owner, name, value, "must be true or false")
