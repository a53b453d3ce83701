import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { toast } from "sonner";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { ApiKeys } from "../components/settings/ApiKeys";
import { apiJSON, getApiKey, setApiKey } from "../lib/api";
import { listKeys } from "../lib/keys";
import { useFeature } from "../lib/features";
import { bindAddress, formatBytes, formatDuration, keepAliveText } from "../lib/format";
import { type ThemeChoice, useTheme } from "../lib/theme";

interface Health {
  status: string;
  version: string;
  uptime_seconds: number;
  model: { id: string; engine: string; context_length: number } | null;
  error?: string;
}

/** `GET /admin/dashboard/settings`: what the server runs with, after config.toml, env and flags. */
interface ServerDefaults {
  default_model: string | null;
  engine: string;
  default_engine: string | null;
  context_length: number | null;
  ctx: number | null;
  parallel: number;
  queue_size: number;
  threads: number | null;
  keep_alive: string;
  memory_budget_bytes: number;
  max_body_bytes: number;
  max_upload_bytes: number;
  host: string;
  port: number;
  data_dir: string;
  rag_store: "local" | "chroma";
  config_file: string;
  config_file_exists: boolean;
}

export function Settings() {
  // /health answers 503 while loading, with the same body: read it either way.
  const health = useQuery({
    queryKey: ["health-raw"],
    queryFn: async () => (await fetch("/health")).json() as Promise<Health>,
  });
  const keys = useFeature("/admin/keys");
  // Observed here too so the session card below re-renders when a key is created or revoked.
  useQuery({ queryKey: ["admin-keys"], queryFn: listKeys, enabled: keys.data === true });
  const defaults = useQuery({
    queryKey: ["dashboard-settings"],
    queryFn: () => apiJSON<ServerDefaults>("/admin/dashboard/settings"),
    staleTime: 60_000,
  });
  const theme = useTheme();
  const h = health.data;
  return (
    <Page title="Settings">
      <div className="grid gap-4 lg:grid-cols-2">
        {/* Server, appearance and session stacked beside the taller defaults: no hole in the grid. */}
        <div className="flex flex-col gap-4">
          <Card title="Server">
            <dl className="grid grid-cols-3 gap-y-1 text-sm">
              <dt className="text-zinc-500">Status</dt>
              <dd className="col-span-2" data-testid="server-status">{h?.status ?? "–"}</dd>
              <dt className="text-zinc-500">Version</dt>
              <dd className="col-span-2">{h?.version ?? "–"}</dd>
              <dt className="text-zinc-500">Uptime</dt>
              <dd className="col-span-2">{formatDuration(h?.uptime_seconds)}</dd>
              <dt className="text-zinc-500">Model</dt>
              <dd className="col-span-2">{h?.model ? `${h.model.id} (${h.model.engine}, ${h.model.context_length} ctx)` : "–"}</dd>
              <dt className="text-zinc-500">Address</dt>
              <dd className="col-span-2">{window.location.origin}</dd>
            </dl>
            {h?.error && <p className="mt-2 text-sm text-red-600">{h.error}</p>}
          </Card>
          <Card title="Appearance">
            <fieldset className="flex gap-4 text-sm">
              <legend className="sr-only">Theme</legend>
              {(["system", "light", "dark"] as ThemeChoice[]).map((t) => (
                <label key={t} className="flex items-center gap-2">
                  <input type="radio" name="theme" checked={theme.choice === t} onChange={() => theme.setChoice(t)} className="accent-violet-600" />
                  {t[0].toUpperCase() + t.slice(1)}
                </label>
              ))}
            </fieldset>
          </Card>
          <Card title="This browser session">
            <p className="text-sm text-zinc-500">
              {getApiKey() ? "An API key is stored for this tab's session." : "No API key is stored."}
            </p>
            <button
              type="button"
              className="btn mt-3"
              disabled={!getApiKey()}
              onClick={() => {
                setApiKey(null);
                toast.success("API key forgotten");
              }}
            >
              Forget API key
            </button>
          </Card>
        </div>
        <Defaults d={defaults.data} error={defaults.error} />
        {keys.data === false ? (
          <div className="lg:col-span-2">
            <EmptyState title="API key management is not available on this server">
              Keys are set with <code>--api-key</code>, <code>IMPETUS_API_KEY</code> or <code>config.toml</code>.
            </EmptyState>
          </div>
        ) : keys.data === true ? (
          <ApiKeys />
        ) : null}
      </div>
    </Page>
  );
}

interface DefaultRow {
  label: string;
  /** The settings' names in config.toml (IMPETUS_ + upper case in the environment). */
  keys: string[];
  value: (d: ServerDefaults) => ReactNode;
}

const DEFAULT_ROWS: DefaultRow[] = [
  { label: "Default model", keys: ["model"], value: (d) => d.default_model ?? "the bundled model" },
  {
    label: "Engine",
    keys: ["engine"],
    value: (d) => (d.default_engine ? `${d.default_engine}${d.engine === "auto" ? " (auto)" : ""}` : d.engine),
  },
  {
    label: "Context",
    keys: ["ctx"],
    value: (d) =>
      d.context_length ? `${d.context_length} tokens per request${d.ctx == null ? " (model default)" : ""}` : "model default",
  },
  { label: "Parallel slots", keys: ["parallel"], value: (d) => String(d.parallel) },
  { label: "Queue", keys: ["queue_size"], value: (d) => `up to ${d.queue_size} waiting requests` },
  { label: "CPU threads", keys: ["threads"], value: (d) => (d.threads == null ? "auto" : String(d.threads)) },
  { label: "Keep alive", keys: ["keep_alive"], value: (d) => keepAliveText(d.keep_alive) },
  { label: "Memory budget", keys: ["memory_budget_bytes"], value: (d) => formatBytes(d.memory_budget_bytes) },
  { label: "Max request body", keys: ["max_body_bytes"], value: (d) => formatBytes(d.max_body_bytes) },
  { label: "Max model upload", keys: ["max_upload_bytes"], value: (d) => formatBytes(d.max_upload_bytes) },
  { label: "Bind address", keys: ["host", "port"], value: (d) => bindAddress(d.host, d.port) },
  { label: "Documents", keys: ["rag_server"], value: (d) => (d.rag_store === "chroma" ? "Chroma server" : "in-process index") },
  { label: "Data folder", keys: ["data_dir"], value: (d) => <span className="break-all">{d.data_dir}</span> },
];

/** The server's effective defaults, read-only. Every row is there while loading: no shift. */
function Defaults({ d, error }: { d?: ServerDefaults; error: Error | null }) {
  return (
    <Card title="Defaults">
      {error ? (
        <p className="text-sm text-red-600 dark:text-red-400">{error.message}</p>
      ) : (
        <dl className="grid grid-cols-[auto_minmax(0,1fr)] gap-x-6 gap-y-1 text-sm" data-testid="server-defaults">
          {DEFAULT_ROWS.map((r) => (
            <div key={r.label} className="contents">
              <dt className="text-zinc-500" title={`${r.keys.join(" and ")} in config.toml`}>
                {r.label}
              </dt>
              <dd className="min-w-0" data-setting={r.keys[0]}>
                {d ? r.value(d) : "–"}
              </dd>
            </div>
          ))}
        </dl>
      )}
      {d && (
        <p className="mt-3 text-xs text-zinc-500 dark:text-zinc-400">
          Read-only here: set them in <code className="break-all">{d.config_file}</code>
          {d.config_file_exists ? "" : " (not created yet)"}, with <code>IMPETUS_*</code> variables or <code>impetus serve</code> flags, then
          restart the server.
        </p>
      )}
    </Card>
  );
}
