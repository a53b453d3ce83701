import { useMemo } from "react";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { Sparkline } from "../components/Sparkline";
import { formatBytes, formatDuration, formatNumber } from "../lib/format";
import { type Snapshot, useLiveMetrics } from "../lib/live";

interface Metric {
  id: string;
  label: string;
  value: (s: Snapshot) => number | null;
  show: (s: Snapshot) => string;
  color: string;
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
    show: (s) => (s.ttft_ms == null ? "–" : `${formatNumber(s.ttft_ms, 0)} ms`),
    color: "#0ea5e9",
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
  const { connected, snapshots } = useLiveMetrics();
  const latest = snapshots.at(-1);
  const series = useMemo(
    () => Object.fromEntries(METRICS.map((m) => [m.id, snapshots.map(m.value)])),
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
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-3">
        {METRICS.map((m) => (
          <Card key={m.id}>
            <div className="flex items-baseline justify-between">
              <h2 className="text-sm text-zinc-500 dark:text-zinc-400">{m.label}</h2>
              <output data-metric={m.id} className="text-2xl font-semibold tabular-nums">
                {latest ? m.show(latest) : "–"}
              </output>
            </div>
            <div className="mt-2">
              <Sparkline label={`${m.label}, last two minutes`} values={series[m.id]} color={m.color} />
            </div>
          </Card>
        ))}
      </div>
      <Card title="Models in memory" className="mt-4">
        {latest && latest.models.length > 0 ? (
          <table className="w-full text-sm">
            <thead className="text-left text-zinc-500">
              <tr>
                <th className="py-1 font-normal">Model</th>
                <th className="font-normal">Engine</th>
                <th className="font-normal">Weights</th>
                <th className="font-normal">KV cache</th>
                <th className="text-right font-normal">Tokens/s</th>
              </tr>
            </thead>
            <tbody className="tabular-nums">
              {latest.models.map((m) => (
                <tr key={m.id} className="border-t border-zinc-100 dark:border-zinc-800">
                  <td className="py-2 font-medium">{m.id}</td>
                  <td>{m.engine}</td>
                  <td>{formatBytes(m.size_bytes)}</td>
                  <td>
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
