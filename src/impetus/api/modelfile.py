"""Ollama Modelfiles: parsed for /api/create's `modelfile` (older clients send one), rendered for
/api/show.

    FROM smollm2:135m
    SYSTEM \"\"\"You are Mario.\"\"\"
    PARAMETER temperature 0.2
    PARAMETER stop "<|im_end|>"
    MESSAGE user Who are you?

A value is a triple-quoted block (may span lines), a double-quoted string, or the rest of the
line. Commands are case-insensitive; `#` starts a comment line. `stop` may repeat.
"""

from __future__ import annotations

import json
import re
from typing import Any

COMMANDS = {"from", "system", "template", "parameter", "message", "license", "adapter", "requires"}
_WORD = re.compile(r"[ \t]*([^\s]+)[ \t]*")


class ModelfileError(ValueError):
    pass


def _value(text: str, pos: int, line: int) -> tuple[str, int]:
    """The value starting at `pos`, and the position after it."""
    if text.startswith('"""', pos):
        end = text.find('"""', pos + 3)
        if end < 0:
            raise ModelfileError(f'line {line}: a """ block is never closed')
        return text[pos + 3 : end], end + 3
    if text.startswith('"', pos):
        m = re.compile(r'"((?:[^"\\\n]|\\.)*)"').match(text, pos)
        if m is None:
            raise ModelfileError(f"line {line}: a quoted value is never closed")
        return m.group(1).replace('\\"', '"').replace("\\\\", "\\"), m.end()
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    return text[pos:end].strip(), end


def parse(text: str) -> dict[str, Any]:
    """Modelfile text → {"from", "system", "template", "license", "adapters", "parameters":
    {name: str | [str] for stop}, "messages": [{"role", "content"}]} (keys only when given)."""
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        line = text.count("\n", 0, pos) + 1
        eol = text.find("\n", pos)
        eol = len(text) if eol < 0 else eol
        stripped = text[pos:eol].strip()
        if not stripped or stripped.startswith("#"):
            pos = eol + 1
            continue
        m = _WORD.match(text, pos)
        assert m is not None
        command = m.group(1).lower()
        if command not in COMMANDS:
            raise ModelfileError(f"line {line}: unknown command '{m.group(1)}'")
        pos = m.end()
        key = None
        if command in ("parameter", "message"):
            k = _WORD.match(text, pos)
            if k is None:
                raise ModelfileError(f"line {line}: {command.upper()} needs a name and a value")
            key, pos = k.group(1), k.end()
        value, pos = _value(text, pos, line)
        if command == "parameter":
            params = out.setdefault("parameters", {})
            if key == "stop":
                params.setdefault("stop", []).append(value)
            else:
                params[key] = value
        elif command == "message":
            out.setdefault("messages", []).append({"role": key, "content": value})
        elif command == "adapter":
            out.setdefault("adapters", []).append(value)
        else:
            out[command] = value
        nl = text.find("\n", pos)
        pos = len(text) if nl < 0 else nl + 1
    return out


def _quote(value: str) -> str:
    return f'"""{value}"""' if "\n" in value or '"' in value else value


def render_parameters(params: dict[str, Any]) -> str:
    """Ollama's /api/show `parameters`: one `name value` line each, stop values quoted."""
    lines = []
    for key, value in sorted(params.items()):
        for v in value if isinstance(value, list) else [value]:
            shown = json.dumps(v, ensure_ascii=False) if isinstance(v, str) else json.dumps(v)
            lines.append(f"{key:<30} {shown}")
    return "\n".join(lines)


def render(source: str, profile: dict[str, Any]) -> str:
    """A Modelfile that would create this model again."""
    lines = [f"FROM {source}"]
    if profile.get("template"):
        lines.append(f'TEMPLATE """{profile["template"]}"""')
    if profile.get("system"):
        lines.append(f'SYSTEM """{profile["system"]}"""')
    for key, value in sorted((profile.get("parameters") or {}).items()):
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {json.dumps(v) if isinstance(v, str) else v}")
    for m in profile.get("messages") or []:
        lines.append(f"MESSAGE {m['role']} {_quote(m['content'])}")
    if profile.get("license"):
        lines.append(f'LICENSE """{profile["license"]}"""')
    return "\n".join(lines) + "\n"
