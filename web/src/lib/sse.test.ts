import { describe, expect, it } from "vitest";
import { parseSSE, readSSE } from "./sse";

describe("parseSSE", () => {
  it("returns complete events and keeps the unfinished tail", () => {
    const { events, rest } = parseSSE('data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c"');
    expect(events).toEqual(['{"a":1}', '{"b":2}']);
    expect(rest).toBe('data: {"c"');
  });

  it("joins multi-line data, ignores comments and other fields, accepts CRLF", () => {
    const { events } = parseSSE(": ping\r\nevent: x\r\ndata: one\r\ndata:two\r\n\r\n");
    expect(events).toEqual(["one\ntwo"]);
  });
});

describe("readSSE", () => {
  it("reassembles events split across chunks, including multi-byte characters", async () => {
    const bytes = new TextEncoder().encode('data: "héllo"\n\ndata: [DONE]\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // split inside the two-byte "é"
        c.enqueue(bytes.slice(0, 9));
        c.enqueue(bytes.slice(9, 20));
        c.enqueue(bytes.slice(20));
        c.close();
      },
    });
    const seen: string[] = [];
    await readSSE(body, (d) => seen.push(d));
    expect(seen).toEqual(['"héllo"', "[DONE]"]);
  });
});
