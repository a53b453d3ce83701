"""`impetus chat`: a streaming terminal chat against a running server."""

from __future__ import annotations

import json

import httpx
from rich.console import Console

HELP = "Commands: /reset clears the conversation, /exit quits (Ctrl-D too)."


def run_chat(
    url: str,
    model: str | None,
    system: str | None,
    temperature: float | None,
    api_key: str | None,
    max_tokens: int | None = None,
) -> int:
    console = Console()
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    base = url.rstrip("/")
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    with httpx.Client(
        base_url=base, headers=headers, timeout=httpx.Timeout(600, connect=5)
    ) as client:
        try:
            models = client.get("/v1/models").raise_for_status().json()["data"]
        except httpx.HTTPError as exc:
            console.print(f"[red]cannot reach {base}: {exc}[/red]  (start it with: impetus serve)")
            return 1
        name = model or (models[0]["id"] if models else None)
        console.print(f"[bold]impetus chat[/bold] with [cyan]{name}[/cyan] at {base}. {HELP}")
        while True:
            try:
                line = console.input("[bold green]> [/bold green]")
            except (EOFError, KeyboardInterrupt):
                console.print()
                return 0
            if not line.strip():
                continue
            if line.strip() == "/exit":
                return 0
            if line.strip() == "/reset":
                messages = messages[:1] if system else []
                console.print("[dim]conversation cleared[/dim]")
                continue
            messages.append({"role": "user", "content": line})
            body: dict = {"model": name, "messages": messages, "stream": True}
            if temperature is not None:
                body["temperature"] = temperature
            if max_tokens is not None:
                body["max_tokens"] = max_tokens
            reply = _stream_reply(client, body, console)
            if reply is None:
                messages.pop()
            else:
                messages.append({"role": "assistant", "content": reply})


def _stream_reply(client: httpx.Client, body: dict, console: Console) -> str | None:
    parts: list[str] = []
    try:
        with client.stream("POST", "/v1/chat/completions", json=body) as resp:
            if resp.status_code != 200:
                resp.read()
                message = resp.json().get("error", {}).get("message", resp.text)
                console.print(f"[red]error {resp.status_code}: {message}[/red]")
                return None
            for line in resp.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices", []):
                    text = choice.get("delta", {}).get("content") or ""
                    parts.append(text)
                    console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        console.print("\n[dim]stopped[/dim]")
    except httpx.HTTPError as exc:
        console.print(f"\n[red]connection error: {exc}[/red]")
        return None
    console.print()
    return "".join(parts)
