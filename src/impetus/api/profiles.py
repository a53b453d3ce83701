"""A model's own defaults, applied to every request that names it, on every wire format.

Models made by Ollama's /api/create (and /api/copy) carry a profile: a system prompt, leading
messages, a chat template and default parameters (Ollama's names: temperature, num_predict...).
Whatever the request says itself wins; the profile fills in the rest, as Ollama does with a
Modelfile. Plain model files have an empty profile, and then nothing here changes a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request

from impetus.api import tools
from impetus.api.generation import render_chat
from impetus.engines.protocol import SamplingParams
from impetus.server.errors import ApiError

# Ollama parameter → SamplingParams field.
_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "repeat_penalty": "repeat_penalty",
    "repeat_last_n": "penalty_last_n",
    "num_predict": "max_tokens",
    "stop": "stop",
}


@dataclass
class Target:
    """The model a request runs on: its engine, the name replies give, and its profile."""

    engine: Any
    name: str
    profile: dict = field(default_factory=dict)

    @property
    def template(self) -> str | None:
        return self.profile.get("template") or None

    @property
    def parameters(self) -> dict:
        return self.profile.get("parameters") or {}

    def messages(self, messages: list[dict], *, system: bool = True) -> list[dict]:
        """The profile's system prompt (unless the request has one) and its messages, then the
        request's: Ollama's order."""
        lead = [m for m in self.profile.get("messages") or []]
        n = 0
        while n < len(messages) and messages[n]["role"] == "system":
            n += 1
        sys_prompt = self.profile.get("system")
        if system and sys_prompt and not any(m["role"] == "system" for m in messages):
            lead.insert(0, {"role": "system", "content": sys_prompt})
        return messages[:n] + lead + messages[n:]

    def chat_prompt(self, messages: list[dict], defs: list, choice: str) -> list[int]:
        """Neutral messages (see `tools.prepare`) → prompt tokens, with the profile applied."""
        source = self.template or self.engine.info.chat_template
        prepared, template_vars = tools.prepare(self.messages(messages), defs, choice, source)
        return render_chat(self.engine, prepared, template=self.template, **template_vars)

    def sampling(
        self, params: SamplingParams, given: set[str], prompt_tokens: int, num_ctx: int | None
    ) -> SamplingParams:
        """`params` with the profile's parameters where the request set none (`given` holds
        the Ollama names of what it set), and `num_ctx` (the request's, else the profile's) as
        a cap on prompt + generated tokens."""
        updates: dict[str, Any] = {}
        for key, value in self.parameters.items():
            if key in given or key not in _FIELDS:
                continue
            if key == "num_predict":
                value = value if value > 0 else None
            elif key == "stop":
                value = tuple(value) if isinstance(value, list) else (value,)
            elif key == "repeat_last_n" and value == 0:
                value = 64
            updates[_FIELDS[key]] = value
        params = replace(params, **updates)
        if num_ctx is None:
            num_ctx = self.parameters.get("num_ctx")
        if num_ctx is None:
            return params
        room = num_ctx - prompt_tokens
        if room <= 0:
            raise ApiError(
                400,
                f"the prompt is {prompt_tokens} tokens, more than num_ctx ({num_ctx}) allows",
                param="num_ctx",
                code="context_length_exceeded",
            )
        cap = room if params.max_tokens is None else min(room, params.max_tokens)
        return replace(params, max_tokens=cap)


def given(fields_set: set[str], names: dict[str, str]) -> set[str]:
    """The Ollama parameter names a request set, from its own field names."""
    return {names.get(f, f) for f in fields_set}


async def acquire(request: Request, model: str | None, keep_alive=None) -> Target:
    """The engine for `model`, loaded on demand, and its profile. As with `runtime.acquire`,
    call `engine.submit()` after this without awaiting in between."""
    runtime = request.app.state.runtime
    engine = await runtime.acquire(model, keep_alive)
    rec = runtime.manager.registry.get(model) if model else None
    if rec is not None and rec.derived:
        return Target(engine, rec.name, rec.profile or {})
    return Target(engine, engine.info.name)
