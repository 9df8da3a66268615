"""Run recursive passes on deep expressions without exhausting the C stack.

The syntax tree may be thousands of levels deep (a 2,000-deep nest of calls).  A pass
first runs inline with a moderately raised recursion limit (cheap: most expressions are
shallow); if it recurses too deeply it runs again in a worker thread with a large stack
and a much higher limit.  Passes are pure, so running one again is safe.  The parser
caps the depth (``parse.MAX_DEPTH``) so the worker's limit is never reached.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import LimitError

T = TypeVar("T")

STACK_BYTES = 512 * 1024 * 1024
RECURSION_LIMIT = 200_000
#: Recursion allowed inline (in the caller's thread) before falling back to the worker.
INLINE_LIMIT = 3_000
_local = threading.local()


def call_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a big-stack thread unless already inside one."""
    if getattr(_local, "inside", False):
        return fn(*args, **kwargs)
    old = sys.getrecursionlimit()
    if old < INLINE_LIMIT:
        sys.setrecursionlimit(INLINE_LIMIT)
    _local.inside = True
    try:
        return fn(*args, **kwargs)
    except RecursionError:
        pass  # too deep for this thread's stack: run again in the big-stack worker
    finally:
        _local.inside = False
        sys.setrecursionlimit(old)
    return _in_worker(fn, *args, **kwargs)


def _in_worker(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    result: dict[str, Any] = {}
    # the caller's context variables (simplification state, derivation labels) go along
    context = contextvars.copy_context()

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
        # a daemon: if the caller is interrupted while waiting, the interpreter can still exit
        t = threading.Thread(target=context.run, args=(run,), name="matcalc-deep", daemon=True)
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
