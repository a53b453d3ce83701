import { useMemo } from "react";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { Sparkline } from "../components/Sparkline";
import { formatBytes, formatDuration, formatNumber } from "../lib/format";
import { type LiveState, type Snapshot, modelMemorySeries, useLiveMetrics } from "../lib/live";

interface Metric {
  id: string;
  label: string;
  value: (s: Snapshot) => number | null;
  show: (s: Snapshot, live: LiveState) => string;
  color: string;
  spanGaps?: boolean;
  title?: string;
}

const METRICS: Metric[] = [
  {
    id: "tps",
    label: "Tokens/s",
    value: (s) => s.tokens_per_second,
    show: (s) => formatNumber(s.tokens_per_second),
    color: "#8b5cf6",
  },
  {
    id: "ttft",
    label: "Time to first token",
    value: (s) => s.ttft_ms,
    // The latest measured: most seconds have no new first token, and that is no reason to blank it.
    show: (_s, live) => (live.lastTtft == null ? "–" : `${formatNumber(live.lastTtft.ms, 0)} ms`),
    color: "#0ea5e9",
    spanGaps: true,
    title: "Arrival to first token, averaged over each second's new first tokens; the number is the latest",
  },
  {
    id: "active",
    label: "Active requests",
    value: (s) => s.active_requests,
    show: (s) => `${s.active_requests} / ${s.slots_total}`,
    color: "#22c55e",
  },
  {
    id: "queued",
    label: "Queued requests",
    value: (s) => s.queued_requests,
    show: (s) => String(s.queued_requests),
    color: "#f59e0b",
  },
  {
    id: "cpu",
    label: "CPU",
    value: (s) => s.cpu_percent,
    show: (s) => `${formatNumber(s.cpu_percent, 0)} %`,
    color: "#ef4444",
  },
  {
    id: "rss",
    label: "Memory (RSS)",
    value: (s) => s.rss_bytes / 2 ** 20,
    show: (s) => formatBytes(s.rss_bytes),
    color: "#14b8a6",
  },
];

export function Overview() {
  const live = useLiveMetrics();
  const { connected, snapshots } = live;
  const latest = snapshots.at(-1);
  const series = useMemo(
    () => Object.fromEntries(METRICS.map((m) => [m.id, snapshots.map(m.value)])),
    [snapshots],
  );
  // Each loaded model's memory over the history (0 where it was not loaded yet, or any more).
  const memory = useMemo(
    () => Object.fromEntries((snapshots.at(-1)?.models ?? []).map((m) => [m.id, modelMemorySeries(snapshots, m.id)])),
    [snapshots],
  );
  return (
    <Page
      title="Overview"
      actions={
        <span className="flex items-center gap-2 text-sm text-zinc-500" aria-live="polite">
          <span className={`size-2 rounded-full ${connected ? "bg-green-500" : "bg-zinc-400"}`} aria-hidden />
          {connected ? `Live · ${latest?.status ?? ""} · up ${formatDuration(latest?.uptime_seconds)}` : "Connecting…"}
        </span>
      }
    >
      {/* Three columns only where a card is wide enough for its label and value on one line. */}
      <div className="grid grid-cols-2 gap-4 xl:grid-cols-3">
        {METRICS.map((m) => (
          <Card key={m.id}>
            <div className="flex items-baseline justify-between gap-2" title={m.title}>
              <h2 className="text-sm text-zinc-500 dark:text-zinc-400">{m.label}</h2>
              <output data-metric={m.id} className="text-2xl font-semibold tabular-nums">
                {latest ? m.show(latest, live) : "–"}
              </output>
            </div>
            <div className="mt-2">
              <Sparkline label={`${m.label}, last two minutes`} values={series[m.id]} color={m.color} spanGaps={m.spanGaps} />
            </div>
          </Card>
        ))}
      </div>
      <Card className="mt-4">
        <div className="mb-3 flex items-baseline justify-between gap-4">
          <h2 className="text-sm font-medium text-zinc-500 dark:text-zinc-400">Models in memory</h2>
          {latest && (
            <span className="text-xs text-zinc-500 tabular-nums dark:text-zinc-400" data-testid="model-memory-total" title="Loaded models' weights and KV cache, against memory_budget_bytes">
              {formatBytes(latest.memory_used_bytes)} of {formatBytes(latest.memory_budget_bytes)} budget
            </span>
          )}
        </div>
        {latest && latest.models.length > 0 ? (
          <table className="w-full table-fixed text-sm">
            <thead className="text-left text-zinc-500">
              <tr>
                <th className="py-1 font-normal">Model</th>
                <th className="hidden w-24 font-normal xl:table-cell">Engine</th>
                <th className="w-[32%] pr-6 font-normal" title="Weights and KV cache, as counted against the memory budget">
                  Memory
                </th>
                <th className="w-32 font-normal">KV cache</th>
                <th className="w-20 text-right font-normal">Tokens/s</th>
              </tr>
            </thead>
            <tbody className="tabular-nums">
              {latest.models.map((m) => (
                <tr key={m.id} data-model={m.id} className="border-t border-zinc-100 dark:border-zinc-800">
                  <td className="py-2 pr-3">
                    <div className="truncate font-medium" title={m.id}>
                      {m.id}
                    </div>
                    {/* the Engine column only shows on wide screens */}
                    <div className="truncate text-xs text-zinc-500 xl:hidden dark:text-zinc-400">{m.engine}</div>
                  </td>
                  <td className="hidden truncate pr-3 xl:table-cell">{m.engine}</td>
                  <td className="pr-6">
                    <div className="flex items-center gap-3">
                      <span className="w-16 shrink-0 text-right" data-testid="model-memory" title={`Weights ${formatBytes(m.size_bytes)}, the rest is the KV cache`}>
                        {formatBytes(m.memory_bytes)}
                      </span>
                      <div className="min-w-0 flex-1">
                        <Sparkline label={`Memory of ${m.id}, last two minutes`} values={memory[m.id] ?? []} height={28} color="#6366f1" />
                      </div>
                    </div>
                  </td>
                  <td className="whitespace-nowrap pr-3">
                    {m.kv_cells_used} / {m.kv_cells_total} tokens
                  </td>
                  <td className="text-right">{formatNumber(m.tokens_per_second)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <EmptyState title={connected ? "No model loaded" : "Waiting for the server"} />
        )}
      </Card>
    </Page>
  );
}
