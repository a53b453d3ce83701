/** Fetch with the session's API key, and errors that carry the server's own message. */

const KEY = "impetus.apiKey";

export function getApiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type AuthListener = (message: string) => void;
const authListeners = new Set<AuthListener>();

/** Called with the server's message whenever a request is refused for want of a valid key. */
export function onAuthRequired(fn: AuthListener): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

/** Tell the key prompt that a request (made outside apiFetch, e.g. an upload) was refused. */
export function notifyAuthRequired(message: string): void {
  for (const fn of authListeners) fn(message);
}

/** The message in any of the server's error shapes (OpenAI, Ollama, Anthropic), or a fallback. */
export function errorMessage(body: unknown, fallback: string): { message: string; code?: string } {
  if (body && typeof body === "object" && "error" in body) {
    const err = (body as { error: unknown }).error;
    if (typeof err === "string") return { message: err };
    if (err && typeof err === "object" && "message" in err) {
      const e = err as { message: unknown; code?: unknown };
      return {
        message: String(e.message),
        code: typeof e.code === "string" ? e.code : undefined,
      };
    }
  }
  return { message: fallback };
}

export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const key = getApiKey();
  if (key && !headers.has("authorization")) headers.set("authorization", `Bearer ${key}`);
  if (init.body && typeof init.body === "string" && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  const res = await fetch(path, { ...init, headers });
  if (res.ok) return res;
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const { message, code } = errorMessage(body, `${res.status} ${res.statusText}`.trim());
  if (res.status === 401) notifyAuthRequired(message);
  throw new ApiError(res.status, message, code);
}

export async function apiJSON<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await apiFetch(path, init);
  return (await res.json()) as T;
}

/** Whether an endpoint exists: false on 404/405, true otherwise (even when it errors). */
export async function endpointExists(path: string): Promise<boolean> {
  try {
    await apiFetch(path);
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return false;
    throw e;
  }
}
