"""Incremental detokenization with stop strings.

Tokens arrive as byte pieces; a UTF-8 character can span two tokens, and a stop string can span
several. `TextStream` emits only text that is final: complete characters that cannot turn out to
be the start of a stop string.
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stops: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False
        self.matched: str | None = None  # the stop string that ended the text

    def push(self, piece: bytes) -> str:
        """Add one token's bytes; return the text that is now safe to emit.

        After a stop string is seen, `stopped` is True and the text up to it is returned.
        """
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(piece)
        if not self._stops:
            self._held = ""
            return text
        found = [(i, s) for s in self._stops if (i := text.find(s)) >= 0]
        cut = min(found)[0] if found else -1
        if cut >= 0:
            self.matched = min(found)[1]
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = self._partial_stop_suffix(text)
        self._held = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        """The held-back text at the end of generation (no stop string completed)."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text

    def _partial_stop_suffix(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if stop.startswith(text[-n:]):
                    best = n
                    break
        return best
