"""Run recursive passes on deep expressions without exhausting the C stack.

The syntax tree may be thousands of levels deep (a 5,000-term sum parses to a
5,000-deep chain).  Passes that recurse run in a worker thread with a large stack and
a raised recursion limit; the parser caps the depth (``parse.MAX_DEPTH``) so the
limit is never reached.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, TypeVar

from .errors import LimitError

T = TypeVar("T")

STACK_BYTES = 512 * 1024 * 1024
RECURSION_LIMIT = 200_000
_local = threading.local()


def call_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a big-stack thread unless already inside one."""
    if getattr(_local, "inside", False):
        return fn(*args, **kwargs)
    result: dict[str, Any] = {}

    def run() -> None:
        _local.inside = True
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, RECURSION_LIMIT))
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e
        finally:
            sys.setrecursionlimit(old)

    old_size = threading.stack_size()
    try:
        threading.stack_size(STACK_BYTES)
        t = threading.Thread(target=run, name="matcalc-deep")
        t.start()
    finally:
        threading.stack_size(old_size)
    t.join()
    if "error" in result:
        err = result["error"]
        if isinstance(err, RecursionError):
            raise LimitError("expression too deeply nested") from None
        raise err
    return result["value"]
