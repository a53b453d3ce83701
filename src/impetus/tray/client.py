"""The tray's HTTP client: `/health` and `/metrics`, with short timeouts and no exceptions.

Uses `http.client` rather than httpx so the tray process stays small (httpx alone costs about
12 MB of RSS). Every call returns a value; a server that is down or slow is an answer, not an
error, so nothing the tray does can hang on it for more than `timeout` seconds.
"""

from __future__ import annotations

import http.client
import json
import math

from impetus.tray.state import Health, Metrics

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

    def _get(self, path: str) -> tuple[int, bytes] | None:
        """(status, body), or None when nothing answered in time."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"accept": "*/*"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(1 << 20)
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

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
        return Health(
            reachable=True,
            is_impetus=True,
            status=str(data["status"]),
            model=model_id,
            error=data.get("error"),
        )

    def metrics(self) -> Metrics | None:
        answer = self._get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        return metrics_from_text(answer[1].decode("utf-8", "replace"))
