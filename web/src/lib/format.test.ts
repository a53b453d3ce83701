import { describe, expect, it } from "vitest";
import { bindAddress, formatAgo, formatBytes, formatDuration, formatNumber, formatParams, keepAliveText, plural, pushWindow } from "./format";

describe("format", () => {
  it("formats bytes in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(300 * 2 ** 20)).toBe("300 MiB");
    expect(formatBytes(null)).toBe("–");
  });

  it("formats durations and numbers", () => {
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(3725)).toBe("1h 2m");
    expect(formatDuration(90000)).toBe("1d 1h");
    expect(formatNumber(3.14159, 2)).toBe("3.14");
    expect(formatNumber(Number.NaN)).toBe("–");
  });

  it("keeps a bounded window, oldest first", () => {
    let w: number[] = [];
    for (let i = 0; i < 5; i++) w = pushWindow(w, i, 3);
    expect(w).toEqual([2, 3, 4]);
  });

  it("formats parameter counts like model cards", () => {
    expect(formatParams(134_515_008)).toBe("135M");
    expect(formatParams(1_711_376_384)).toBe("1.7B");
    expect(formatParams(7_000_000_000)).toBe("7B");
    expect(formatParams(70_553_706_496)).toBe("71B");
    expect(formatParams(null)).toBe("–");
    expect(formatParams(0)).toBe("–");
  });

  it("says how long ago", () => {
    const now = 1_700_000_000_000;
    expect(formatAgo(now / 1000 - 5, now)).toBe("just now");
    expect(formatAgo(now / 1000 - 300, now)).toBe("5 min ago");
    expect(formatAgo(now / 1000 - 3 * 3600, now)).toBe("3 h ago");
    expect(formatAgo(now / 1000 - 2 * 86400 - 10, now)).toBe("2 d ago");
    expect(formatAgo(null, now)).toBe("never");
  });

  it("counts in the singular or the plural", () => {
    expect(plural(1, "document")).toBe("1 document");
    expect(plural(0, "chunk")).toBe("0 chunks");
    expect(plural(3, "chunk")).toBe("3 chunks");
    expect(plural(2, "query", "queries")).toBe("2 queries");
  });

  it("formats a bind address and keep_alive", () => {
    expect(bindAddress("127.0.0.1", 8080)).toBe("127.0.0.1:8080");
    expect(bindAddress("::1", 8080)).toBe("[::1]:8080");
    expect(keepAliveText("5m")).toBe("unload after 5m idle");
    expect(keepAliveText("300")).toBe("unload after 300s idle");
    expect(keepAliveText("-1")).toBe("never unload");
    expect(keepAliveText("0")).toBe("unload as soon as idle");
    expect(keepAliveText("0s")).toBe("unload as soon as idle");
  });
});
