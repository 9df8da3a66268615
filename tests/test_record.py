"""matcalc.record: the immutable records behind the syntax tree, nodes, dims and results."""

from __future__ import annotations

import pickle

import pytest

from matcalc.record import Factory, record, replace


@record(ignore=("pos",))
class Point:
    x: int
    y: int = 0
    pos: int = 0


@record(order=True)
class Pair:
    a: int
    b: tuple = ()


@record(frozen=False)
class Bag:
    name: str
    items: dict = Factory(dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a bag needs a name")


@record(eq=False)
class Entry:
    name: str


def test_fields_defaults_and_keywords():
    assert Point(1) == Point(1, 0, 0) == Point(x=1, y=0)
    assert Point(1, pos=7).pos == 7
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="positional arguments but 5 were given"):
        Point(1, 2, 3, 4)


def test_ignored_fields_do_not_count_for_equality_or_hash():
    assert Point(1, 2, pos=0) == Point(1, 2, pos=9)
    assert hash(Point(1, 2, pos=0)) == hash(Point(1, 2, pos=9))
    assert Point(1, 2) != Point(2, 1)
    assert repr(Point(1, 2, 5)) == "Point(x=1, y=2)"


def test_frozen_records_refuse_assignment():
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2
    with pytest.raises(AttributeError):
        del p.x


def test_order_is_by_fields():
    assert Pair(1, ("b",)) < Pair(2, ()) and Pair(1, ("a",)) < Pair(1, ("b",))
    assert sorted([Pair(2), Pair(1, ("z",)), Pair(1)]) == [Pair(1), Pair(1, ("z",)), Pair(2)]
    assert Pair(1) <= Pair(1) and Pair(2) >= Pair(1) and Pair(2) > Pair(1)


def test_mutable_records_get_fresh_defaults_run_post_init_and_are_unhashable():
    a, b = Bag("a"), Bag("b")
    a.items["k"] = 1
    assert b.items == {}
    a.name = "c"
    assert a.name == "c"
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(ValueError, match="needs a name"):
        Bag("")


def test_identity_records_and_replace():
    e = Entry("f")
    assert e != Entry("f") and e == e
    assert replace(Point(1, 2, 3), y=5) == Point(1, 5) and replace(Point(1, 2, 3), y=5).pos == 3
    with pytest.raises(TypeError, match="no field"):
        replace(Point(1), w=1)


def test_nodes_pickle_back_to_the_interned_node():
    import matcalc

    n = matcalc.diff("x'@A@x", "x").node
    assert pickle.loads(pickle.dumps(n)) is n


def test_dims_and_shapes_pickled_in_another_process_hash_here():
    """Dims and shapes store their hash (built for every node); a str hash differs
    between processes, so a pickle must not carry it."""
    import os
    import subprocess
    import sys

    from matcalc.dims import Dim, Shape

    code = "import pickle, sys; from matcalc.dims import Shape; sys.stdout.buffer.write(pickle.dumps(Shape.of('m', 'n')))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    data = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    s = pickle.loads(data)
    assert s == Shape.of("m", "n") and hash(s) == hash(Shape.of("m", "n"))
    assert {Shape.of("m", "n"): 1}[s] == 1 and {Dim.of("n"): 2}[s.cols] == 2
