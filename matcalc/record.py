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


class Factory:
    """A default made afresh for each record (``declared: dict = Factory(dict)``)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


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
        values = {k: (v.make() if isinstance(v, Factory) else v) for k, v in defaults.items()}
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


def record(*, ignore: tuple[str, ...] = (), frozen: bool = True, eq: bool = True, order: bool = False) -> Callable[[T], T]:
    """Class decorator: a record compared and hashed by its fields except ``ignore``.

    Like a dataclass: ``eq=False`` keeps identity comparison; a mutable (``frozen=False``)
    record that compares by value is unhashable; ``order=True`` orders by the fields.
    Methods the class defines itself are kept.
    """

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
            return f"{cls.__name__}({', '.join(f'{k}={d[k]!r}' for k in compared)})"

        def comparison(op: Callable[[tuple, tuple], bool]) -> Callable[[Any, Any], bool]:
            def compare(self: Any, other: Any) -> bool:
                if other.__class__ is not self.__class__:
                    return NotImplemented
                return op(key(self), key(other))

            return compare

        init = make_init(cls.__name__, names, defaults)
        post = cls.__dict__.get("__post_init__")
        if post is not None:
            plain = init

            def init(self: Any, *args: Any, **kwargs: Any) -> None:
                plain(self, *args, **kwargs)
                post(self)

        methods: dict[str, Any] = {"__init__": init, "__repr__": __repr__}
        if eq:
            methods["__eq__"] = __eq__
            methods["__hash__"] = __hash__ if frozen else None
        if frozen:
            methods["__setattr__"] = methods["__delattr__"] = _frozen
        if order:
            methods["__lt__"] = comparison(lambda a, b: a < b)
            methods["__le__"] = comparison(lambda a, b: a <= b)
            methods["__gt__"] = comparison(lambda a, b: a > b)
            methods["__ge__"] = comparison(lambda a, b: a >= b)
        for name, fn in methods.items():
            if name == "__init__" or name not in cls.__dict__ or (name == "__hash__" and cls.__dict__[name] is None):
                setattr(cls, name, fn)
        cls._record_fields = names  # type: ignore[attr-defined]
        return cls

    return wrap


def replace(obj: Any, **changes: Any) -> Any:
    """A copy of the record ``obj`` with some fields changed."""
    names = type(obj)._record_fields
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    return type(obj)(*(changes[k] if k in changes else obj.__dict__[k] for k in names))
