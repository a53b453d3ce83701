"""Tool calls parsed while they are generated, so streams can send arguments token by token.

The grammar in `tools.plan` fixes the shape of a call (see the format in api/tools.py):

    <tool_call>\\n{"name": "<fn>", "arguments": <JSON value>}\\n</tool_call>

with optional whitespace between the JSON tokens, and calls separated by one newline. So once
`"arguments":` has gone by, every character up to the end of that JSON value is argument text,
and a small scanner that tracks nesting and strings knows where the value ends. Output that does
not open a call is content, held back only while it could still be the start of one.

The events and the final `calls` agree with `tools.parse` on the whole text: a call repeated
verbatim (small models do) is dropped, which a stream can only do by holding a later call with
the same name back while its arguments are still a prefix of an earlier call's.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from impetus.api.tools import CLOSE, OPEN, ToolCall

_HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:')
_TAIL = re.compile(r"\s*\}\s*" + re.escape(CLOSE))
_SCALAR_END = set(",}] \t\r\n")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class CallStart:
    index: int  # 0, 1, ... in the order calls are sent
    id: str
    name: str


@dataclass(frozen=True)
class ArgsDelta:
    index: int
    text: str  # the next fragment of the arguments' JSON text


@dataclass(frozen=True)
class CallEnd:
    index: int
    call: ToolCall


Event = Text | CallStart | ArgsDelta | CallEnd


class _Args:
    """Where a JSON value ends, fed one character at a time."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = False
        self.in_string = False
        self.escape = False
        self.scalar = False
        self.done = False
        self.compact: list[str] = []  # the text without whitespace outside strings

    def take(self, ch: str) -> bool:
        """True if `ch` belongs to the value (False: the value ended before it)."""
        if not self.started:
            if ch.isspace():
                return True  # whitespace before the value: swallowed, not argument text
            self.started = True
            if ch in "{[":
                self.depth = 1
            elif ch == '"':
                self.in_string = True
            else:
                self.scalar = True
            self.compact.append(ch)
            return True
        if self.scalar:
            if ch in _SCALAR_END:
                self.done = True
                return False
            self.compact.append(ch)
            return True
        if self.in_string:
            self.compact.append(ch)
            if self.escape:
                self.escape = False
            elif ch == "\\":
                self.escape = True
            elif ch == '"':
                self.in_string = False
                self.done = self.depth == 0
            return True
        if ch.isspace():
            return True
        self.compact.append(ch)
        if ch == '"':
            self.in_string = True
        elif ch in "{[":
            self.depth += 1
        elif ch in "}]":
            self.depth -= 1
            self.done = self.depth == 0
        return True


class ToolCallStream:
    """Feed generated text; get `Text`, `CallStart`, `ArgsDelta` and `CallEnd` events."""

    def __init__(self) -> None:
        self.mode: str | None = None  # None (undecided), "text" or "tools"
        self.buffer = ""
        self.state = "open"  # in tools mode: "open", "head", "args", "tail"
        self.calls: list[ToolCall] = []  # complete calls, as tools.parse returns them
        self._sent: list[tuple[str, str]] = []  # (name, compact arguments) of calls sent
        self._name = ""
        self._id = ""
        self._args: _Args | None = None
        self._raw: list[str] = []  # this call's argument text so far
        self._held: list[str] | None = None  # fragments held back (a possible repeat)
        self._index = -1  # index of the call being sent (-1: none yet)

    @property
    def open_call(self) -> int | None:
        """The index of a call that started but did not finish (cut off), if any."""
        if self.state in ("args", "tail") and self._held is None:
            return self._index
        return None

    def feed(self, text: str) -> list[Event]:
        if self.mode == "text":
            return [Text(text)] if text else []
        self.buffer += text
        if self.mode is None:
            head = self.buffer.lstrip()
            if head.startswith(OPEN):
                self.mode = "tools"
            elif head and not OPEN.startswith(head):
                self.mode = "text"
                out, self.buffer = self.buffer, ""
                return [Text(out)]
            else:
                return []
        return self._scan()

    def finish(self) -> list[Event]:
        """The end of the output: text still held back (if it was never a call)."""
        head = self.buffer.strip()
        # A prefix of "<tool_call>" cut off by max_tokens is dropped, as tools.parse does.
        if self.mode is None and self.buffer and not (head and OPEN.startswith(head)):
            return [Text(self.buffer)]
        return []

    # -- tools mode --------------------------------------------------------------------------
    def _scan(self) -> list[Event]:
        out: list[Event] = []
        while True:
            if self.state == "open":
                head = self.buffer.lstrip()
                if not head.startswith(OPEN):
                    return out  # more to come, or trailing text the grammar does not allow
                self.buffer = head[len(OPEN) :]
                self.state = "head"
            if self.state == "head":
                m = _HEAD.match(self.buffer)
                if m is None:
                    return out
                self.buffer = self.buffer[m.end() :]
                self._start(json.loads(m.group(1)), out)
            if self.state == "args":
                self._scan_args(out)
                if self.state == "args":
                    return out
            if self.state == "tail":
                m = _TAIL.match(self.buffer)
                if m is None:
                    return out
                self.buffer = self.buffer[m.end() :]
                self._end(out)

    def _start(self, name: str, out: list[Event]) -> None:
        self._name, self._id = name, "call_" + secrets.token_hex(12)
        self._args, self._raw = _Args(), []
        self.state = "args"
        if any(n == name for n, _ in self._sent):
            self._held = []  # maybe a repeat: hold it until it differs from earlier calls
        else:
            self._held = None
            self._index += 1
            out.append(CallStart(self._index, self._id, name))

    def _scan_args(self, out: list[Event]) -> None:
        args = self._args
        assert args is not None
        used = 0
        for ch in self.buffer:
            if not args.take(ch):
                break
            used += 1
            if args.done:
                break
        fragment, self.buffer = self.buffer[:used], self.buffer[used:]
        if not args.started:
            return
        fragment = fragment.lstrip() if not self._raw else fragment
        if fragment:
            self._raw.append(fragment)
            self._emit(fragment, out)
        if args.done:
            self.state = "tail"

    def _emit(self, fragment: str, out: list[Event]) -> None:
        if self._held is None:
            out.append(ArgsDelta(self._index, fragment))
            return
        self._held.append(fragment)
        compact = "".join(self._args.compact) if self._args else ""
        if any(n == self._name and c.startswith(compact) for n, c in self._sent):
            return  # still the same as an earlier call so far
        self._release(out)

    def _release(self, out: list[Event]) -> None:
        self._index += 1
        out.append(CallStart(self._index, self._id, self._name))
        if self._held:
            out.append(ArgsDelta(self._index, "".join(self._held)))
        self._held = None

    def _end(self, out: list[Event]) -> None:
        compact = "".join(self._args.compact) if self._args else ""
        self.state = "open"
        if self._held is not None:
            if (self._name, compact) in self._sent:  # a verbatim repeat: dropped
                self._held = None
                return
            self._release(out)  # a prefix of an earlier call's arguments, but complete
        self._sent.append((self._name, compact))
        raw = "".join(self._raw)
        try:
            arguments = json.dumps(json.loads(raw), ensure_ascii=False)
        except ValueError:
            arguments = raw
        call = ToolCall(self._name, arguments, self._id)
        self.calls.append(call)
        out.append(CallEnd(self._index, call))
