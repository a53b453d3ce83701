import { describe, expect, it } from "vitest";
import { applyReport } from "./ingest";
import {
  EMPTY_FILTERS,
  type IngestFile,
  applyJobEvent,
  baseName,
  buildFilters,
  highlight,
  perFileProgress,
} from "./rag";

describe("perFileProgress", () => {
  it("fills the files in upload order", () => {
    expect(perFileProgress([100, 300], 0, 400)).toEqual([0, 0]);
    expect(perFileProgress([100, 300], 100, 400)).toEqual([1, 0]);
    expect(perFileProgress([100, 300], 250, 400)).toEqual([1, 0.5]);
    expect(perFileProgress([100, 300], 400, 400)).toEqual([1, 1]);
  });
  it("spreads the multipart overhead and never goes past 1", () => {
    const p = perFileProgress([100, 100], 110, 220); // 20 bytes of part headers
    expect(p[0]).toBe(1);
    expect(p[1]).toBe(0);
    expect(perFileProgress([100], 500, 220)).toEqual([1]);
  });
  it("handles empty files and an unknown total", () => {
    expect(perFileProgress([0, 10], 5, 10)).toEqual([1, 0.5]);
    expect(perFileProgress([10], 0, 0)).toEqual([1]);
  });
});

const file = (name: string): IngestFile => ({ name, size: 1, phase: "waiting", progress: 1, chunks: 0, error: null });

describe("job events and report", () => {
  it("puts the n-th file event on the n-th file, even with duplicate names", () => {
    const files = [file("a.md"), file("a.md"), file("bad.pdf")];
    let next = applyJobEvent(files, { type: "file", done: 2, total: 3, source: "a.md", status: "indexed", doc_id: "d", chunks: 3, error: null });
    next = applyJobEvent(next, { type: "file", done: 3, total: 3, source: "bad.pdf", status: "error", doc_id: null, chunks: 0, error: "PdfReadError: EOF marker not found" });
    expect(next.map((f) => f.phase)).toEqual(["waiting", "indexed", "error"]);
    expect(next[1].chunks).toBe(3);
    expect(next[2].error).toMatch(/EOF marker/);
    expect(files[1].phase).toBe("waiting"); // not mutated
  });
  it("ignores other events and out-of-range ones", () => {
    const files = [file("a")];
    expect(applyJobEvent(files, { type: "start", job: "j", total: 1 })).toBe(files);
    expect(applyJobEvent(files, { type: "file", done: 5, total: 1, source: "x", status: "indexed", doc_id: null, chunks: 1, error: null })).toBe(files);
  });
  it("takes the final report's result for every file", () => {
    const out = applyReport([file("a"), file("b")], {
      files: [
        { source: "a", status: "unchanged", doc_id: "x", chunks: 0, error: null },
        { source: "b", status: "error", doc_id: null, chunks: 0, error: "unsupported format" },
      ],
    });
    expect(out.map((f) => [f.phase, f.error])).toEqual([
      ["unchanged", null],
      ["error", "unsupported format"],
    ]);
  });
});

describe("buildFilters", () => {
  it("is undefined when nothing is set", () => {
    expect(buildFilters(EMPTY_FILTERS)).toBeUndefined();
  });
  it("builds every filter the API takes", () => {
    expect(
      buildFilters({
        source: " notes.md ",
        types: ["pdf", "markdown"],
        tags: "finance, q3 ,",
        tagMode: "all",
        from: "2024-01-01",
        to: "2024-12-31",
        meta: "team = infra\nbroken line\n=x\n",
      }),
    ).toEqual({
      source: "notes.md",
      type: { in: ["pdf", "markdown"] },
      tags: { all: ["finance", "q3"] },
      date: { gte: "2024-01-01", lt: "2025-01-01" },
      "meta.team": "infra",
    });
    expect(buildFilters({ ...EMPTY_FILTERS, types: ["pdf"] })).toEqual({ type: "pdf" });
  });
});

describe("highlight", () => {
  const marked = (text: string, q: string) =>
    highlight(text, q)
      .filter((s) => s.match)
      .map((s) => s.text);
  it("marks the query's words, case-insensitively, at word starts", () => {
    expect(marked("The Zorblax tower is tall. zorblax!", "zorblax Tower")).toEqual(["Zorblax", "tower", "zorblax"]);
    expect(marked("stones and tones", "tones")).toEqual(["tones"]);
  });
  it("keeps the whole text, in order", () => {
    const text = "a (b) c.* [d]";
    expect(highlight(text, "(b) .* d").map((s) => s.text).join("")).toBe(text);
  });
  it("skips one-letter words, stopwords and an empty query", () => {
    expect(marked("a cat", "a")).toEqual([]);
    expect(marked("How the otters feed", "how do the otters feed")).toEqual(["otters", "feed"]);
    expect(highlight("", "x")).toEqual([]);
  });
});

describe("baseName", () => {
  it("takes the file name of either kind of path", () => {
    expect(baseName("/srv/docs/a.pdf")).toBe("a.pdf");
    expect(baseName("C:\\docs\\b.md")).toBe("b.md");
    expect(baseName("c.txt")).toBe("c.txt");
  });
});
