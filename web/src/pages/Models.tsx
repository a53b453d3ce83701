import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { toast } from "sonner";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Card, EmptyState } from "../components/EmptyState";
import { PullCard } from "../components/models/PullCard";
import { UploadCard } from "../components/models/UploadCard";
import { Page } from "../components/Page";
import { ProgressBar } from "../components/ProgressBar";
import { ApiError } from "../lib/api";
import { useFeature } from "../lib/features";
import { formatAgo, formatBytes, formatDuration, formatParams } from "../lib/format";
import { MODEL_QUERIES, type ModelRow, type Registry, deleteModel, lastUsed, listModels, loadModel, unloadModel } from "../lib/models";
import { percent } from "../lib/upload";

export function Models() {
  const registry = useFeature("/admin/models");
  const list = useQuery({
    queryKey: ["admin-models"],
    queryFn: listModels,
    enabled: registry.data === true,
    // keep_alive unloads happen on the server: look again now and then while the page is open.
    refetchInterval: 10_000,
  });
  if (registry.data === false) {
    return (
      <Page title="Models">
        <EmptyState title="Model registry not available on this server">
          This server has no model management API (<code>/admin/models</code>).
        </EmptyState>
      </Page>
    );
  }
  return (
    <Page title="Models" actions={list.data && <MemoryMeter memory={list.data.memory} />}>
      <div className="grid gap-4 lg:grid-cols-2">
        <UploadCard />
        <PullCard />
      </div>
      <Card title="Registry" className="mt-4">
        <RegistryTable data={list.data} loading={list.isLoading} error={list.error} />
      </Card>
    </Page>
  );
}

function MemoryMeter({ memory }: { memory: Registry["memory"] }) {
  return (
    <div className="flex w-64 flex-col gap-1 text-xs text-zinc-500 dark:text-zinc-400" title="Loaded models' weights and KV cache, against memory_budget_bytes">
      <span className="flex justify-between">
        <span>Model memory</span>
        <span className="tabular-nums">
          {formatBytes(memory.used_bytes)} of {formatBytes(memory.budget_bytes)}
        </span>
      </span>
      <ProgressBar value={percent(memory.used_bytes, memory.budget_bytes)} label="Model memory used" />
    </div>
  );
}

type Action = { kind: "load" | "pin" | "unload" | "force"; name: string };

function RegistryTable({ data, loading, error }: { data?: Registry; loading: boolean; error: Error | null }) {
  const queryClient = useQueryClient();
  const [pending, setPending] = useState<Action | null>(null);
  const [confirm, setConfirm] = useState<ModelRow | null>(null);
  const act = useMutation({
    mutationFn: async (a: Action) => {
      if (a.kind === "load") return loadModel(a.name);
      if (a.kind === "pin") return loadModel(a.name, true);
      return unloadModel(a.name, a.kind === "force");
    },
    onMutate: (a) => setPending(a),
    onSuccess: (_, a) => {
      const done = { load: "Loaded", pin: "Pinned", unload: "Unloaded", force: "Unloaded" }[a.kind];
      toast.success(`${done} ${a.name}`);
    },
    onError: (e: Error, a) => {
      if (e instanceof ApiError && e.code === "model_in_use" && a.kind === "unload") {
        // The server refuses while the model generates; offer to wait until it is idle.
        toast.error(e.message, { action: { label: "Unload when idle", onClick: () => act.mutate({ kind: "force", name: a.name }) } });
      } else toast.error(e.message);
    },
    onSettled: () => {
      setPending(null);
      for (const key of MODEL_QUERIES) void queryClient.invalidateQueries({ queryKey: key });
    },
  });
  const remove = useMutation({
    mutationFn: (name: string) => deleteModel(name),
    onSuccess: (r) => toast.success(r.deleted_file ? `Deleted ${r.name}` : `Removed ${r.name} from the registry (the file is outside the models folder and was kept)`),
    onError: (e: Error) => toast.error(e.message),
    onSettled: () => {
      setConfirm(null);
      for (const key of MODEL_QUERIES) void queryClient.invalidateQueries({ queryKey: key });
    },
  });

  if (error) return <p className="text-sm text-red-600 dark:text-red-400">{error.message}</p>;
  const rows = data?.models ?? [];
  if (!loading && rows.length === 0) return <p className="text-sm text-zinc-500">No models registered. Upload or pull one above.</p>;
  const busy = (name: string) => pending?.name === name;
  return (
    <>
      <div className="-mx-4 overflow-x-auto px-4">
        <table className="w-full min-w-[640px] text-sm">
          <thead className="text-left text-xs text-zinc-500 dark:text-zinc-400">
            <tr>
              <th className="py-2 pr-3 font-medium">Model</th>
              <th className="hidden pr-3 font-medium xl:table-cell">Architecture</th>
              <th className="pr-3 text-right font-medium">Params</th>
              <th className="pr-3 font-medium">Quant</th>
              <th className="pr-3 text-right font-medium">Context</th>
              <th className="pr-3 text-right font-medium">Size</th>
              <th className="hidden pr-3 font-medium xl:table-cell">Engine</th>
              <th className="pr-3 font-medium">State</th>
              <th className="hidden pr-3 font-medium 2xl:table-cell">Last used</th>
              <th className="text-right font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {loading
              ? [0, 1, 2].map((i) => (
                  <tr key={i} className="h-14 border-t border-zinc-100 dark:border-zinc-800">
                    <td colSpan={10}>
                      <div className="h-4 w-2/3 animate-pulse rounded bg-zinc-100 dark:bg-zinc-800" />
                    </td>
                  </tr>
                ))
              : rows.map((m) => (
                  <tr key={m.name} data-model={m.name} className="h-14 border-t border-zinc-100 align-middle dark:border-zinc-800">
                    <td className="max-w-44 py-2 pr-3 xl:max-w-52">
                      <div className="flex items-center gap-1.5">
                        <span className="truncate font-medium" title={m.path}>
                          {m.name}
                        </span>
                        {m.default && <Badge>default</Badge>}
                        {m.kind === "embedding" && <Badge>embedding</Badge>}
                      </div>
                      <div className="truncate text-xs text-zinc-500 xl:hidden dark:text-zinc-400">
                        {m.architecture} · {m.loaded?.engine ?? m.format.toUpperCase()}
                      </div>
                      {m.aliases.length > 0 && (
                        <div className="truncate text-xs text-zinc-500 dark:text-zinc-400" title={m.aliases.join(", ")}>
                          {m.aliases.join(", ")}
                        </div>
                      )}
                    </td>
                    <td className="hidden pr-3 xl:table-cell">{m.architecture}</td>
                    <td className="pr-3 text-right tabular-nums">{formatParams(m.parameters)}</td>
                    <td className="pr-3">{m.quantization ?? "–"}</td>
                    <td className="whitespace-nowrap pr-3 text-right tabular-nums">{m.loaded?.context_length ?? m.context_length ?? "–"}</td>
                    <td className="whitespace-nowrap pr-3 text-right tabular-nums">{formatBytes(m.size_bytes)}</td>
                    <td className="hidden pr-3 xl:table-cell">{m.loaded?.engine ?? m.format.toUpperCase()}</td>
                    <td className="pr-3">
                      <State m={m} />
                    </td>
                    <td className="hidden whitespace-nowrap pr-3 text-zinc-500 2xl:table-cell dark:text-zinc-400">{formatAgo(lastUsed(m))}</td>
                    <td className="text-right">
                      {/* Wraps rather than widening the table past a 1024-px laptop when a model
                          shows Pin, Unload and Delete at once. */}
                      <div className="inline-flex flex-wrap justify-end gap-1.5">
                        {m.kind === "chat" &&
                          (m.loaded ? (
                            <>
                              {!m.loaded.pinned && (
                                <button type="button" className="btn h-8 px-2.5" disabled={busy(m.name)} onClick={() => act.mutate({ kind: "pin", name: m.name })} aria-label={`Pin ${m.name}`} title="Keep it loaded whatever keep_alive says">
                                  Pin
                                </button>
                              )}
                              <button
                                type="button"
                                className="btn h-8 min-w-[4.75rem] px-2.5"
                                disabled={busy(m.name) || m.default}
                                title={m.default ? "The default model stays loaded" : undefined}
                                onClick={() => act.mutate({ kind: "unload", name: m.name })}
                                aria-label={`Unload ${m.name}`}
                              >
                                {busy(m.name) ? "…" : "Unload"}
                              </button>
                            </>
                          ) : (
                            <button type="button" className="btn h-8 min-w-[4.75rem] px-2.5" disabled={busy(m.name)} onClick={() => act.mutate({ kind: "load", name: m.name })} aria-label={`Load ${m.name}`}>
                              {busy(m.name) ? "Loading…" : "Load"}
                            </button>
                          ))}
                        <button
                          type="button"
                          className="btn h-8 px-2.5 text-red-600 dark:text-red-400"
                          disabled={m.default}
                          title={m.default ? "The default model cannot be deleted while the server runs it" : undefined}
                          onClick={() => setConfirm(m)}
                          aria-label={`Delete ${m.name}`}
                        >
                          Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={confirm != null}
        title={`Delete ${confirm?.name ?? ""}?`}
        confirmLabel="Delete"
        busy={remove.isPending}
        onCancel={() => setConfirm(null)}
        onConfirm={() => confirm && remove.mutate(confirm.name)}
      >
        {confirm && (
          <>
            {confirm.loaded ? "It is loaded and will be unloaded first; the server refuses while it is generating. " : ""}
            The file <code className="break-all">{confirm.path}</code> ({formatBytes(confirm.size_bytes)}) is deleted if it lives in the models folder;
            otherwise only the registry entry goes.
          </>
        )}
      </ConfirmDialog>
    </>
  );
}

function Badge({ children }: { children: React.ReactNode }) {
  return <span className="shrink-0 rounded bg-zinc-100 px-1.5 py-0.5 text-[10px] font-medium uppercase tracking-wide text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">{children}</span>;
}

function State({ m }: { m: ModelRow }) {
  if (!m.loaded)
    return (
      <div className="leading-tight text-zinc-500 dark:text-zinc-400">
        On disk
        {/* the Last used column only shows on wide screens */}
        <div className="text-xs 2xl:hidden">{lastUsed(m) ? `used ${formatAgo(lastUsed(m))}` : "never used"}</div>
      </div>
    );
  const l = m.loaded;
  const left = l.expires_at == null ? null : l.expires_at - Date.now() / 1000;
  return (
    <div className="leading-tight" data-testid="model-state">
      <span className="inline-flex items-center gap-1.5 font-medium text-emerald-700 dark:text-emerald-400">
        <span className="size-1.5 rounded-full bg-emerald-500" aria-hidden />
        {l.slots_active ? `Generating (${l.slots_active})` : "Loaded"}
      </span>
      <div className="text-xs text-zinc-500 dark:text-zinc-400" title="Memory (weights and KV cache); time until it unloads when idle (keep_alive)">
        {formatBytes(l.memory_bytes)} · {l.pinned ? "pinned" : left == null ? "kept loaded" : `${formatDuration(Math.max(0, left))} left`}
      </div>
    </div>
  );
}
