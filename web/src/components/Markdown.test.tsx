import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Markdown } from "./Markdown";

describe("Markdown", () => {
  it("renders GFM and highlighted code, never raw HTML", () => {
    const text = "**bold** and a table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\ndef f():\n    return 1\n```\n\n<img src=x onerror=alert(1)>";
    const { container } = render(<Markdown text={text} />);
    expect(container.querySelector("strong")?.textContent).toBe("bold");
    expect(container.querySelector("table")).not.toBeNull();
    const code = container.querySelector("pre code.language-python");
    expect(code?.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(container.querySelector("img")).toBeNull();
  });
});
