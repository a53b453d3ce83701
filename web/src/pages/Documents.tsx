import { useQuery } from "@tanstack/react-query";
import { Card, EmptyState } from "../components/EmptyState";
import { Page } from "../components/Page";
import { apiJSON } from "../lib/api";
import { useFeature } from "../lib/features";

type Collection = Record<string, unknown> & { name?: string; id?: string };

export function Documents() {
  const rag = useFeature("/v1/rag/collections");
  const list = useQuery({
    queryKey: ["collections"],
    queryFn: () => apiJSON<{ data?: Collection[] } | Collection[]>("/v1/rag/collections"),
    enabled: rag.data === true,
  });
  const collections = Array.isArray(list.data) ? list.data : (list.data?.data ?? []);
  return (
    <Page title="Documents">
      {rag.data === false ? (
        <EmptyState title="Document collections are not available on this server yet">
          Collections, ingest and search arrive with the RAG API (<code>/v1/rag/…</code>).
        </EmptyState>
      ) : rag.data === true ? (
        <Card title="Collections">
          {collections.length === 0 ? (
            <p className="text-sm text-zinc-500">{list.isLoading ? "Loading…" : "No collections yet."}</p>
          ) : (
            <ul className="divide-y divide-zinc-100 text-sm dark:divide-zinc-800">
              {collections.map((c) => (
                <li key={String(c.name ?? c.id)} className="py-2 font-medium">
                  {String(c.name ?? c.id)}
                </li>
              ))}
            </ul>
          )}
        </Card>
      ) : null}
    </Page>
  );
}
