"""``record``: a frozen, slotted dataclass whose instances are quicker to make.

The policy core makes a handful of small frozen records for every checkout
(the request, each operation it yields, each result), and a simulated flash
sale makes millions. A frozen dataclass's generated ``__init__`` sets each
field through ``object.__setattr__``, looked up again for every field of
every instance; here each field is set through its own slot, which a frozen
class allows the class itself to do, in about half the time. The class is
otherwise the dataclass ``dataclass(frozen=True, slots=True)`` makes: the same
fields, defaults, equality, hash, repr, pickling and ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True, slots=True)`` with a quicker ``__init__``."""
    made: Any = dataclasses.dataclass(frozen=True, slots=True)(cls)
    init = _quick_init(made)
    if init is not None:
        made.__init__ = init
    return made  # type: ignore[no-any-return]


def _quick_init(cls: Any) -> Any:
    """An ``__init__`` setting each slot directly, or None where one cannot be made."""
    declared = cls.__dataclass_fields__.values()
    if len(declared) != len(dataclasses.fields(cls)):
        return None  # init-only or class variables: leave them to the generated one
    namespace: dict[str, Any] = {}
    parameters: list[str] = []
    lines: list[str] = []
    for position, field in enumerate(dataclasses.fields(cls)):
        if not field.init or field.kw_only or field.default_factory is not dataclasses.MISSING:
            return None  # the generated one handles these; none is needed here
        slot = _slot(cls, field.name)
        if slot is None:
            return None
        namespace[f"_set_{position}"] = slot.__set__
        if field.default is dataclasses.MISSING:
            parameters.append(field.name)
        else:
            namespace[f"_default_{position}"] = field.default
            parameters.append(f"{field.name}=_default_{position}")
        lines.append(f"    _set_{position}(self, {field.name})")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    if not lines:
        return None
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(lines)
    # Made from source, as dataclasses makes its own __init__.
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _slot(cls: Any, name: str) -> Any:
    """The slot descriptor that stores field ``name``, if it is one."""
    for base in cls.__mro__:
        if name in base.__dict__:
            slot = base.__dict__[name]
            return slot if hasattr(slot, "__set__") else None
    return None
