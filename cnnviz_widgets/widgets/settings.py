"""A view's settings as synced traits made from a schema: one :class:`~cnnviz_widgets.engine.schema.Option` each.

The same options check a value set in Python (``view.lr = -1`` raises the option's message), describe the form the
front-end draws (the view's ``schema`` trait), and fill a frozen snapshot of the settings when a job starts.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import traitlets

from ..engine.schema import Option


class Setting(traitlets.TraitType):
    """A synced trait whose values are checked by an engine :class:`Option` (its message names the valid ones)."""

    def __init__(self, option: Option, default: Any = None):
        value = option.default if default is None else default
        super().__init__(default_value=value, allow_none=option.optional, help=option.help)
        self.option = option
        self.tag(sync=True)

    def validate(self, obj: Any, value: Any) -> Any:
        return self.option.check(value)

    def info(self) -> str:
        return f"a valid {self.option.name} ({self.option.kind})"


def setting_traits(options: Sequence[Option], defaults: Optional[Dict[str, Any]] = None) -> Dict[str, Setting]:
    """One :class:`Setting` trait per option, by name, for a view's class body: ``locals().update(...)``.

    Parameters
    ----------
    options : sequence of Option
        The settings, in the order the form shows them.
    defaults : dict, optional
        Defaults that differ from the options' own (e.g. a view's smaller ``steps``).
    """
    defaults = defaults or {}
    return {o.name: Setting(o, defaults.get(o.name)) for o in options}
