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
    """The annotated field names of ``cls`` (its own, in order; not ``ClassVar``) and their defaults."""
    notes = cls.__dict__.get("__annotations__", {})
    names = tuple(k for k, v in notes.items() if not str(v).startswith(("ClassVar", "typing.ClassVar")))
    return names, {k: cls.__dict__[k] for k in names if k in cls.__dict__}


def make_init(clsname: str, names: tuple[str, ...], defaults: dict[str, Any], post_init: bool = False) -> Callable[..., None]:
    """An ``__init__(self, <fields>)`` storing the fields straight into ``__dict__``.

    It is generated as source and compiled (about 0.1 ms per class): a generic
    ``*args`` version costs twice as much per call, and dimensions and nodes are
    built by the hundred thousand.  Field names are the class's own annotations.
    """
    params, body = [], []
    for k in names:
        if not k.isidentifier():  # pragma: no cover - annotations are identifiers
            raise TypeError(f"bad field name {k!r}")
        if k not in defaults:
            params.append(k)
            body.append(f"    d[{k!r}] = {k}")
        elif isinstance(defaults[k], Factory):
            params.append(f"{k}=_MISSING")
            body.append(f"    d[{k!r}] = _defaults[{k!r}].make() if {k} is _MISSING else {k}")
        else:
            params.append(f"{k}=_defaults[{k!r}]")
            body.append(f"    d[{k!r}] = {k}")
    if post_init:
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n" + "\n".join(body or ["    pass"]) + "\n"
    namespace: dict[str, Any] = {"_defaults": defaults, "_MISSING": _MISSING}
    exec(compile(source, f"<record {clsname}>", "exec"), namespace)  # noqa: S102 - our own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{clsname}.__init__"
    return init


_MISSING = object()


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

        # generated like __init__: equality and hashing of dimensions are hot
        mine = "(" + "".join(f"self.{k}, " for k in compared) + ")"
        theirs = "(" + "".join(f"other.{k}, " for k in compared) + ")"
        source = (
            "def __eq__(self, other):\n"
            "    if other.__class__ is self.__class__:\n"
            f"        return {mine} == {theirs}\n"
            "    return NotImplemented\n"
            "def __hash__(self):\n"
            f"    return hash({mine})\n"
            "def key(self):\n"
            f"    return {mine}\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<record {cls.__name__}>", "exec"), namespace)  # noqa: S102 - our own field names
        __eq__, __hash__, key = namespace["__eq__"], namespace["__hash__"], namespace["key"]

        def __repr__(self: Any) -> str:
            d = self.__dict__
            return f"{cls.__name__}({', '.join(f'{k}={d[k]!r}' for k in compared)})"

        def comparison(op: Callable[[tuple, tuple], bool]) -> Callable[[Any, Any], bool]:
            def compare(self: Any, other: Any) -> bool:
                if other.__class__ is not self.__class__:
                    return NotImplemented
                return op(key(self), key(other))

            return compare

        init = make_init(cls.__name__, names, defaults, post_init="__post_init__" in cls.__dict__)
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
