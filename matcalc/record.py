"""Immutable records without ``dataclasses``.

Building a dataclass generates and compiles its methods, about half a millisecond per
class here; the syntax tree and the expression nodes are ~45 classes, and every
``matcalc`` command pays for them at start-up.  These records take their fields from
the class annotations, in order (a class attribute of the same name is the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def fields_of(cls: type) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The annotated field names of ``cls`` (its own, in order) and their defaults."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    return names, {k: cls.__dict__[k] for k in names if k in cls.__dict__}


def make_init(clsname: str, names: tuple[str, ...], defaults: dict[str, Any]) -> Callable[..., None]:
    """An ``__init__`` storing the fields (positional or by keyword) without ``__setattr__``."""
    count = len(names)
    known = frozenset(names)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) == count and not kwargs:
            self.__dict__.update(zip(names, args))
            return
        if len(args) > count:
            raise TypeError(f"{clsname}() takes {count} arguments ({len(args)} given)")
        values = dict(defaults)
        values.update(zip(names, args))
        for k, v in kwargs.items():
            if k not in known:
                raise TypeError(f"{clsname}() got an unexpected argument {k!r}")
            if k in names[: len(args)]:
                raise TypeError(f"{clsname}() got two values for {k!r}")
            values[k] = v
        missing = [k for k in names if k not in values]
        if missing:
            raise TypeError(f"{clsname}() is missing {', '.join(missing)}")
        self.__dict__.update(values)

    __init__.__qualname__ = f"{clsname}.__init__"
    return __init__


def _frozen(self: Any, *args: Any) -> None:
    raise AttributeError(f"{type(self).__name__} is immutable")


def record(*, ignore: tuple[str, ...] = ()) -> Callable[[T], T]:
    """Class decorator: an immutable record compared and hashed by its fields except ``ignore``."""

    def wrap(cls: T) -> T:
        names, defaults = fields_of(cls)
        compared = tuple(k for k in names if k not in ignore)

        def key(self: Any) -> tuple:
            d = self.__dict__
            return tuple(d[k] for k in compared)

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return key(self) == key(other)

        def __hash__(self: Any) -> int:
            return hash(key(self))

        def __repr__(self: Any) -> str:
            d = self.__dict__
            return f"{cls.__name__}({', '.join(f'{k}={d[k]!r}' for k in names)})"

        cls.__init__ = make_init(cls.__name__, names, defaults)  # type: ignore[misc]
        cls.__eq__ = __eq__  # type: ignore[assignment]
        cls.__hash__ = __hash__  # type: ignore[assignment]
        cls.__repr__ = __repr__  # type: ignore[assignment]
        cls.__setattr__ = _frozen  # type: ignore[assignment]
        cls.__delattr__ = _frozen  # type: ignore[assignment]
        return cls

    return wrap
