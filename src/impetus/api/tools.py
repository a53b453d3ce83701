"""Tool calls and structured output, the same for every wire format.

Routers translate their request shapes into `Tool`s, a `ToolChoice` and neutral message dicts;
this module builds the GBNF grammar that constrains generation (so arguments always parse and
match the function's JSON Schema), renders tools, tool calls and tool results into the prompt
(natively when the chat template knows tools, as plain text otherwise), and parses the output.

The generated format is Hermes-style, the one most tool-trained models already emit:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from impetus.api.schema_grammar import SchemaConverter
from impetus.server.errors import ApiError

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_CALL_RE = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.S)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})

    def openai(self) -> dict:
        fn = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": fn}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text of an object
    id: str = field(default_factory=lambda: "call_" + secrets.token_hex(12))

    def args(self) -> Any:
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


# "auto" | "none" | "required" | a function name
ToolChoice = str


@dataclass(frozen=True)
class Plan:
    """What a request asks of the decoder: the grammar, and whether to parse tool calls."""

    grammar: str | None
    tools_active: bool


# -- grammars ------------------------------------------------------------------------------------
def _converter():
    return SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _visit(conv, schema: Any, name: str, what: str) -> str:
    if not isinstance(schema, dict):
        raise ApiError(400, f"{what} must be a JSON Schema object", param=what)
    try:
        resolved = conv.resolve_refs(json.loads(json.dumps(schema)), "input")
        return conv.visit(resolved, name)
    except ApiError:
        raise
    except Exception as exc:  # the converter raises assorted errors on schemas it cannot do
        raise ApiError(400, f"{what}: unsupported JSON Schema ({exc})", param=what) from exc


def _lit(text: str) -> str:
    return json.dumps(text)


def json_schema_grammar(schema: dict, what: str = "response_format.json_schema") -> str:
    conv = _converter()
    rule = _visit(conv, schema, "answer", what)
    return f"root ::= {rule}\n{conv.format_grammar()}"


def json_object_grammar() -> str:
    return json_schema_grammar({"type": "object"}, "response_format")


def _tool_call_rules(conv, tools: list[Tool], choice: ToolChoice, parallel: bool) -> str:
    chosen = tools if choice in ("auto", "required") else [t for t in tools if t.name == choice]
    if not chosen:
        raise ApiError(
            400, f"tool_choice names '{choice}', which is not in tools", param="tool_choice"
        )
    alts = []
    for i, tool in enumerate(chosen):
        args = _visit(conv, tool.parameters or {"type": "object"}, f"args{i}", "tools.parameters")
        alts.append(
            f'"{{" space "\\"name\\"" space ":" space {_lit(_lit(tool.name))} space "," space '
            f'"\\"arguments\\"" space ":" space {args} "}}"'
        )
    conv._rules["call"] = " | ".join(f"( {a} )" for a in alts)
    block = f"{_lit(OPEN + chr(10))} call {_lit(chr(10) + CLOSE)}"
    conv._rules["call-block"] = block
    more = ' ( "\\n" call-block )*' if parallel else ""
    return f"call-block{more}"


def plan(
    tools: list[Tool],
    choice: ToolChoice,
    *,
    parallel: bool = True,
    response_schema: dict | None = None,
    json_mode: bool = False,
) -> Plan:
    """The grammar for a request: tool calls (per `choice`), structured output, or none."""
    use_tools = bool(tools) and choice != "none"
    if not use_tools and response_schema is None and not json_mode:
        return Plan(None, False)
    conv = _converter()
    answer = None
    if response_schema is not None:
        answer = _visit(conv, response_schema, "answer", "response_format.json_schema")
    elif json_mode:
        answer = _visit(conv, {"type": "object"}, "answer", "response_format")
    if not use_tools:
        return Plan(f"root ::= {answer}\n{conv.format_grammar()}", False)
    calls = _tool_call_rules(conv, tools, choice, parallel)
    if choice == "auto":
        # Either the tool calls, or an answer: free text that does not begin like a tool call.
        text = answer or "text"
        if answer is None:
            conv._rules["text"] = "[^<] [^\\x00]*"
        root = f"( {calls} ) | {text}"
    else:
        root = calls
    return Plan(f"root ::= {root}\n{conv.format_grammar()}", True)


# -- prompts -------------------------------------------------------------------------------------
def template_knows_tools(template_source: str | None) -> bool:
    return bool(template_source) and "tools" in template_source


def _instructions(tools: list[Tool], choice: ToolChoice) -> str:
    lines = [
        "You can call functions. Their signatures, as JSON Schema, are inside <tools></tools>:",
        "<tools>",
        *(json.dumps(t.openai()["function"], ensure_ascii=False) for t in tools),
        "</tools>",
        "To call a function, reply with one <tool_call></tool_call> block per call, each holding "
        'a JSON object with "name" and "arguments":',
        f'{OPEN}\n{{"name": <function-name>, "arguments": <args-json-object>}}\n{CLOSE}',
    ]
    if choice == "required":
        lines.append("You must call at least one function.")
    elif choice not in ("auto", "none"):
        lines.append(f"You must call the function {choice}.")
    return "\n".join(lines)


def format_calls(calls: list[ToolCall]) -> str:
    blocks = (
        f"{OPEN}\n"
        + json.dumps({"name": c.name, "arguments": c.args()}, ensure_ascii=False)
        + f"\n{CLOSE}"
        for c in calls
    )
    return "\n".join(blocks)


def prepare(
    messages: list[dict], tools: list[Tool], choice: ToolChoice, template_source: str | None
) -> tuple[list[dict], dict]:
    """Neutral messages → what the chat template gets, plus extra template variables.

    Neutral messages are {"role", "content"} with optional "tool_calls" (list[ToolCall]) on
    assistant turns and "tool_call_id"/"name" on "tool" turns.
    """
    active = tools if choice != "none" else []
    if template_knows_tools(template_source):
        out = []
        for m in messages:
            m = dict(m)
            if m.get("tool_calls"):
                m["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.args()},
                    }
                    for c in m["tool_calls"]
                ]
            out.append(m)
        return out, ({"tools": [t.openai() for t in active]} if active else {})
    out: list[dict] = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if m.get("tool_calls"):
            content = (content + "\n" if content else "") + format_calls(m["tool_calls"])
        if role == "tool":
            role = "user"
            body = {"name": m.get("name") or "", "content": content}
            content = f"<tool_response>\n{json.dumps(body, ensure_ascii=False)}\n</tool_response>"
        if out and out[-1]["role"] == role and role != "system":
            out[-1]["content"] += "\n" + content  # templates often insist roles alternate
        else:
            out.append({"role": role, "content": content})
    if active:
        text = _instructions(active, choice)
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{out[0]['content']}\n\n{text}"
        else:
            out.insert(0, {"role": "system", "content": text})
    return out, {}


# -- output --------------------------------------------------------------------------------------
def parse(text: str) -> tuple[str, list[ToolCall]]:
    """Generated text → (content, tool calls).

    Output that opens a tool-call block is tool calls, never content: the grammar only lets
    that branch continue as calls, so an unfinished block means max_tokens cut it off. Its
    complete calls are returned and the cut-off tail is dropped, so no raw markup reaches the
    client (the finish reason then says "length"); so is the start of a block's opening tag."""
    head = text.lstrip()
    if head and OPEN.startswith(head):
        return "", []
    if not head.startswith(OPEN):
        return text, []
    calls: list[ToolCall] = []
    seen = set()
    for body in _CALL_RE.findall(text):
        try:
            obj = json.loads(body)
            call = ToolCall(str(obj["name"]), json.dumps(obj["arguments"], ensure_ascii=False))
        except (ValueError, KeyError, TypeError):
            continue
        if (call.name, call.arguments) not in seen:  # small models repeat a call verbatim
            seen.add((call.name, call.arguments))
            calls.append(call)
    return "", calls


class ToolStream:
    """Splits a streamed output into content (passed on at once) and tool calls (returned at
    the end): text is held back only while it could still be the start of a tool call."""

    def __init__(self) -> None:
        self.buffer = ""
        self.mode: str | None = None  # None (undecided), "text" or "tools"

    def feed(self, text: str) -> str:
        if self.mode == "text":
            return text
        self.buffer += text
        if self.mode == "tools":
            return ""
        head = self.buffer.lstrip()
        if head.startswith(OPEN):
            self.mode = "tools"
            return ""
        if head and not OPEN.startswith(head):
            self.mode = "text"
            out, self.buffer = self.buffer, ""
            return out
        return ""

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(content still held back, tool calls)."""
        if self.mode == "text":
            return "", []
        return parse(self.buffer)
