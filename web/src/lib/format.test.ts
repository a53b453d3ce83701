import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, formatNumber, pushWindow } from "./format";

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
});
