import { describe, expect, it } from "vitest";
import { appendSnapshot, HISTORY, type LiveState, type ModelSnapshot, modelMemorySeries, type Snapshot } from "./live";

const model = (id: string, memory_bytes: number) => ({ id, memory_bytes }) as ModelSnapshot;
const snap = (time: number, extra: Partial<Snapshot> = {}) => ({ time, ttft_ms: null, models: [], ...extra }) as Snapshot;

describe("latest TTFT", () => {
  it("keeps the last measured value through quiet seconds and past the history", () => {
    let s: LiveState = { connected: false, snapshots: [], lastTtft: null };
    s = appendSnapshot(s, snap(0));
    expect(s.lastTtft).toBeNull();
    s = appendSnapshot(s, snap(1, { ttft_ms: 180 }));
    s = appendSnapshot(s, snap(2));
    expect(s.lastTtft).toEqual({ ms: 180, time: 1 });
    s = appendSnapshot(s, snap(3, { ttft_ms: 95.5 }));
    for (let i = 4; i < HISTORY + 10; i++) s = appendSnapshot(s, snap(i));
    expect(s.snapshots.some((x) => x.ttft_ms != null)).toBe(false);
    expect(s.lastTtft).toEqual({ ms: 95.5, time: 3 });
  });
});

describe("model memory series", () => {
  it("follows one model by id, 0 while it is not loaded", () => {
    const history = [
      snap(0, { models: [model("a", 100)] }),
      snap(1, { models: [model("a", 100), model("b", 300)] }),
      snap(2, { models: [model("b", 300)] }),
    ];
    expect(modelMemorySeries(history, "a")).toEqual([100, 100, 0]);
    expect(modelMemorySeries(history, "b")).toEqual([0, 300, 300]);
    expect(modelMemorySeries([], "a")).toEqual([]);
  });
});
