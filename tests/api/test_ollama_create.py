"""/api/copy and /api/create through the official ollama client, and created models' defaults
applied on every API (ollama, openai, anthropic SDKs) against the real server and model.

Prompt token counts are exact, so they show a system prompt or template took effect without
comparing generated text (docs/determinism.md)."""

from __future__ import annotations

import anthropic
import httpx
import ollama
import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess

QUESTION = [{"role": "user", "content": "Who are you?"}]
SYSTEM = (
    "You are Mario, the plumber from the Mushroom Kingdom. Whatever you are asked, answer in"
    " one cheerful sentence and mention pipes, mushrooms and Princess Peach."
)
JINJA = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture
def oll(server):
    return ollama.Client(host=server.url, timeout=120)


@pytest.fixture
def claude(server):
    return anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture
def made(oll):
    """Names created by a test, deleted after it."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            oll.delete(name)
        except ollama.ResponseError:
            pass


def _names(oll) -> set[str]:
    return {m.model for m in oll.list().models}


def test_copy_is_a_usable_name_and_delete_keeps_the_file(oll, made):
    made.append("smol-copy:v1")
    assert oll.copy(MODEL_ID, "smol-copy:v1").status == "success"
    assert {"smol-copy:v1", MODEL_ID} <= _names(oll)
    reply = oll.chat(model="smol-copy:v1", messages=QUESTION, options={"num_predict": 2})
    assert reply.model == "smol-copy:v1" and reply.done and reply.eval_count <= 2
    base = oll.chat(model=MODEL_ID, messages=QUESTION, options={"num_predict": 1})
    assert reply.prompt_eval_count == base.prompt_eval_count  # a copy has no profile of its own

    with pytest.raises(ollama.ResponseError) as info:
        oll.copy("no-such-model", "other")
    assert info.value.status_code == 404 and "no-such-model" in info.value.error
    for bad in ("bad name!", ":tag", "a" * 300):
        with pytest.raises(ollama.ResponseError) as info:
            oll.copy(MODEL_ID, bad)
        assert info.value.status_code == 400 and "invalid model name" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        oll.copy("smol-copy:v1", MODEL_ID)  # a model file's name is taken
    assert info.value.status_code == 400

    oll.delete("smol-copy:v1")
    assert "smol-copy:v1" not in _names(oll) and MODEL_ID in _names(oll)
    assert MODEL_PATH.is_file()
    assert oll.chat(model=MODEL_ID, messages=QUESTION, options={"num_predict": 1}).done


def test_created_model_applies_its_defaults_on_every_api(oll, openai_client, claude, client, made):
    made.append("mario")
    params = {"num_predict": 5, "temperature": 0, "stop": ["<|im_end|>"], "seed": 7}
    progress = list(
        oll.create(model="mario", from_=MODEL_ID, system=SYSTEM, parameters=params, stream=True)
    )
    assert progress[-1].status == "success" and all(p.status for p in progress)

    shown = client.post("/api/show", json={"model": "mario"}).json()
    assert shown["system"] == SYSTEM
    assert shown["details"]["parent_model"] == MODEL_ID
    assert shown["modelfile"].startswith(f"FROM {MODEL_ID}\n") and "SYSTEM" in shown["modelfile"]
    assert "num_predict" in oll.show("mario").parameters
    assert "im_start" in shown["template"]

    # The system prompt: the same prompt tokens as the base model given it explicitly.
    with_system = claude.messages.count_tokens(model=MODEL_ID, system=SYSTEM, messages=QUESTION)
    plain = claude.messages.count_tokens(model=MODEL_ID, messages=QUESTION)
    mario = claude.messages.count_tokens(model="mario", messages=QUESTION).input_tokens
    assert mario == with_system.input_tokens > plain.input_tokens + 10

    # Ollama: system prompt and num_predict; a request's own options win.
    reply = oll.chat(model="mario", messages=QUESTION)
    assert reply.model == "mario" and reply.prompt_eval_count == mario
    assert reply.eval_count <= 5
    assert oll.chat(model="mario", messages=QUESTION, options={"num_predict": 2}).eval_count <= 2
    gen = oll.generate(model="mario", prompt="Who are you?")
    assert gen.prompt_eval_count == mario and gen.eval_count <= 5

    # OpenAI: num_predict is the default max_tokens.
    chat = openai_client.chat.completions.create(model="mario", messages=QUESTION)
    assert chat.model == "mario" and chat.usage.prompt_tokens == mario
    assert chat.usage.completion_tokens <= 5
    assert openai_client.models.retrieve("mario").id == "mario"
    # An explicit system message replaces the model's.
    own = openai_client.chat.completions.create(
        model="mario", messages=[{"role": "system", "content": "Hi."}, *QUESTION], max_tokens=1
    )
    assert own.usage.prompt_tokens < mario

    # Anthropic: the system prompt too (max_tokens is required there, so the client's wins).
    msg = claude.messages.create(model="mario", max_tokens=3, messages=QUESTION)
    assert msg.model == "mario" and msg.usage.input_tokens == mario
    assert msg.usage.output_tokens <= 3


def test_create_with_a_template_messages_and_num_ctx(oll, claude, client, made):
    made += ["plain-chatml", "tiny-ctx"]
    oll.create(
        model="plain-chatml",
        from_=MODEL_ID,
        template=JINJA,
        messages=[
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "Hi!"},
        ],
    )
    shown = client.post("/api/show", json={"model": "plain-chatml"}).json()
    assert shown["template"] == JINJA and len(shown["messages"]) == 2
    # The model's template has a default system prompt; this one has none, but two messages.
    base = claude.messages.count_tokens(model=MODEL_ID, messages=QUESTION).input_tokens
    ours = claude.messages.count_tokens(model="plain-chatml", messages=QUESTION).input_tokens
    direct = claude.messages.count_tokens(
        model=MODEL_ID,
        system="x",
        messages=[{"role": "user", "content": "Say hi."}],
    ).input_tokens
    assert ours != base and ours > direct  # a different template, and the messages are in

    oll.create(model="tiny-ctx", from_="plain-chatml", parameters={"num_ctx": 12})
    shown = client.post("/api/show", json={"model": "tiny-ctx"}).json()
    assert shown["template"] == JINJA  # inherited from the model it was made from
    assert "num_ctx" in shown["parameters"] and shown["details"]["parent_model"] == "plain-chatml"
    with pytest.raises(ollama.ResponseError) as info:
        oll.chat(model="tiny-ctx", messages=QUESTION)
    assert info.value.status_code == 400 and "num_ctx" in info.value.error


def test_create_from_a_modelfile(client, made):
    made.append("from-modelfile")
    text = (
        f'FROM {MODEL_ID}\nSYSTEM """Be brief."""\nPARAMETER temperature 0.3\nPARAMETER stop END\n'
    )
    r = client.post(
        "/api/create", json={"model": "from-modelfile", "modelfile": text, "stream": False}
    )
    assert r.status_code == 200 and r.json() == {"status": "success"}
    shown = client.post("/api/show", json={"name": "from-modelfile"}).json()
    assert shown["system"] == "Be brief."
    lines = shown["parameters"].splitlines()
    assert [line.split()[0] for line in lines] == ["stop", "temperature"]
    assert lines[1].split()[1] == "0.3"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "x", "from": MODEL_ID, "adapters": {"a.gguf": "sha256:00"}}, 400, "adapters"),
        ({"model": "x", "files": {"m.gguf": "sha256:00"}}, 400, "files"),
        ({"model": "x", "from": MODEL_ID, "quantize": "q4_K_M"}, 400, "quantize"),
        ({"model": "x", "modelfile": f"FROM {MODEL_ID}\nADAPTER ./l.gguf"}, 400, "adapters"),
        ({"model": "x", "modelfile": "FROM a\nFOO bar"}, 400, "unknown command"),
        ({"model": "x", "from": MODEL_ID, "parameters": {"mirostat": 2}}, 400, "mirostat"),
        ({"model": "x", "from": MODEL_ID, "parameters": {"top_p": 7}}, 400, "top_p"),
        ({"model": "x", "from": MODEL_ID, "template": "{{ .Prompt }}"}, 400, "Go templates"),
        ({"model": "x", "from": "no-such-model"}, 404, "no-such-model"),
        ({"model": "x", "system": "hi"}, 400, "from is required"),
        ({"model": "bad name", "from": MODEL_ID}, 400, "invalid model name"),
        ({"from": MODEL_ID}, 400, "model is required"),
        ({"model": MODEL_ID, "from": MODEL_ID}, 400, "already the name"),
        ({"model": "x", "from": MODEL_ID, "stream": "yes"}, 400, "stream"),
    ],
)
def test_create_refusals_are_ollama_errors(client, body, status, words):
    r = client.post("/api/create", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error, str) and words in error
    assert client.post("/api/show", json={"model": "x"}).status_code == 404


def test_created_models_survive_a_restart(tmp_path):
    env = {"IMPETUS_DATA_DIR": str(tmp_path / "data")}
    first = ServerProcess(env=env)
    try:
        first.wait_ready()
        oll = ollama.Client(host=first.url, timeout=120)
        oll.create(model="keeper", from_=MODEL_ID, system=SYSTEM, parameters={"seed": 3})
        oll.copy("keeper", "keeper-copy")
    finally:
        first.stop()
    second = ServerProcess(env=env)
    try:
        second.wait_ready()
        oll = ollama.Client(host=second.url, timeout=120)
        assert {"keeper", "keeper-copy"} <= {m.model for m in oll.list().models}
        for name in ("keeper", "keeper-copy"):
            shown = httpx.post(second.url + "/api/show", json={"model": name}).json()
            assert shown["system"] == SYSTEM and "seed" in shown["parameters"]
    finally:
        second.stop()
