"""Settings schemas: each tunable setting declared once, checked in Python and drawn as a form by front-ends.

An engine function or a view lists its settings as :class:`Option`\\ s; :func:`check_settings` fills in
defaults and checks values, and :meth:`Option.describe` gives the JSON a front-end draws a control from (its
range, choices, group heading, tooltip, unit, and the other settings it depends on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .checks import check_bool, check_choice, check_float, check_int, is_number, span
from .errors import SettingError

KINDS = ("int", "float", "bool", "choice")
"""Kinds of value an option holds."""


@dataclass(frozen=True)
class Option:
    """One tunable setting: its kind, default and valid values, and how a form shows it.

    Parameters
    ----------
    name : str
        The keyword the engine takes.
    label : str
        What the control is labelled.
    kind : {"int", "float", "bool", "choice"}
        The value's type.
    default : object
        The value when none is given (valid itself).
    low, high : float, optional
        Inclusive bounds of a number; ``None`` leaves that end open.
    choices : tuple
        The values of a ``"choice"``; for an ``"int"`` or ``"float"``, names accepted besides a number (the
        occlusion baseline: a number, ``"mean"`` or ``"blur"``).
    group : str
        The heading the control is listed under.
    help : str
        A one-line tooltip.
    when : tuple of (str, tuple)
        The option applies only while each named option has one of the given values, e.g.
        ``(("param", ("pixel",)),)``; a form hides it otherwise.
    optional : bool
        ``None`` is accepted too, meaning "automatic".
    unit : str
        Shown after the value, e.g. ``"px"`` or ``"%"``.
    """

    name: str
    label: str
    kind: str
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[Any, ...] = ()
    group: str = ""
    help: str = ""
    when: Tuple[Tuple[str, Tuple[Any, ...]], ...] = ()
    optional: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        if self.kind == "choice" and not self.choices:
            raise SettingError(f"option {self.name!r} is a choice without choices")
        self.check(self.default)

    def check(self, value: Any) -> Any:
        """``value`` in this option's type (a whole float becomes an ``int``); a :class:`SettingError` naming the
        option and its valid values otherwise."""
        if value is None and self.optional:
            return None
        if self.kind == "choice":
            return check_choice(self.name, value, self.choices)
        if self.kind == "bool":
            return check_bool(self.name, value)
        if self.choices and not is_number(value):
            if isinstance(value, str) and value in self.choices:
                return value
            names = ", ".join(map(str, self.choices))
            raise SettingError(
                f"{self.name} must be a number{span(self.low, self.high, self.kind == 'int')} or one of: {names}; "
                f"got {value!r}"
            )
        if self.kind == "int":
            return check_int(self.name, value, self.low, self.high)
        return check_float(self.name, value, self.low, self.high)

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether the option has an effect with these settings (every ``when`` condition holds)."""
        return all(values.get(other) in allowed for other, allowed in self.when)

    def describe(self) -> Dict[str, Any]:
        """A JSON-ready description a front-end draws a control from: lists for tuples, ``when`` as
        ``{other_name: [values]}``, and no ``low``/``high`` where a number is unbounded."""
        out: Dict[str, Any] = {"name": self.name, "label": self.label, "kind": self.kind, "default": self.default}
        if self.low is not None:
            out["low"] = self.low
        if self.high is not None:
            out["high"] = self.high
        out["choices"] = list(self.choices)
        out.update(group=self.group, help=self.help, unit=self.unit, optional=self.optional)
        out["when"] = {other: list(allowed) for other, allowed in self.when}
        return out


def check_settings(options: Sequence[Option], values: Mapping[str, Any], owner: str = "") -> Dict[str, Any]:
    """Every option's value, in the options' order: the given one checked, the default otherwise.

    Parameters
    ----------
    options : sequence of Option
        The schema.
    values : mapping
        Settings by name; a name no option has raises a :class:`SettingError` listing the valid names.
    owner : str
        What the options belong to, for that message ("gradient has no option 'steps'; its options: none").
    """
    known = {o.name: o for o in options}
    unknown = [name for name in values if name not in known]
    if unknown:
        valid = ", ".join(known) or "none"
        if owner:
            raise SettingError(f"{owner} has no option {unknown[0]!r}; its options: {valid}")
        raise SettingError(f"unknown option {unknown[0]!r}; the options are: {valid}")
    return {name: o.check(values[name]) if name in values else o.default for name, o in known.items()}


def describe(options: Sequence[Option]) -> list:
    """The JSON-ready descriptions of a schema's options, in order (what a front-end's form is drawn from)."""
    return [o.describe() for o in options]
