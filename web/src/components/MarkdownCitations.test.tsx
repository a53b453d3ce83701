import { cleanup, fireEvent, render } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Markdown } from "./Markdown";

afterEach(cleanup);

describe("Markdown citations", () => {
  it("turns known [n] markers into buttons that open the passage", () => {
    const onCite = vi.fn();
    const { getByRole, queryByRole, container } = render(
      <Markdown text="Seventeen otters [1], maybe [7]. A [link](https://example.com)." cites={[1, 2]} onCite={onCite} />,
    );
    fireEvent.click(getByRole("button", { name: "Open source 1" }));
    expect(onCite).toHaveBeenCalledWith(1);
    expect(queryByRole("button", { name: "Open source 7" })).toBeNull(); // not a passage
    expect(container.textContent).toContain("[7]");
    expect(container.querySelector('a[href="https://example.com"]')?.textContent).toBe("link");
  });

  it("leaves markers as text without citations", () => {
    const { queryAllByRole, container } = render(<Markdown text="See [1]." />);
    expect(queryAllByRole("button")).toHaveLength(0);
    expect(container.textContent).toBe("See [1].");
  });
});
