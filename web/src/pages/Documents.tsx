import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useSearchParams } from "react-router";
import { toast } from "sonner";
import { EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { Collections } from "../components/documents/Collections";
import { DocumentList } from "../components/documents/DocumentList";
import { Ingest } from "../components/documents/Ingest";
import { SearchPlayground } from "../components/documents/SearchPlayground";
import { useFeature } from "../lib/features";
import { formatBytes, plural } from "../lib/format";
import { rag } from "../lib/rag";

const TABS = [
  { id: "documents", label: "Documents" },
  { id: "search", label: "Search" },
] as const;
type Tab = (typeof TABS)[number]["id"];

export function Documents() {
  const feature = useFeature("/v1/rag/collections");
  const list = useQuery({ queryKey: ["rag", "collections"], queryFn: rag.collections, enabled: feature.data === true });
  // The chosen collection and tab live in the URL: reload and back/forward keep them.
  const [params, setParams] = useSearchParams();
  const collections = list.data ?? [];
  const wanted = params.get("c");
  const selected = collections.find((c) => c.name === wanted) ?? (wanted ? null : (collections[0] ?? null));
  const tab: Tab = params.get("tab") === "search" ? "search" : "documents";
  const go = (next: { c?: string | null; tab?: Tab }) =>
    setParams(
      (p) => {
        const q = new URLSearchParams(p);
        if (next.c !== undefined) (next.c ? q.set("c", next.c) : q.delete("c"));
        if (next.tab) q.set("tab", next.tab);
        return q;
      },
      { replace: true },
    );

  useEffect(() => {
    if (list.error) toast.error(list.error.message);
  }, [list.error]);

  if (feature.data === false) {
    return (
      <Page title="Documents">
        <EmptyState title="Document collections are not available on this server">
          Collections, ingest and search come with the RAG API (<code>/v1/rag/…</code>).
        </EmptyState>
      </Page>
    );
  }
  return (
    <Page title="Documents">
      <div className="grid min-h-0 flex-1 grid-cols-[14rem_minmax(0,1fr)] gap-5 lg:grid-cols-[16rem_minmax(0,1fr)]">
        <Collections
          collections={collections}
          loading={feature.isLoading || list.isLoading}
          selected={selected?.name ?? null}
          onSelect={(c) => go({ c })}
        />
        <div className="min-w-0">
          {selected ? (
            <div className="rounded-xl border border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900">
              <div className="flex flex-wrap items-center justify-between gap-3 border-b border-zinc-200 px-4 pt-3 dark:border-zinc-800">
                <div className="pb-3">
                  <h2 className="text-base font-semibold">{selected.name}</h2>
                  <p className="text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
                    {plural(selected.documents, "document")} · {plural(selected.chunks, "chunk")} · {formatBytes(selected.disk_bytes)} on disk
                    {selected.indexes.length > 0 && ` · indexes: ${selected.indexes.join(", ")}`}
                  </p>
                </div>
                <div role="tablist" aria-label="Collection views" className="flex gap-1 self-end">
                  {TABS.map((t) => (
                    <button
                      key={t.id}
                      type="button"
                      role="tab"
                      id={`tab-${t.id}`}
                      aria-selected={tab === t.id}
                      aria-controls={`panel-${t.id}`}
                      tabIndex={tab === t.id ? 0 : -1}
                      onClick={() => go({ tab: t.id })}
                      onKeyDown={(e) => {
                        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                          const other = t.id === "documents" ? "search" : "documents";
                          go({ tab: other });
                          document.getElementById(`tab-${other}`)?.focus();
                        }
                      }}
                      className={`-mb-px border-b-2 px-3 pb-2 text-sm ${
                        tab === t.id
                          ? "border-violet-600 font-medium text-violet-700 dark:text-violet-300"
                          : "border-transparent text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200"
                      }`}
                    >
                      {t.label}
                    </button>
                  ))}
                </div>
              </div>
              <div id={`panel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`} className="p-4">
                {tab === "documents" ? (
                  <div className="flex flex-col gap-5">
                    <Ingest collection={selected.name} />
                    <DocumentList collection={selected.name} />
                  </div>
                ) : (
                  <SearchPlayground key={selected.name} collection={selected.name} />
                )}
              </div>
            </div>
          ) : (
            <EmptyState title={wanted ? `No collection named ${wanted}` : "No collection selected"}>
              {collections.length ? "Pick a collection on the left." : "Create a collection, then drop files into it."}
            </EmptyState>
          )}
        </div>
      </div>
    </Page>
  );
}
