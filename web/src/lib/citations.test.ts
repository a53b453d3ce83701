import { describe, expect, it } from "vitest";
import { chunkDelta } from "./chat";
import { citationPlace, linkCitations } from "./citations";

describe("linkCitations", () => {
  it("links markers of known passages only", () => {
    const known = new Set([1, 2]);
    expect(linkCitations("Paris [1], and [2][3].", known)).toBe("Paris [[1]](#cite-1), and [[2]](#cite-2)[3].");
  });
  it("leaves links, references and text without passages alone", () => {
    expect(linkCitations("see [1](http://x) or [1]: y", new Set([1]))).toBe("see [1](http://x) or [1]: y");
    expect(linkCitations("[1]", new Set())).toBe("[1]");
  });
});

describe("citationPlace", () => {
  it("names the file, page and section", () => {
    expect(citationPlace({ source: "/a/report.pdf", page: 2, section: "Results" })).toBe("report.pdf, page 2, Results");
    expect(citationPlace({ source: "notes.md", page: null, section: null })).toBe("notes.md");
  });
});

describe("chunkDelta with RAG", () => {
  it("reads the citations chunk that comes before the tokens", () => {
    const d = chunkDelta('{"object":"chat.completion.chunk","choices":[],"citations":[{"index":1,"source":"a.md"}]}');
    expect(d.text).toBe("");
    expect(d.citations?.[0].source).toBe("a.md");
    expect(chunkDelta('{"choices":[{"delta":{"content":"x"}}]}').citations).toBeUndefined();
  });
});
