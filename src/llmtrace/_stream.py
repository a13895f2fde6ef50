"""One stream proxy per direction, shared by every provider.

Chunks pass through unchanged; each is folded by the provider's accumulator; the span ends exactly once,
on exhaustion, error, close()/exit, or, as a last resort, when the proxy is garbage-collected.
Built on `wrapt.BaseObjectProxy` because `ObjectProxy` forwards ``__iter__`` and would bypass us.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import wrapt

from llmtrace._core import Call
from llmtrace._records import Accumulator, LLMResponse
from llmtrace._safety import internal_error


def _result(acc: Accumulator) -> LLMResponse | None:
    try:
        return acc.result()
    except Exception:
        internal_error("stream.result")
        return None


class _Base(wrapt.BaseObjectProxy[Any]):
    def __init__(self, wrapped: Any, call: Call, acc: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = acc
        call.streamed = True

    def _self_add(self, chunk: Any) -> None:
        call = self._self_call
        if call.chunks == 0:
            call.first_chunk()
        call.chunks += 1
        try:
            self._self_acc.add(chunk)
        except Exception:
            internal_error("stream.add")

    def _self_end(self, *, abandoned: bool = False) -> None:
        call = self._self_call
        if not call.done:
            call.finish(_result(self._self_acc), abandoned=abandoned)

    def _self_error(self, exc: BaseException) -> None:
        call = self._self_call
        if not call.done:
            call.fail(exc, _result(self._self_acc))

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self._self_end(abandoned=True)


class StreamProxy(_Base):
    """A synchronous stream (iterator, optional close() and context manager) that is being traced."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            self._self_end()
            raise
        except BaseException as exc:
            self._self_error(exc)
            raise
        self._self_add(chunk)
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
        self._self_add(chunk)
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
