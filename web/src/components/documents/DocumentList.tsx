import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useDeferredValue, useMemo, useRef, useState } from "react";
import { toast } from "sonner";
import { formatBytes, plural } from "../../lib/format";
import { type DocumentRow, baseName, rag } from "../../lib/rag";
import { ConfirmDialog } from "../Dialog";

const ROW = 48;

/** Every document of the collection in a virtualized list: thousands scroll as smoothly as ten. */
export function DocumentList({ collection }: { collection: string }) {
  const qc = useQueryClient();
  const docs = useQuery({ queryKey: ["rag", "documents", collection], queryFn: () => rag.documents(collection) });
  const [filter, setFilter] = useState("");
  const deferred = useDeferredValue(filter.trim().toLowerCase());
  const rows = useMemo(() => {
    const all = docs.data ?? [];
    const list = deferred ? all.filter((d) => d.source.toLowerCase().includes(deferred)) : all;
    return list.slice().sort((a, b) => baseName(a.source).localeCompare(baseName(b.source)));
  }, [docs.data, deferred]);
  const [doomed, setDoomed] = useState<DocumentRow | null>(null);
  const del = useMutation({
    mutationFn: (d: DocumentRow) => rag.deleteDocument(collection, d.doc_id),
    onSuccess: (_r, d) => {
      toast.success(`${baseName(d.source)} deleted`);
      setDoomed(null);
      void qc.invalidateQueries({ queryKey: ["rag"] });
    },
    onError: (e) => toast.error(e.message),
  });

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 8,
  });

  return (
    <section aria-labelledby="documents-title">
      <div className="mb-2 flex items-center justify-between gap-3">
        <h3 id="documents-title" className="text-sm font-medium">
          Documents <span className="text-zinc-500 tabular-nums">({docs.data?.length ?? "…"})</span>
        </h3>
        <label className="sr-only" htmlFor="doc-filter">
          Filter documents by name
        </label>
        <input
          id="doc-filter"
          type="search"
          className="field h-8 w-56 py-1"
          placeholder="Filter by name"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      </div>
      <div className="grid grid-cols-[minmax(0,1fr)_5rem_4.5rem_5rem_7rem_2rem] gap-3 border-b border-zinc-200 px-3 pb-1 text-xs text-zinc-500 dark:border-zinc-800">
        <span>Name</span>
        <span>Type</span>
        <span className="text-right">Chunks</span>
        <span className="text-right">Size</span>
        <span>Indexed</span>
        <span className="sr-only">Actions</span>
      </div>
      <div
        ref={scroller}
        className="h-80 overflow-y-auto"
        role="list"
        aria-label="Documents"
        aria-busy={docs.isLoading}
        data-testid="document-list"
      >
        {rows.length === 0 ? (
          <p className="p-6 text-center text-sm text-zinc-500">
            {docs.isLoading ? "Loading…" : deferred ? "No document matches." : "No documents yet. Drop files above."}
          </p>
        ) : (
          <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
            {virtual.getVirtualItems().map((item) => {
              const d = rows[item.index];
              return (
                <div
                  key={d.doc_id}
                  role="listitem"
                  aria-setsize={rows.length}
                  aria-posinset={item.index + 1}
                  className="absolute inset-x-0 grid grid-cols-[minmax(0,1fr)_5rem_4.5rem_5rem_7rem_2rem] items-center gap-3 border-b border-zinc-100 px-3 text-sm dark:border-zinc-800/60"
                  style={{ height: ROW, transform: `translateY(${item.start}px)` }}
                >
                  <span className="min-w-0">
                    <span className="block truncate font-medium" title={d.source}>
                      {baseName(d.source)}
                    </span>
                    {d.tags.length > 0 && (
                      <span className="block truncate text-xs text-zinc-500">{d.tags.map((t) => `#${t}`).join(" ")}</span>
                    )}
                  </span>
                  <span className="text-xs text-zinc-500">{d.type}</span>
                  <span className="text-right tabular-nums">{d.chunks}</span>
                  <span className="text-right text-xs text-zinc-500 tabular-nums">{formatBytes(d.bytes)}</span>
                  <time className="text-xs text-zinc-500 tabular-nums" dateTime={d.ingested_at}>
                    {d.ingested_at.slice(0, 16).replace("T", " ")}
                  </time>
                  <button
                    type="button"
                    aria-label={`Delete ${baseName(d.source)}`}
                    onClick={() => setDoomed(d)}
                    className="rounded-md px-1.5 py-0.5 text-zinc-400 hover:bg-red-50 hover:text-red-600 dark:hover:bg-red-950"
                  >
                    ✕
                  </button>
                </div>
              );
            })}
          </div>
        )}
      </div>
      <ConfirmDialog
        open={doomed !== null}
        title={`Delete ${doomed ? baseName(doomed.source) : ""}?`}
        confirm="Delete document"
        busy={del.isPending}
        onConfirm={() => doomed && del.mutate(doomed)}
        onClose={() => setDoomed(null)}
      >
        Its {plural(doomed?.chunks ?? 0, "chunk")} {doomed?.chunks === 1 ? "leaves" : "leave"} the index; search and chat stop finding them.
      </ConfirmDialog>
    </section>
  );
}
