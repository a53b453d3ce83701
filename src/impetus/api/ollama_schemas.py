"""Ollama request bodies (/api/generate, /api/chat, /api/show).

Ollama ignores options it does not know (clients send mirostat, num_gpu, num_thread...), and
so do we; every option we act on is validated, so a bad value is a 400 `{"error": ...}`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from impetus.api.openai_schemas import ToolDef
from impetus.engines.protocol import SamplingParams

KeepAlive = str | float | None


class Options(BaseModel):
    model_config = ConfigDict(extra="ignore")

    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = None
    num_predict: int | None = Field(None, ge=-2)
    num_ctx: int | None = Field(None, ge=1)
    stop: list[str] | str | None = None
    repeat_penalty: float | None = Field(None, gt=0.0, le=10.0)
    repeat_last_n: int | None = Field(None, ge=-1)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)

    def sampling(self) -> SamplingParams:
        """Ollama's own defaults where the client gives none."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        n = self.num_predict
        return SamplingParams(
            temperature=0.8 if self.temperature is None else self.temperature,
            top_p=0.9 if self.top_p is None else self.top_p,
            top_k=40 if self.top_k is None else self.top_k,
            min_p=self.min_p or 0.0,
            seed=self.seed,
            repeat_penalty=1.1 if self.repeat_penalty is None else self.repeat_penalty,
            penalty_last_n=64 if self.repeat_last_n in (None, 0) else self.repeat_last_n,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            max_tokens=n if n is not None and n > 0 else None,
            stop=tuple(s for s in stops if s),
        )


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    format: Literal["", "json"] | dict[str, Any] | None = None
    options: Options = Field(default_factory=Options)
    stream: StrictBool = True
    keep_alive: KeepAlive = None


class GenerateRequest(_Base):
    prompt: str = ""
    system: str | None = None
    template: str | None = None
    raw: StrictBool = False
    context: list[int] | None = None
    images: list[str] | None = None
    suffix: str | None = None


class FunctionCall(BaseModel):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolCall(BaseModel):
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None


class ChatRequest(_Base):
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[ToolDef] | None = None


class ShowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = Field(None, min_length=1)
    name: str | None = Field(None, min_length=1)  # the old field name
    verbose: StrictBool = False
