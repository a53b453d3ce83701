import { afterEach, describe, expect, it, vi } from "vitest";
import { initialPull, pullEta, pullModel, reducePull, type PullState } from "./pull";

afterEach(() => vi.unstubAllGlobals());

describe("reducePull", () => {
  it("follows the events to success, with a smoothed rate and an ETA", () => {
    let s = initialPull(0);
    s = reducePull(s, { status: "pulling manifest" }, 0);
    expect(s.status).toBe("pulling manifest");
    expect(s.total).toBeNull();
    s = reducePull(s, { status: "downloading", digest: "a.gguf", total: 1000, completed: 100 }, 1000);
    expect([s.completed, s.total, s.rate]).toEqual([100, 1000, null]); // one sample: no rate yet
    s = reducePull(s, { status: "downloading", total: 1000, completed: 300 }, 2000);
    expect(s.rate).toBe(200);
    expect(pullEta(s)).toBe(3.5);
    s = reducePull(s, { status: "downloading", total: 1000, completed: 700 }, 3000);
    expect(s.rate).toBeCloseTo(0.7 * 200 + 0.3 * 400);
    s = reducePull(s, { status: "verifying sha256 digest", digest: "sha256:ab" }, 3100);
    expect(s.status).toBe("verifying sha256 digest");
    expect(s.completed).toBe(700); // kept while verifying
    s = reducePull(s, { status: "success", model: "tiny" }, 3200);
    expect(s.phase).toBe("success");
    expect(s.model).toBe("tiny");
    expect(s.completed).toBe(1000);
    expect(pullEta(s)).toBeNull();
  });

  it("turns an error event into the error phase with the server's message", () => {
    const s = reducePull(initialPull(0), { error: "org/nope: 404 Not Found", status_code: 404 });
    expect(s.phase).toBe("error");
    expect(s.error).toBe("org/nope: 404 Not Found");
  });

  it("restarts the rate clock when a retry starts over", () => {
    let s = initialPull(0);
    s = reducePull(s, { status: "downloading", total: 1000, completed: 500 }, 1000);
    s = reducePull(s, { status: "retrying", total: 1000, completed: 0 }, 1500);
    expect(s.completed).toBe(0);
    expect(s.at).toBe(1500);
  });
});

function sseResponse(chunks: string[]): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
}

describe("pullModel", () => {
  it("reads events split across chunks and ends in success", async () => {
    const fetch = vi.fn().mockResolvedValue(
      sseResponse([
        'data: {"status":"pulling manifest"}\n\ndata: {"status":"downloading","total":10,',
        '"completed":5}\n\n',
        'data: {"status":"success","model":"m"}\n\n',
      ]),
    );
    vi.stubGlobal("fetch", fetch);
    const states: PullState[] = [];
    const end = await pullModel("org/repo:Q4_K_M", (s) => states.push(s), new AbortController().signal);
    expect(JSON.parse(fetch.mock.calls[0][1].body)).toEqual({ model: "org/repo:Q4_K_M", stream: true });
    expect(end.phase).toBe("success");
    expect(states.map((s) => s.status)).toEqual(["starting", "pulling manifest", "downloading", "done", "done"]);
    expect(states[2].completed).toBe(5);
  });

  it("reports a refused request with the server's message", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(new Response(JSON.stringify({ error: { message: "missing required parameter: 'model'" } }), { status: 400 })),
    );
    const end = await pullModel("", () => {}, new AbortController().signal);
    expect(end.phase).toBe("error");
    expect(end.error).toBe("missing required parameter: 'model'");
  });

  it("is cancelled when the signal aborts", async () => {
    const ctl = new AbortController();
    vi.stubGlobal(
      "fetch",
      vi.fn((_url: string, init: RequestInit) => new Promise((_, reject) => init.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))))),
    );
    const p = pullModel("org/repo", () => {}, ctl.signal);
    ctl.abort();
    expect((await p).phase).toBe("cancelled");
  });

  it("says so when the stream stops before success", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(sseResponse(['data: {"status":"downloading","total":10,"completed":5}\n\n'])));
    const end = await pullModel("org/repo", () => {}, new AbortController().signal);
    expect(end.phase).toBe("error");
    expect(end.error).toMatch(/ended before/);
  });
});
