import { afterEach, describe, expect, it } from "vitest";
import { setApiKey } from "./api";
import { type KeyInfo, isSessionKey } from "./keys";

const key = (prefix: string): KeyInfo => ({ id: "1", name: "n", prefix, created_at: 0, last_used_at: null });

afterEach(() => setApiKey(null));

describe("isSessionKey", () => {
  it("matches the tab's key by its shown prefix", () => {
    setApiKey("imp_abcdefgh-the-rest-of-the-secret");
    expect(isSessionKey(key("imp_abcdefgh"))).toBe(true);
    expect(isSessionKey(key("imp_zzzzzzzz"))).toBe(false);
  });

  it("is false without a session key, or when the key is only the prefix", () => {
    expect(isSessionKey(key("imp_abcdefgh"))).toBe(false);
    expect(isSessionKey(key("imp_abcdefgh"), "imp_abcdefgh")).toBe(false);
  });
});
