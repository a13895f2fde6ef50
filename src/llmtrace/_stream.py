"""One stream proxy per direction, shared by every provider.

Chunks pass through unchanged; each is folded by the provider's accumulator; the span ends exactly once,
on exhaustion, error, close()/exit, or, as a last resort, when the proxy is garbage-collected.

The proxies are plain slotted classes rather than `wrapt` proxies: every chunk goes through the proxy,
and a wrapt proxy's attribute access tripled its cost (measured: ~0.7 us of overhead per item against
~0.2 us). A sync ``for`` loop gets a generator (`_chunks`), cheaper per chunk than a Python ``__next__``;
``next(stream)`` still works on the same source. Everything else is forwarded to the SDK's stream
(``__getattr__``), and ``__class__`` reports the SDK's class, so ``isinstance(stream, openai.Stream)``
still holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from llmtrace._core import Call
from llmtrace._records import Accumulator, LLMResponse
from llmtrace._safety import internal_error


def _result(acc: Accumulator) -> LLMResponse | None:
    try:
        return acc.result()
    except Exception:
        internal_error("stream.result")
        return None


def _ignore(chunk: Any) -> None:
    pass


def _fold_failed(state: _State) -> None:
    """The accumulator failed on a chunk: log it once and fold no more chunks of this stream (the span
    ends with what was folded before)."""
    state.fold = _ignore
    internal_error("stream.add")


class _State:
    """Everything the per-chunk path touches, in one slotted object (one lookup on the proxy)."""

    __slots__ = ("acc", "call", "fold", "n", "step")

    def __init__(self, call: Call, acc: Accumulator, step: Any) -> None:
        self.call = call
        self.acc = acc
        self.fold = acc.add
        self.n = 0
        self.step = step


_DONE = object()


def _add(state: _State, chunk: Any) -> None:
    """Count and fold one chunk (inlined in `_chunks`, where a ``for`` loop's chunks pass)."""
    if state.n == 0:
        state.call.first_chunk()
    state.n += 1
    try:
        state.fold(chunk)
    except Exception:
        _fold_failed(state)


def _chunks(proxy: _Base, source: Iterator[Any]) -> Iterator[Any]:
    """`StreamProxy.__next__` as a generator (kept in step with it: the same bookkeeping per chunk).
    It holds `proxy`: ``for chunk in client...create(stream=True)`` keeps no other reference, and the
    proxy's finalizer would end the span as abandoned at once."""
    state = proxy._self_state
    try:
        for chunk in source:
            # `_add`, inlined: a call per chunk is what this generator saves
            if state.n == 0:
                state.call.first_chunk()
            state.n += 1
            try:
                state.fold(chunk)
            except Exception:
                _fold_failed(state)
            yield chunk
    except GeneratorExit:  # the loop was left early: the stream may still be read on
        raise
    except BaseException as exc:
        _fail(state, exc)
        raise
    _finish(state)


def _finish(state: _State, abandoned: bool = False) -> None:
    call = state.call
    if not call.done:
        call.chunks = state.n
        call.finish(_result(state.acc), abandoned=abandoned)


def _fail(state: _State, exc: BaseException) -> None:
    call = state.call
    if not call.done:
        call.chunks = state.n
        call.fail(exc, _result(state.acc))


class _Base:
    __slots__ = ("__weakref__", "__wrapped__", "_self_state")

    def __init__(self, wrapped: Any, call: Call, acc: Accumulator, step: Any = None) -> None:
        object.__setattr__(self, "__wrapped__", wrapped)
        object.__setattr__(self, "_self_state", _State(call, acc, step))
        call.streamed = True

    # --- transparency: the SDK stream's attributes, class and repr ----------------------------------
    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "__wrapped__"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__wrapped__, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.__wrapped__, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:  # isinstance() must see the SDK's class
        return type(self.__wrapped__)

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __dir__(self) -> list[str]:
        return dir(self.__wrapped__)

    # --- the span ------------------------------------------------------------------------------------
    def _self_end(self, *, abandoned: bool = False) -> None:
        _finish(self._self_state, abandoned)

    def _self_error(self, exc: BaseException) -> None:
        _fail(self._self_state, exc)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self._self_end(abandoned=True)


class StreamProxy(_Base):
    """A synchronous stream (iterator, optional close() and context manager) that is being traced."""

    __slots__ = ()

    def __init__(self, wrapped: Any, call: Call, acc: Accumulator) -> None:
        step = getattr(wrapped, "__next__", None)
        super().__init__(wrapped, call, acc, step if step is not None else iter(wrapped).__next__)

    def __iter__(self) -> Iterator[Any]:
        # A `for` loop gets a generator: resuming one costs a fraction of a call to a Python __next__.
        # It pulls from the same source as next(proxy), and a loop left early leaves the span open, as
        # __next__ does: close(), exit or garbage collection of the proxy ends it.
        wrapped = self.__wrapped__
        source = iter(wrapped) if hasattr(wrapped, "__next__") else iter(self._self_state.step, _DONE)
        return _chunks(self, source)

    def __next__(self) -> Any:
        state = self._self_state
        try:
            chunk = state.step()
        except StopIteration:
            self._self_end()
            raise
        except BaseException as exc:
            self._self_error(exc)
            raise
        _add(state, chunk)
        return chunk

    def close(self) -> None:
        """Close the underlying stream and end the span with what arrived so far."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_end()

    def __enter__(self) -> StreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            # An exception here comes from the user's block (provider errors already ended the span
            # in __next__), so the call itself succeeded with what it delivered.
            self._self_end()


class AsyncStreamProxy(_Base):
    """An asynchronous stream (async iterator, optional close()/aclose() and async context manager)."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end()
            raise
        except BaseException as exc:
            self._self_error(exc)
            raise
        _add(self._self_state, chunk)
        return chunk

    async def close(self) -> None:
        """Close the underlying stream and end the span with what arrived so far."""
        try:
            await self.__wrapped__.close()
        finally:
            self._self_end()

    async def aclose(self) -> None:
        """Close the underlying stream (``aclose`` spelling) and end the span."""
        try:
            closer = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            await closer()
        finally:
            self._self_end()

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if exit_ is not None else None
        finally:
            self._self_end()


def end_stream(stream: Any) -> None:
    """End the span of `stream` if it is one of our proxies (for SDK helpers that close the raw
    response directly instead of calling the stream's close())."""
    if isinstance(stream, _Base):
        stream._self_end()


def end_stream_after(attribute: str) -> tuple[Any, Any]:
    """Raw wrappers (sync, async) for an SDK helper's close(): after it runs, end the span of the stream
    the helper holds in `attribute`, for helpers that close the HTTP response directly."""

    def close(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            end_stream(getattr(instance, attribute, None))

    async def aclose(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        finally:
            end_stream(getattr(instance, attribute, None))

    return close, aclose
