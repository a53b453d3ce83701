import { useQuery } from "@tanstack/react-query";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { apiJSON } from "../lib/api";
import { useFeature } from "../lib/features";
import { formatBytes } from "../lib/format";

interface Health {
  model: { id: string; engine: string; context_length: number; load_seconds: number | null } | null;
}

type RegistryRow = Record<string, unknown> & { name?: string; id?: string };

function rows(body: unknown): RegistryRow[] {
  if (Array.isArray(body)) return body as RegistryRow[];
  if (body && typeof body === "object") {
    const o = body as Record<string, unknown>;
    for (const k of ["data", "models"]) if (Array.isArray(o[k])) return o[k] as RegistryRow[];
  }
  return [];
}

export function Models() {
  const health = useQuery({ queryKey: ["health"], queryFn: () => apiJSON<Health>("/health") });
  const registry = useFeature("/admin/models");
  const list = useQuery({
    queryKey: ["admin-models"],
    queryFn: () => apiJSON<unknown>("/admin/models"),
    enabled: registry.data === true,
  });
  const loaded = health.data?.model;
  return (
    <Page title="Models">
      <Card title="Loaded now">
        {loaded ? (
          <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm sm:grid-cols-4">
            <dt className="text-zinc-500">Model</dt>
            <dd className="font-medium sm:col-span-3">{loaded.id}</dd>
            <dt className="text-zinc-500">Engine</dt>
            <dd className="sm:col-span-3">{loaded.engine}</dd>
            <dt className="text-zinc-500">Context</dt>
            <dd className="sm:col-span-3">{loaded.context_length} tokens</dd>
            <dt className="text-zinc-500">Load time</dt>
            <dd className="sm:col-span-3">{loaded.load_seconds?.toFixed(2) ?? "–"} s</dd>
          </dl>
        ) : (
          <p className="text-sm text-zinc-500">{health.isLoading ? "Loading…" : "No model is loaded."}</p>
        )}
      </Card>
      <div className="mt-4">
        {registry.data === false ? (
          <EmptyState title="Model registry not available on this server yet">
            Upload, pull, load, unload and delete arrive with the models API (<code>/admin/models</code>).
          </EmptyState>
        ) : registry.data === true ? (
          <Card title="Registry">
            {rows(list.data).length === 0 ? (
              <p className="text-sm text-zinc-500">{list.isLoading ? "Loading…" : "No models registered."}</p>
            ) : (
              <table className="w-full text-sm">
                <thead className="text-left text-zinc-500">
                  <tr>
                    <th className="py-1 font-normal">Name</th>
                    <th className="font-normal">Architecture</th>
                    <th className="font-normal">Quantization</th>
                    <th className="text-right font-normal">Size</th>
                  </tr>
                </thead>
                <tbody>
                  {rows(list.data).map((m) => (
                    <tr key={String(m.name ?? m.id)} className="border-t border-zinc-100 dark:border-zinc-800">
                      <td className="py-2 font-medium">{String(m.name ?? m.id)}</td>
                      <td>{String(m.architecture ?? "–")}</td>
                      <td>{String(m.quantization ?? "–")}</td>
                      <td className="text-right tabular-nums">{formatBytes(m.size_bytes as number)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>
        ) : null}
      </div>
    </Page>
  );
}
