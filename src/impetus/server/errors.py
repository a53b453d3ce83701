"""Errors in each API's own shape.

One exception type, `ApiError`, is raised anywhere; the response shape follows the path:
`/v1/messages` answers as Anthropic does, `/api/` as Ollama does, everything else as OpenAI does.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = logging.getLogger("impetus.errors")

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _default_type(status)
        self.param = param
        self.code = code
        self.headers = headers


def _default_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_exceeded"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_body(path: str, err: ApiError) -> dict:
    if path.startswith("/v1/messages"):
        kind = _ANTHROPIC_TYPES.get(err.status, "api_error" if err.status >= 500 else err.type)
        return {"type": "error", "error": {"type": kind, "message": err.message}}
    if path.startswith("/api/"):
        return {"error": err.message}
    return {
        "error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}
    }


def error_response(path: str, err: ApiError) -> JSONResponse:
    return JSONResponse(error_body(path, err), status_code=err.status, headers=err.headers)


def _loc_to_param(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    out = ""
    for p in parts:
        if p.isdigit():
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out or "body"


def validation_error(exc_errors: list[dict]) -> ApiError:
    first = exc_errors[0] if exc_errors else {"loc": (), "msg": "invalid request"}
    param = _loc_to_param(tuple(first.get("loc", ())))
    msg = first.get("msg", "invalid value")
    if first.get("type") == "json_invalid":
        return ApiError(400, "request body is not valid JSON", param=None, code="invalid_json")
    if first.get("type") == "missing":
        return ApiError(400, f"missing required parameter: '{param}'", param=param, code="missing")
    return ApiError(400, f"invalid value for '{param}': {msg}", param=param, code="invalid_value")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # FastAPI reports a non-JSON body without a JSON content type as a type error on
        # "body"; say plainly that the body is not JSON.
        body = await request.body()
        if body:
            try:
                json.loads(body)
            except ValueError:
                return error_response(
                    request.url.path,
                    ApiError(400, "request body is not valid JSON", code="invalid_json"),
                )
        return error_response(request.url.path, validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            err = ApiError(404, f"no route for {request.method} {request.url.path}")
        elif exc.status_code == 405:
            err = ApiError(405, f"method {request.method} is not allowed on {request.url.path}")
        else:
            err = ApiError(exc.status_code, str(exc.detail))
        return error_response(request.url.path, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, ApiError(500, "internal server error"))
