"""Security and logging middleware, as plain ASGI so streamed responses pass through untouched.

Order, outermost first: access log, Host check (DNS rebinding), CORS, body limit, API key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impetus.server.errors import ApiError, error_body
from impetus.server.keys import KeyStore

access_log = logging.getLogger("impetus.access")

PUBLIC_PATHS = ("/health",)


async def _send_error(scope: Scope, send: Send, err: ApiError) -> None:
    import json

    body = json.dumps(error_body(scope.get("path", ""), err)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for k, v in (err.headers or {}).items():
        headers.append((k.lower().encode(), v.encode()))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


class AccessLogMiddleware:
    """One line per request: method, path, status, latency and tokens (set by the routers).

    `on_response(route, status, seconds)` feeds the request metrics; `route` is the matched
    route template, so unknown paths do not create new metric labels.
    """

    def __init__(self, app: ASGIApp, on_response=None) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        scope.setdefault("state", {})

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            state = scope.get("state", {})
            tokens = state.get("tokens")
            extra = ""
            if tokens:
                extra = f" prompt_tokens={tokens[0]} completion_tokens={tokens[1]}"
            access_log.info(
                "method=%s path=%s status=%d latency_ms=%.1f%s",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                extra,
            )
            if self.on_response is not None:
                route = scope.get("route")
                self.on_response(getattr(route, "path", "unmatched"), status, elapsed)


class HostCheckMiddleware:
    """Refuse requests whose Host header is not ours: a DNS-rebinding page cannot reach us."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str], allow_ip_literals: bool) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed}
        self.allow_ip_literals = allow_ip_literals

    def _ok(self, host: str | None) -> bool:
        if not host:
            return False
        host = host.lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.startswith("[") and "]" in name:
            name = name[: name.index("]") + 1]
        if name in self.allowed:
            return True
        if self.allow_ip_literals:
            try:
                socket.inet_pton(
                    socket.AF_INET6 if ":" in name else socket.AF_INET, name.strip("[]")
                )
                return True
            except OSError:
                return False
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._ok(_header(scope, b"host")):
            await _send_error(
                scope, send, ApiError(403, "host not allowed", type="permission_error")
            )
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over the limit, by Content-Length or by counting a streamed body.

    `exempt` upload routes carry their own, larger limit: `(method, path)` pairs, where a path
    ending in "/" covers everything under it. Only the upload itself is exempt: the JSON
    routes beside it (/admin/models/pull, .../load) keep the limit.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    def _exempt(self, scope: Scope) -> bool:
        method, path = scope.get("method"), scope["path"]
        return any(
            method == m and (path.startswith(p) if p.endswith("/") else path == p)
            for m, p in self.exempt
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        too_big = ApiError(
            413, f"request body is larger than {self.max_bytes} bytes", code="request_too_large"
        )
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            await _send_error(scope, send, too_big)
            return
        seen = 0
        response_started = False
        rejected = False

        async def limited_receive() -> Message:
            # Answer 413 ourselves and tell the app the client left: frameworks turn an
            # exception raised here into their own 400, which would hide the real reason.
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    if not response_started and not rejected:
                        rejected = True
                        await _send_error(scope, send, too_big)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


class ApiKeyMiddleware:
    """Bearer or x-api-key: a configured key (constant-time compare against each) or a key
    created at run time (looked up by digest in the `KeyStore`). With neither kind of key the
    server is open; the first key created in the dashboard turns checking on."""

    def __init__(self, app: ASGIApp, keys: list[str], store: KeyStore | None = None) -> None:
        self.app = app
        # Compared as SHA-256 digests: compare_digest is constant-time only for inputs of equal
        # length, and a raw compare would leak each configured key's length.
        self.keys = [hashlib.sha256(k.encode()).digest() for k in keys]
        self.store = store

    def _presented(self, scope: Scope) -> bytes | None:
        auth = _header(scope, b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip().encode()
        key = _header(scope, b"x-api-key")
        return key.strip().encode() if key else None

    def _required(self) -> bool:
        return bool(self.keys) or bool(self.store)

    def _accepts(self, presented: bytes) -> bool:
        ok = False
        digest = hashlib.sha256(presented).digest()
        for key in self.keys:  # no early exit: timing must not depend on which key matched
            ok |= hmac.compare_digest(digest, key)
        if not ok and self.store:
            ok = self.store.verify(presented.decode("latin-1")) is not None
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or scope["path"] in PUBLIC_PATHS
            or not self._required()
        ):
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is None or not self._accepts(presented):
            message = (
                "invalid API key" if presented else "missing API key (use Authorization: Bearer)"
            )
            await _send_error(
                scope,
                send,
                ApiError(
                    401, message, code="invalid_api_key", headers={"www-authenticate": "Bearer"}
                ),
            )
            return
        await self.app(scope, receive, send)
