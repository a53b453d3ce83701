/** The model registry API (`/admin/models`, docs/models.md) as typed calls. */
import { apiJSON } from "./api";

export interface LoadedInfo {
  name: string;
  engine: string;
  pinned: boolean;
  load_seconds: number;
  memory_bytes: number;
  loaded_at: number;
  last_used: number;
  expires_at: number | null;
  context_length: number;
  slots_active: number;
}

export interface ModelRow {
  name: string;
  path: string;
  format: string;
  kind: string;
  architecture: string;
  parameters: number | null;
  quantization: string | null;
  context_length: number | null;
  has_chat_template: boolean;
  size_bytes: number;
  sha256: string | null;
  source: string;
  added_at: number;
  last_used_at: number | null;
  aliases: string[];
  loaded: LoadedInfo | null;
  default: boolean;
}

export interface Registry {
  models: ModelRow[];
  loaded: LoadedInfo[];
  memory: { budget_bytes: number; used_bytes: number };
}

const path = (name: string) => `/admin/models/${encodeURIComponent(name)}`;
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });

export const listModels = () => apiJSON<Registry>("/admin/models");
export const loadModel = (name: string, pin = false) => apiJSON<LoadedInfo>(`${path(name)}/load`, post({ pin }));
export const unloadModel = (name: string, force = false) =>
  apiJSON<{ name: string; unloaded: boolean }>(`${path(name)}/unload`, post({ force }));
export const deleteModel = (name: string) =>
  apiJSON<{ name: string; deleted_file: boolean; path: string }>(path(name), { method: "DELETE" });

/** The most recent use: the loaded entry's clock is live, the registry's is written on load. */
export function lastUsed(m: ModelRow): number | null {
  return Math.max(m.loaded?.last_used ?? 0, m.last_used_at ?? 0) || null;
}

/** Query keys that show models: the registry here, /v1/models in the chat picker, /health. */
export const MODEL_QUERIES = [["admin-models"], ["models"], ["health"]] as const;
