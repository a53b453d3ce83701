import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, onAuthRequired, setApiKey } from "./api";
import { percent, uploadFile } from "./upload";

/** Just enough of XMLHttpRequest to drive the upload from the test: progress, then a reply. */
class FakeXHR {
  static last: FakeXHR;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  status = 0;
  statusText = "";
  responseText = "";
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: unknown;
  constructor() {
    FakeXHR.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  reply(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  setApiKey(null);
});

const file = () => new File([new Uint8Array(1000)], "tiny.gguf");

describe("percent", () => {
  it("is a whole number clamped to 0..100", () => {
    expect(percent(0, 1000)).toBe(0);
    expect(percent(999, 1000)).toBe(99);
    expect(percent(1000, 1000)).toBe(100);
    expect(percent(2000, 1000)).toBe(100);
    expect(percent(5, 0)).toBe(0);
  });
});

describe("uploadFile", () => {
  it("sends one multipart file part with the key and reports progress", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXHR);
    setApiKey("k1");
    const seen: number[] = [];
    const up = uploadFile<{ name: string }>("/admin/models", file(), (p) => seen.push(percent(p.loaded, p.total)));
    const xhr = FakeXHR.last;
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/admin/models");
    expect(xhr.headers.authorization).toBe("Bearer k1");
    const part = (xhr.body as FormData).get("file") as File;
    expect(part.name).toBe("tiny.gguf");
    expect(part.size).toBe(1000);
    xhr.progress(250, 1000);
    xhr.progress(1000, 1000);
    xhr.reply(201, { name: "tiny" });
    expect(await up.done).toEqual({ name: "tiny" });
    expect(seen).toEqual([25, 100]);
  });

  it("rejects with the server's message, and a 401 reaches the key prompt", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXHR);
    const up = uploadFile("/admin/models", file(), () => {});
    FakeXHR.last.reply(400, { error: { message: "not a GGUF file (bad magic)", code: "invalid_model" } });
    const err = (await up.done.catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.message).toBe("not a GGUF file (bad magic)");
    expect(err.code).toBe("invalid_model");

    const heard: string[] = [];
    const off = onAuthRequired((m) => heard.push(m));
    const up2 = uploadFile("/admin/models", file(), () => {});
    FakeXHR.last.reply(401, { error: { message: "invalid API key" } });
    await up2.done.catch(() => {});
    off();
    expect(heard).toEqual(["invalid API key"]);
  });

  it("rejects with an AbortError when cancelled", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXHR);
    const up = uploadFile("/admin/models", file(), () => {});
    up.abort();
    const err = (await up.done.catch((e: unknown) => e)) as ApiError;
    expect(err.name).toBe("AbortError");
  });
});
