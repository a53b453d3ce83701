import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, apiFetch, endpointExists, errorMessage, onAuthRequired, setApiKey } from "./api";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

afterEach(() => {
  vi.unstubAllGlobals();
  setApiKey(null);
});

describe("errorMessage", () => {
  it("reads the OpenAI, Anthropic and Ollama shapes", () => {
    expect(errorMessage({ error: { message: "bad", code: "x" } }, "f")).toEqual({ message: "bad", code: "x" });
    expect(errorMessage({ type: "error", error: { type: "t", message: "m" } }, "f").message).toBe("m");
    expect(errorMessage({ error: "ollama says no" }, "f").message).toBe("ollama says no");
    expect(errorMessage("<html>", "fallback").message).toBe("fallback");
  });
});

describe("apiFetch", () => {
  it("sends the session's key as a Bearer token", async () => {
    const fetch = vi.fn().mockResolvedValue(json(200, {}));
    vi.stubGlobal("fetch", fetch);
    setApiKey("sekret");
    expect(sessionStorage.getItem("impetus.apiKey")).toBe("sekret");
    await apiFetch("/v1/models");
    const headers = fetch.mock.calls[0][1].headers as Headers;
    expect(headers.get("authorization")).toBe("Bearer sekret");
  });

  it("throws the server's message and tells listeners about a 401", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(json(401, { error: { message: "invalid API key" } })));
    const heard: string[] = [];
    const off = onAuthRequired((m) => heard.push(m));
    const err = await apiFetch("/v1/models").catch((e) => e);
    off();
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(err.message).toBe("invalid API key");
    expect(heard).toEqual(["invalid API key"]);
  });

  it("feature-detects endpoints by 404", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(json(404, { error: { message: "no route" } })));
    expect(await endpointExists("/admin/models")).toBe(false);
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(json(200, { data: [] })));
    expect(await endpointExists("/admin/models")).toBe(true);
  });
});
