"""Property-based fuzzing of every generation endpoint: whatever the body, the answer is never
a 500 and the server stays up. Values are drawn from both sides of each field's bounds; counts
of generated tokens stay tiny so the run is quick."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MODEL_ID

json_scalar = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
small_count = st.integers(-3, 3) | st.sampled_from([0, -1, "5", 1.5, None])
number = st.floats(-5, 5) | st.sampled_from([float("nan"), float("inf"), "x", None, True])
model = st.sampled_from([MODEL_ID, "default", "", "nope", None, 5])
text = st.text(max_size=20) | json_value
schema = (
    st.sampled_from(
        [
            {"type": "object"},
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            {"type": "string", "pattern": "^[a-z]{1,3}$"},
            {"type": "string", "enum": ["x", "y"]},
            {"$ref": "#/$defs/missing"},
            {"type": "nonsense"},
            {"anyOf": []},
            {"type": "integer", "minimum": 5, "maximum": 1},
            {"type": "array", "minItems": 3, "maxItems": 1},
            {"type": "string", "pattern": "(unclosed"},
        ]
    )
    | json_value
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "bot"]), "content": text}
)
messages = st.lists(message, max_size=3) | json_value
tool = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["function", "other"]),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["f", "get_x", "", "bad name"]), "parameters": schema}
        ),
    }
)


def _optional(**fields) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional=fields)


OPENAI_CHAT = _optional(
    model=model,
    messages=messages,
    max_tokens=small_count,
    temperature=number,
    top_p=number,
    stop=text,
    n=small_count,
    stream=st.booleans() | text,
    logprobs=st.booleans() | text,
    top_logprobs=small_count,
    tools=st.lists(tool, max_size=2) | json_value,
    tool_choice=st.sampled_from(["auto", "none", "required", {"type": "function"}]) | json_value,
    response_format=st.fixed_dictionaries(
        {
            "type": st.sampled_from(["json_object", "json_schema", "text", "xml"]),
            "json_schema": st.fixed_dictionaries({"name": st.just("x"), "schema": schema}),
        }
    )
    | json_value,
)
ANTHROPIC = _optional(
    model=model,
    max_tokens=small_count,
    messages=messages,
    system=text,
    stop_sequences=json_value,
    temperature=number,
    stream=st.booleans(),
    tools=st.lists(
        st.fixed_dictionaries({"name": st.sampled_from(["f", ""]), "input_schema": schema}),
        max_size=2,
    )
    | json_value,
    tool_choice=st.fixed_dictionaries({"type": st.sampled_from(["auto", "any", "tool", "x"])})
    | json_value,
)
OLLAMA_CHAT = _optional(
    model=model,
    messages=messages,
    stream=st.booleans() | text,
    format=schema | st.sampled_from(["json", "", "yaml"]),
    options=_optional(num_predict=small_count, temperature=number, stop=text, seed=json_value)
    | json_value,
    tools=st.lists(tool, max_size=2),
    keep_alive=st.sampled_from(["5m", 0, -1, "soon", None]),
)
OLLAMA_GENERATE = _optional(
    model=model,
    prompt=text,
    raw=st.booleans() | text,
    context=st.lists(st.integers(-5, 60000), max_size=3) | json_value,
    format=schema | st.sampled_from(["json", ""]),
    options=_optional(num_predict=small_count, temperature=number) | json_value,
)
COMPLETIONS = _optional(
    model=model,
    prompt=text | st.lists(st.integers(-5, 60000), max_size=3),
    max_tokens=small_count,
    logprobs=small_count,
    n=small_count,
    echo=st.booleans(),
)


def _bounded(body: dict, key: str, nonpositive_is_unlimited: bool = False) -> dict:
    """A request that passes validation generates at most a few tokens; invalid values stay."""
    value = body.get(key)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value is None or (number and (value > 3 or (nonpositive_is_unlimited and value <= 0))):
        body[key] = 3
    return body


def _bounded_options(body: dict) -> dict:
    opts = body.get("options")
    if isinstance(opts, dict):
        _bounded(opts, "num_predict", nonpositive_is_unlimited=True)
    elif "options" not in body:
        body["options"] = {"num_predict": 3}
    return body


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _check(http: httpx.Client, path: str, body) -> None:
    # NaN and Infinity go out as Python writes them (not strict JSON): a 400 too, not a 500.
    raw = json.dumps(body)
    resp = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code < 500, (path, body, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        data = resp.json()
        if path.startswith("/api/"):
            assert set(data) == {"error"}
        elif path.startswith("/v1/messages"):
            assert data["type"] == "error"
        else:
            assert set(data["error"]) == {"message", "type", "param", "code"}


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=OPENAI_CHAT)
def test_fuzz_openai_chat(http, body):
    _check(http, "/v1/chat/completions", _bounded(body, "max_tokens"))


@FUZZ
@given(body=COMPLETIONS)
def test_fuzz_openai_completions(http, body):
    _check(http, "/v1/completions", _bounded(body, "max_tokens"))


@FUZZ
@given(body=ANTHROPIC)
def test_fuzz_anthropic(http, body):
    _check(http, "/v1/messages", _bounded(body, "max_tokens"))


@FUZZ
@given(body=OLLAMA_CHAT)
def test_fuzz_ollama_chat(http, body):
    _check(http, "/api/chat", _bounded_options(body))


@FUZZ
@given(body=OLLAMA_GENERATE)
def test_fuzz_ollama_generate(http, body):
    _check(http, "/api/generate", _bounded_options(body))


@settings(max_examples=30, deadline=None)
@given(body=json_value, path=st.sampled_from(["/v1/messages/count_tokens", "/api/show"]))
def test_fuzz_any_json(server, body, path):
    raw = json.dumps(body)
    resp = httpx.post(server.url + path, content=raw, timeout=60)
    assert resp.status_code < 500, (path, body, resp.text[:300])


def test_server_survived(http):
    assert http.get("/health").status_code == 200


FUZZ_NAMES = ["fz-a", "fz-b:v1", "", "bad name", MODEL_ID, "default"]
PROFILE_FIELDS = {
    "system": text,
    "template": st.sampled_from(
        ["{% for m in messages %}{{ m.content }}{% endfor %}", "{{ .Prompt }}", "{% if", ""]
    )
    | text,
    "parameters": _optional(
        temperature=number, num_predict=small_count, stop=text, num_ctx=small_count, seed=number
    )
    | json_value,
    "messages": messages,
}
OLLAMA_CREATE = _optional(
    model=st.sampled_from([*FUZZ_NAMES, None, 5]),
    **{"from": model},
    **PROFILE_FIELDS,
    modelfile=st.sampled_from(
        [f"FROM {MODEL_ID}\nPARAMETER temperature x", f"FROM {MODEL_ID}\nMESSAGE bot hi", "FROM"]
    )
    | text,
    files=json_value,
    adapters=json_value,
    quantize=text,
    stream=st.booleans() | text,
)
# Bodies that mostly pass: then the stored profile is what gets fuzzed, through a chat.
PROFILE = st.fixed_dictionaries(
    {"model": st.just("fz-a"), "from": st.just(MODEL_ID)}, optional=PROFILE_FIELDS
)


@FUZZ
@given(body=OLLAMA_CREATE | PROFILE)
def test_fuzz_ollama_create(http, body):
    """Whatever was created must also chat (or refuse with a 400), never fail later."""
    _check(http, "/api/create", body)
    name = body.get("model")
    if isinstance(name, str) and name.startswith("fz-"):
        chat = {"model": name, "messages": [{"role": "user", "content": "hi"}], "stream": False}
        _check(http, "/api/chat", {**chat, "options": {"num_predict": 2}})
        _check(http, "/v1/chat/completions", {**chat, "max_tokens": 2})
        http.request("DELETE", "/api/delete", json={"model": name})


@settings(max_examples=20, deadline=None)
@given(source=model | st.just("fz-a"), destination=st.sampled_from([*FUZZ_NAMES, None]))
def test_fuzz_ollama_copy(http, source, destination):
    _check(http, "/api/copy", {"source": source, "destination": destination})
    if destination and destination.startswith("fz-"):
        http.request("DELETE", "/api/delete", json={"model": destination})
