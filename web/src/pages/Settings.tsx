import { useQuery } from "@tanstack/react-query";
import { toast } from "sonner";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { ApiKeys } from "../components/settings/ApiKeys";
import { getApiKey, setApiKey } from "../lib/api";
import { listKeys } from "../lib/keys";
import { useFeature } from "../lib/features";
import { formatDuration } from "../lib/format";
import { type ThemeChoice, useTheme } from "../lib/theme";

interface Health {
  status: string;
  version: string;
  uptime_seconds: number;
  model: { id: string; engine: string; context_length: number } | null;
  error?: string;
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
  const theme = useTheme();
  const h = health.data;
  return (
    <Page title="Settings">
      <div className="grid gap-4 lg:grid-cols-2">
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
        {keys.data === false ? (
          <EmptyState title="API key management is not available on this server">
            Keys are set with <code>--api-key</code>, <code>IMPETUS_API_KEY</code> or <code>config.toml</code>.
          </EmptyState>
        ) : keys.data === true ? (
          <ApiKeys />
        ) : null}
      </div>
    </Page>
  );
}
