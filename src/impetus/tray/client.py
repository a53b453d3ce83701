"""The tray's HTTP client: health, metrics and the model registry, with timeouts and no exceptions.

Uses `http.client` rather than httpx so the tray process stays small (httpx alone costs about
12 MB of RSS). Every call returns a value; a server that is down or slow is an answer, not an
error, so nothing the tray does can hang on it for longer than that call's timeout.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from urllib.parse import quote

from impetus.tray.catalog import Catalog, registry_models
from impetus.tray.state import Health, Metrics

LIST_TIMEOUT_SECONDS = 5.0  # the registry answers once the default model is loaded
LOAD_TIMEOUT_SECONDS = 600.0  # a large model from a slow disk; runs off the menu's thread

# The Prometheus names the tray reads, in one place. For each field, the first name present
# wins; values across label sets are summed. Missing names leave the field unknown (None).
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "tokens_per_second": ("impetus_tokens_per_second",),
    "active_requests": ("impetus_active_requests", "impetus_active_slots", "impetus_slots_busy"),
    "queue_depth": ("impetus_queue_depth",),
}


def parse_prometheus(text: str) -> dict[str, float]:
    """Sample name → value, summed over label sets. Tolerant: bad lines are skipped."""
    values: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            _, _, rest = rest.rpartition("}")
        else:
            name, _, rest = line.partition(" ")
        fields = rest.split()
        if not name or not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        values[name.strip()] = values.get(name.strip(), 0.0) + value
    return values


def metrics_from_text(text: str) -> Metrics:
    samples = parse_prometheus(text)

    def pick(field: str) -> float | None:
        for name in METRIC_NAMES[field]:
            if name in samples:
                return samples[name]
        return None

    tps = pick("tokens_per_second")
    active = pick("active_requests")
    queued = pick("queue_depth")
    return Metrics(
        tokens_per_second=tps,
        active_requests=None if active is None else int(active),
        queue_depth=None if queued is None else int(queued),
    )


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status None means nothing answered in time."""

    status: int | None
    data: object = None  # the JSON body, when there was one

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def error(self) -> str:
        """The server's own error text (OpenAI-style or Ollama-style body), else the status."""
        if self.status is None:
            return "the server did not answer"
        err = self.data.get("error") if isinstance(self.data, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if self.status == 401:
            return "the server wants an API key (set IMPETUS_API_KEY for the tray)"
        return f"HTTP {self.status}"


class ServerClient:
    def __init__(
        self, host: str, port: int, *, api_key: str | None = None, timeout: float = 2.0
    ) -> None:
        self.host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.port = port
        self.api_key = api_key
        self.timeout = timeout

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _request(
        self, method: str, path: str, body: object = None, *, timeout: float | None = None
    ) -> tuple[int, bytes] | None:
        """(status, body), or None when nothing answered in time."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        headers = {"accept": "*/*"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(8 << 20)
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def _get(self, path: str, *, timeout: float | None = None) -> tuple[int, bytes] | None:
        return self._request("GET", path, timeout=timeout)

    def _json(
        self, method: str, path: str, body: object = None, *, timeout: float | None = None
    ) -> Reply:
        answer = self._request(method, path, body, timeout=timeout)
        if answer is None:
            return Reply(None)
        try:
            data = json.loads(answer[1]) if answer[1] else None
        except ValueError:
            data = None
        return Reply(answer[0], data)

    def health(self) -> Health:
        answer = self._get("/health")
        if answer is None:
            return Health(reachable=False)
        _, body = answer
        try:
            data = json.loads(body)
        except ValueError:
            return Health(reachable=True, is_impetus=False)
        if not isinstance(data, dict) or "status" not in data:
            return Health(reachable=True, is_impetus=False)
        model = data.get("model")
        model_id = model.get("id") if isinstance(model, dict) else None
        uptime = data.get("uptime_seconds")
        return Health(
            reachable=True,
            is_impetus=True,
            status=str(data["status"]),
            model=model_id,
            error=data.get("error"),
            # On our monotonic clock: a wall-clock jump must not look like a server restart.
            started_at=time.monotonic() - uptime if isinstance(uptime, int | float) else None,
        )

    def metrics(self) -> Metrics | None:
        answer = self._get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        return metrics_from_text(answer[1].decode("utf-8", "replace"))

    # ----- the model registry ----------------------------------------------------------------

    def models(self) -> Catalog:
        """The registry's chat models, or an empty catalog that says why there is none."""
        reply = self._json("GET", "/admin/models", timeout=LIST_TIMEOUT_SECONDS)
        if not reply.ok:
            return Catalog("server", error=reply.error)
        try:
            return Catalog("server", registry_models(reply.data))
        except ValueError as exc:
            return Catalog("server", error=str(exc))

    def load_model(self, name: str, keep_alive: str | None = None) -> Reply:
        body = {} if keep_alive is None else {"keep_alive": keep_alive}
        path = f"/admin/models/{quote(name, safe='')}/load"
        return self._json("POST", path, body, timeout=LOAD_TIMEOUT_SECONDS)

    def unload_model(self, name: str) -> Reply:
        path = f"/admin/models/{quote(name, safe='')}/unload"
        return self._json("POST", path, {}, timeout=LIST_TIMEOUT_SECONDS)
