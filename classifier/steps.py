"""Named steps of a request, timed only while someone listens (benchmarks, tests).

Production code marks a step with `step(name)` (a context manager) or `timed_step(name)`
(a decorator); a caller listens with `recording_steps()`:

    with recording_steps() as recorded:
        client.post("/api/predictions/", ...)
    for timing in recorded:  # children finish, and are reported, before their parent
        print("  " * timing.depth, timing.name, timing.cpu_seconds)

With nobody listening a step costs one check of a global: no clock is read. Nesting
follows the code (a step's time includes its children's); it is tracked per thread and
per asyncio task, so concurrent requests do not mix, but a listener hears every thread.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StepTiming:
    #: names of the enclosing steps, outermost first, then this step's own
    path: tuple[str, ...]
    #: CPU time of the thread that ran the step (time.thread_time)
    cpu_seconds: float
    wall_seconds: float
    #: time.perf_counter() when the step began: orders steps as they started
    started: float

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def depth(self) -> int:
        return len(self.path) - 1


Listener = Callable[[StepTiming], None]

_listeners: tuple[Listener, ...] = ()
_enclosing: ContextVar[tuple[str, ...]] = ContextVar("enclosing_steps", default=())
_NOT_TIMED = contextlib.nullcontext()


class _TimedStep:
    __slots__ = ("_cpu", "_name", "_path", "_token", "_wall")

    def __init__(self, name: str) -> None:
        self._name = name

    def __enter__(self) -> None:
        self._path = (*_enclosing.get(), self._name)
        self._token = _enclosing.set(self._path)
        self._wall = time.perf_counter()
        self._cpu = time.thread_time()

    def __exit__(self, *exc_info: object) -> None:
        cpu = time.thread_time() - self._cpu
        wall = time.perf_counter() - self._wall
        _enclosing.reset(self._token)
        timing = StepTiming(self._path, cpu, wall, self._wall)
        for listener in _listeners:
            listener(timing)


def step(name: str) -> contextlib.AbstractContextManager[None]:
    """Mark the block as the step `name`, timed if anyone listens."""
    return _TimedStep(name) if _listeners else _NOT_TIMED


def timed_step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark every call of the decorated function as the step `name`."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def marked(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _listeners:
                return function(*args, **kwargs)
            with _TimedStep(name):
                return function(*args, **kwargs)

        return marked

    return decorate


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call `listener` with each step that finishes, in any thread, inside the block."""
    global _listeners
    _listeners = (*_listeners, listener)
    try:
        yield
    finally:
        remaining = list(_listeners)
        remaining.remove(listener)
        _listeners = tuple(remaining)


@contextlib.contextmanager
def recording_steps() -> Iterator[list[StepTiming]]:
    """The steps that finish inside the block, in the order they finish."""
    recorded: list[StepTiming] = []
    with listening(recorded.append):
        yield recorded
