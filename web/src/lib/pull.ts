/** Pulling a model from the Hugging Face Hub: the admin pull stream (SSE) read into a state a
 * progress bar can show. Events are Ollama-style dicts: {status, digest?, total?, completed?},
 * then {status: "success", model} or {error, status_code}. */
import { ApiError, apiFetch } from "./api";
import { readSSE } from "./sse";

export interface PullEvent {
  status?: string;
  digest?: string;
  total?: number;
  completed?: number;
  model?: string;
  cached?: boolean;
  error?: string;
  status_code?: number;
}

export type PullPhase = "running" | "success" | "error" | "cancelled";

export interface PullState {
  phase: PullPhase;
  status: string;
  completed: number;
  total: number | null;
  /** bytes per second, smoothed; null until two samples */
  rate: number | null;
  model?: string;
  error?: string;
  at: number; // ms timestamp of the last byte count, for the rate
}

export function initialPull(now = Date.now()): PullState {
  return { phase: "running", status: "starting", completed: 0, total: null, rate: null, at: now };
}

/** The next state after one event. `now` (ms) is passed in so tests control the clock. */
export function reducePull(s: PullState, e: PullEvent, now = Date.now()): PullState {
  if (e.error) return { ...s, phase: "error", status: "failed", error: e.error };
  if (e.status === "success") {
    return { ...s, phase: "success", status: e.cached ? "already downloaded" : "done", model: e.model, completed: s.total ?? s.completed };
  }
  const next: PullState = { ...s, status: e.status ?? s.status };
  if (typeof e.total === "number" && e.total > 0) next.total = e.total;
  if (typeof e.completed === "number") {
    const dt = (now - s.at) / 1000;
    const db = e.completed - s.completed;
    if (dt > 0.05 && db >= 0 && s.completed > 0) {
      const r = db / dt;
      next.rate = s.rate == null ? r : 0.7 * s.rate + 0.3 * r;
    }
    if (dt > 0.05 || db < 0) next.at = now;
    next.completed = e.completed;
  }
  return next;
}

/** Seconds left at the current rate, or null. */
export function pullEta(s: PullState): number | null {
  if (s.phase !== "running" || !s.rate || s.total == null) return null;
  return Math.max(0, (s.total - s.completed) / s.rate);
}

/** Run a pull, calling `onState` for every event; cancelling `signal` aborts the request
 * (the server stops downloading when the client leaves). */
export async function pullModel(
  spec: string,
  onState: (s: PullState) => void,
  signal: AbortSignal,
): Promise<PullState> {
  let state = initialPull();
  onState(state);
  try {
    const res = await apiFetch("/admin/models/pull", {
      method: "POST",
      body: JSON.stringify({ model: spec, stream: true }),
      signal,
    });
    if (!res.body) throw new ApiError(0, "the server sent no progress stream");
    await readSSE(res.body, (data) => {
      let e: PullEvent;
      try {
        e = JSON.parse(data) as PullEvent;
      } catch {
        return;
      }
      state = reducePull(state, e);
      onState(state);
    });
    if (state.phase === "running") state = { ...state, phase: "error", error: "the pull stream ended before the model was ready" };
  } catch (e) {
    if (signal.aborted) state = { ...state, phase: "cancelled", status: "cancelled" };
    else state = { ...state, phase: "error", status: "failed", error: e instanceof Error ? e.message : String(e) };
  }
  onState(state);
  return state;
}
