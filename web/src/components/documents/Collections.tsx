import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { toast } from "sonner";
import { formatBytes, plural } from "../../lib/format";
import { type CollectionStats, rag } from "../../lib/rag";
import { ConfirmDialog } from "../Dialog";

interface Props {
  collections: CollectionStats[];
  loading: boolean;
  selected: string | null;
  onSelect: (name: string | null) => void;
}

/** The collections with their stats; create one, or delete one after a confirmation. */
export function Collections({ collections, loading, selected, onSelect }: Props) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [doomed, setDoomed] = useState<CollectionStats | null>(null);
  const create = useMutation({
    mutationFn: (n: string) => rag.create(n),
    onSuccess: (c) => {
      setName("");
      toast.success(`Collection ${c.name} created`);
      onSelect(c.name);
      void qc.invalidateQueries({ queryKey: ["rag", "collections"] });
    },
    onError: (e) => toast.error(e.message),
  });
  const drop = useMutation({
    mutationFn: (n: string) => rag.drop(n),
    onSuccess: (_r, n) => {
      toast.success(`Collection ${n} deleted`);
      setDoomed(null);
      if (selected === n) onSelect(null);
      void qc.invalidateQueries({ queryKey: ["rag"] });
    },
    onError: (e) => toast.error(e.message),
  });
  const trimmed = name.trim();

  return (
    <section aria-labelledby="collections-title" className="flex min-h-0 flex-col">
      <h2 id="collections-title" className="mb-2 text-sm font-medium text-zinc-500 dark:text-zinc-400">
        Collections
      </h2>
      <form
        className="mb-3 flex gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (trimmed) create.mutate(trimmed); // the server says what a valid name is
        }}
      >
        <label htmlFor="new-collection" className="sr-only">
          New collection name
        </label>
        <input
          id="new-collection"
          className="field min-w-0 flex-1"
          placeholder="New collection"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="btn-primary px-3" disabled={!trimmed || create.isPending}>
          Create
        </button>
      </form>
      {collections.length === 0 ? (
        <p className="text-sm text-zinc-500">{loading ? "Loading…" : "No collections yet. Create one to start."}</p>
      ) : (
        <ul className="flex flex-col gap-1 overflow-y-auto" aria-label="Collections">
          {collections.map((c) => {
            const active = c.name === selected;
            return (
              <li key={c.name} className="group relative">
                <button
                  type="button"
                  aria-current={active ? "true" : undefined}
                  onClick={() => onSelect(c.name)}
                  className={`w-full rounded-lg px-3 py-2 pr-9 text-left ${
                    active
                      ? "bg-violet-50 text-violet-800 dark:bg-violet-950 dark:text-violet-200"
                      : "hover:bg-zinc-100 dark:hover:bg-zinc-800"
                  }`}
                >
                  <span className="block truncate text-sm font-medium">{c.name}</span>
                  <span className="block text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
                    {plural(c.documents, "doc")} · {plural(c.chunks, "chunk")} · {formatBytes(c.disk_bytes)}
                  </span>
                </button>
                <button
                  type="button"
                  onClick={() => setDoomed(c)}
                  aria-label={`Delete collection ${c.name}`}
                  className="absolute top-2 right-1.5 rounded-md px-1.5 py-0.5 text-zinc-400 opacity-60 group-hover:opacity-100 hover:bg-red-50 hover:text-red-600 focus-visible:opacity-100 dark:hover:bg-red-950"
                >
                  ✕
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <ConfirmDialog
        open={doomed !== null}
        title={`Delete collection ${doomed?.name ?? ""}?`}
        confirm="Delete collection"
        busy={drop.isPending}
        onConfirm={() => doomed && drop.mutate(doomed.name)}
        onClose={() => setDoomed(null)}
      >
        Its {plural(doomed?.documents ?? 0, "document")} and {plural(doomed?.chunks ?? 0, "chunk")} are removed from the index. The
        original files are not touched.
      </ConfirmDialog>
    </section>
  );
}
