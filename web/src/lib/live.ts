/** The live metrics feed: one stream per page load, shared by every component that reads it. */
import { useEffect, useSyncExternalStore } from "react";
import { apiFetch } from "./api";
import { readSSE } from "./sse";

export interface ModelSnapshot {
  id: string;
  engine: string;
  size_bytes: number;
  /** Weights and KV cache, as counted against the memory budget. */
  memory_bytes: number;
  pinned: boolean;
  kv_cells_used: number;
  kv_cells_total: number;
  active_requests: number;
  tokens_per_second: number;
}

export interface Snapshot {
  time: number;
  status: string;
  uptime_seconds: number;
  rss_bytes: number;
  cpu_percent: number;
  cpu_count: number;
  /** Mean time to first token of the first tokens since the previous snapshot; null if none. */
  ttft_ms: number | null;
  tokens_per_second: number;
  active_requests: number;
  queued_requests: number;
  slots_total: number;
  completion_tokens: number;
  prompt_tokens: number;
  memory_budget_bytes: number;
  memory_used_bytes: number;
  models: ModelSnapshot[];
}

export const HISTORY = 120;

export interface LiveState {
  connected: boolean;
  snapshots: Snapshot[];
  /** The latest TTFT measured, kept when it scrolls out of the history (a quiet server). */
  lastTtft: { ms: number; time: number } | null;
}

/** Append a snapshot, keeping the last HISTORY. */
export function appendSnapshot(state: LiveState, snap: Snapshot): LiveState {
  const snapshots =
    state.snapshots.length >= HISTORY
      ? [...state.snapshots.slice(state.snapshots.length - HISTORY + 1), snap]
      : [...state.snapshots, snap];
  const lastTtft = snap.ttft_ms == null ? state.lastTtft : { ms: snap.ttft_ms, time: snap.time };
  return { connected: true, snapshots, lastTtft };
}

/** One model's memory at each snapshot: 0 where it was not loaded. */
export function modelMemorySeries(snapshots: Snapshot[], id: string): number[] {
  return snapshots.map((s) => s.models.find((m) => m.id === id)?.memory_bytes ?? 0);
}

let state: LiveState = { connected: false, snapshots: [], lastTtft: null };
const listeners = new Set<() => void>();
let users = 0;
let controller: AbortController | null = null;

function set(next: LiveState) {
  state = next;
  for (const fn of listeners) fn();
}

async function run(signal: AbortSignal) {
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const res = await apiFetch("/admin/metrics/stream", { signal });
      delay = 1000;
      await readSSE(res.body!, (data) => set(appendSnapshot(state, JSON.parse(data) as Snapshot)));
    } catch {
      if (signal.aborted) return;
    }
    set({ ...state, connected: false });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function subscribe(fn: () => void) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Keep the stream open while at least one component uses it. */
export function useLiveMetrics(): LiveState {
  useEffect(() => {
    users++;
    if (users === 1) {
      controller = new AbortController();
      void run(controller.signal);
    }
    return () => {
      users--;
      if (users === 0) {
        controller?.abort();
        controller = null;
      }
    };
  }, []);
  return useSyncExternalStore(subscribe, () => state);
}

/** Reconnect now (after the API key changed). */
export function restartLive(): void {
  if (!controller) return;
  controller.abort();
  controller = new AbortController();
  void run(controller.signal);
}
