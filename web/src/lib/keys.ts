/** Run-time API keys (`/admin/keys`). */
import { apiJSON, getApiKey } from "./api";

export interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
}

export interface AuthState {
  /** whether requests need a key now */
  required: boolean;
  config_keys: number;
  keys: number;
}

export const listKeys = () => apiJSON<{ keys: KeyInfo[]; auth: AuthState }>("/admin/keys");
export const createKey = (name: string) =>
  apiJSON<KeyInfo & { key: string; auth: AuthState }>("/admin/keys", { method: "POST", body: JSON.stringify({ name }) });
export const revokeKey = (id: string) =>
  apiJSON<KeyInfo & { revoked: boolean; auth: AuthState }>(`/admin/keys/${encodeURIComponent(id)}`, { method: "DELETE" });

/** Whether this browser tab authenticates with `k` (its prefix is all the server shows). */
export function isSessionKey(k: KeyInfo, sessionKey = getApiKey()): boolean {
  return !!sessionKey && sessionKey.startsWith(k.prefix) && sessionKey.length > k.prefix.length;
}
