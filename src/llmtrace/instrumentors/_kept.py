"""How much of a streamed text an accumulator keeps: content capture holds, per call, no more than its
limits (`LLMRequest.keep_chars` per text), whatever the length of the response."""

from __future__ import annotations

from typing import Any

from llmtrace._records import LLMRequest


class Pieces(list[Any]):
    """The pieces of one streamed text (a choice's content, a content block, a tool call's arguments),
    kept until they hold `room` characters; later pieces are dropped. The text is recorded clipped to
    ``max_content_length``, below `room`, so what reaches the span is the same."""

    __slots__ = ("room",)

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def append(self, piece: Any) -> None:
        if self.room > 0:
            list.append(self, piece)
            self.room -= len(piece) if isinstance(piece, str) else 1


def keep(request: LLMRequest, capture: bool) -> int | None:
    """Characters of each streamed text worth keeping: all (None) while the usage may have to be counted
    from the text (the provider will report none), else the core's bound with capture on, else none."""
    if not request.expects_usage:
        return None
    return request.keep_chars if capture else 0


def pieces(room: int | None, *first: Any) -> list[Any]:
    """A list for the pieces of one streamed text, holding at most about `room` characters (None: all),
    starting with the `first` pieces."""
    if room is None:
        return list(first)
    kept = Pieces(room)
    for piece in first:
        kept.append(piece)
    return kept
