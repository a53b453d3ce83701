"""Ollama's POST /api/create and POST /api/copy, as far as the model manager goes.

Both make a derived model (models/registry.py): a new name on a registered model's file, with
its own system prompt, messages, template and default parameters (applied by api/profiles.py on
every API). Nothing is copied or converted, so what needs new weights is refused with a 400
naming it: uploaded blobs (`files`), LoRA adapters, quantization.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from impetus.api import modelfile
from impetus.api.ollama_schemas import Options
from impetus.api.sse import NDJSON_HEADERS, EventStreamResponse
from impetus.models.chat_template import ChatTemplate, ChatTemplateError
from impetus.server.errors import ApiError

router = APIRouter()

# Ollama's names: [host/][namespace/]model[:tag].
_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*){0,2}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


class CopyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class CreateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    model: str | None = None
    name: str | None = None  # older clients
    from_: str | None = Field(None, alias="from")
    modelfile: str | None = None  # older clients
    path: str | None = None  # older clients: a Modelfile on the server's disk
    system: str | None = None
    template: str | None = None
    license: str | list[str] | None = None
    parameters: dict[str, Any] | None = None
    messages: list[CreateMessage] | None = None
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    quantize: str | None = None
    quantization: str | None = None  # older clients
    stream: StrictBool = True


class Parameters(Options):
    """The parameters a derived model may set: those requests can set (`options`)."""

    model_config = ConfigDict(extra="forbid")


def _check_name(name: str | None, field: str) -> str:
    if not name:
        raise ApiError(400, f"{field} is required", param=field)
    if len(name) > 200 or not _NAME.match(name):
        raise ApiError(
            400,
            f"invalid model name '{name}': use letters, digits, '_', '-', '.', an optional"
            " namespace/ and an optional :tag",
            param=field,
        )
    return name


def _refuse_unsupported(req: CreateRequest, spec: dict) -> None:
    refused = []
    if req.files:
        refused.append("files (uploaded blobs; create from a registered model with `from`)")
    if req.adapters or spec.get("adapters"):
        refused.append("adapters (LoRA)")
    if req.quantize or req.quantization:
        refused.append("quantize (pull or upload the quantization you want)")
    if req.path:
        refused.append("path (send the Modelfile text as `modelfile`)")
    if spec.get("requires"):
        refused.append("REQUIRES")
    if refused:
        raise ApiError(400, "not supported by impetus: " + "; ".join(refused))


def _parameters(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        params = Parameters.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ApiError(
                400, f"parameter '{where}' is unknown or not supported", param="parameters"
            ) from None
        raise ApiError(400, f"parameter '{where}': {err['msg']}", param="parameters") from None
    out = params.model_dump(exclude_none=True)
    if isinstance(out.get("stop"), str):
        out["stop"] = [out["stop"]]
    return out


def _check_template(template: str) -> None:
    """Only Jinja chat templates (what GGUF files carry) can be rendered here; Ollama's own
    Go templates cannot."""
    try:
        ChatTemplate(template).render([{"role": "user", "content": "hi"}])
    except Exception as exc:
        hint = " (Ollama's Go templates are not supported)" if "{{ ." in template else ""
        reason = exc if isinstance(exc, ChatTemplateError) else f"{type(exc).__name__}: {exc}"
        raise ApiError(
            400, f"template is not a usable Jinja chat template{hint}: {reason}", param="template"
        ) from None


def _profile(req: CreateRequest) -> tuple[str | None, dict]:
    """The `from` model and the profile a request asks for (request fields over Modelfile)."""
    spec: dict[str, Any] = {}
    if req.modelfile:
        try:
            spec = modelfile.parse(req.modelfile)
        except modelfile.ModelfileError as exc:
            raise ApiError(400, f"modelfile: {exc}", param="modelfile") from None
    _refuse_unsupported(req, spec)
    profile: dict[str, Any] = {}
    system = req.system if req.system is not None else spec.get("system")
    if system is not None:
        profile["system"] = system
    template = req.template if req.template is not None else spec.get("template")
    if template:
        _check_template(template)
        profile["template"] = template
    license_ = req.license if req.license is not None else spec.get("license")
    if license_:
        profile["license"] = "\n".join(license_) if isinstance(license_, list) else license_
    params = {**spec.get("parameters", {}), **(req.parameters or {})}
    if params:
        profile["parameters"] = _parameters(params)
    if req.messages is not None:
        profile["messages"] = [m.model_dump() for m in req.messages]
    elif spec.get("messages"):
        try:
            msgs = [CreateMessage.model_validate(m) for m in spec["messages"]]
        except ValidationError:
            raise ApiError(
                400, "modelfile: MESSAGE roles are system, user or assistant", param="modelfile"
            ) from None
        profile["messages"] = [m.model_dump() for m in msgs]
    return req.from_ or spec.get("from"), profile


async def _manager(request: Request):
    runtime = request.app.state.runtime
    await asyncio.to_thread(runtime.wait_loaded, 30)  # the registry fills as start-up loads
    return runtime.manager


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


@router.post("/api/create")
async def create(req: CreateRequest, request: Request):
    name = _check_name(req.model or req.name, "model")
    source, profile = _profile(req)
    if not source:
        raise ApiError(400, "from is required: the registered model to build on", param="from")
    manager = await _manager(request)
    src = await asyncio.to_thread(manager.resolve, source)  # may register a GGUF path
    rec = await asyncio.to_thread(manager.derive, name, src.name, profile)
    if not req.stream:
        return {"status": "success"}
    statuses = [
        f"using existing model {src.name}",
        f"using file {rec.path}",
        *(f"setting {key}" for key in profile),
        f"writing model {rec.name}",
        "success",
    ]

    async def lines() -> AsyncIterator[str]:
        for status in statuses:
            yield _line({"status": status})

    return EventStreamResponse(lines(), on_disconnect=lambda: None, headers=NDJSON_HEADERS)


@router.post("/api/copy")
async def copy(req: CopyRequest, request: Request) -> Response:
    name = _check_name(req.destination, "destination")
    manager = await _manager(request)
    await asyncio.to_thread(manager.derive, name, req.source, {})
    return Response(status_code=200)
