import { describe, expect, it } from "vitest";
import { chunkDelta } from "./chat";
import { appendSnapshot, HISTORY, type LiveState, type Snapshot } from "./live";
import { nextTheme, resolveTheme } from "./theme";

describe("chunkDelta", () => {
  it("extracts content, errors and the end marker", () => {
    expect(chunkDelta('{"choices":[{"delta":{"content":"Hi"}}]}').text).toBe("Hi");
    expect(chunkDelta('{"choices":[{"delta":{"role":"assistant"}}]}').text).toBe("");
    expect(chunkDelta('{"error":{"message":"boom","type":"server_error"}}').error).toBe("boom");
    expect(chunkDelta("[DONE]").done).toBe(true);
  });
});

describe("live history", () => {
  it("keeps the last HISTORY snapshots", () => {
    let s: LiveState = { connected: false, snapshots: [], lastTtft: null };
    for (let i = 0; i < HISTORY + 5; i++) s = appendSnapshot(s, { time: i } as Snapshot);
    expect(s.connected).toBe(true);
    expect(s.snapshots).toHaveLength(HISTORY);
    expect(s.snapshots[0].time).toBe(5);
  });
});

describe("theme", () => {
  it("follows the OS unless chosen, and cycles system → light → dark", () => {
    expect(resolveTheme("system", true)).toBe("dark");
    expect(resolveTheme("system", false)).toBe("light");
    expect(resolveTheme("light", true)).toBe("light");
    expect(nextTheme("system")).toBe("light");
    expect(nextTheme("light")).toBe("dark");
    expect(nextTheme("dark")).toBe("system");
  });
});
