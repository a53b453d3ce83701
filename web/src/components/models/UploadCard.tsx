import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef, useState } from "react";
import { toast } from "sonner";
import { formatBytes } from "../../lib/format";
import { MODEL_QUERIES, type ModelRow } from "../../lib/models";
import { percent, uploadFile } from "../../lib/upload";
import { Card } from "../EmptyState";
import { ProgressBar } from "../ProgressBar";

type Phase = "uploading" | "checking" | "done" | "error" | "cancelled";

interface Item {
  id: number;
  name: string;
  size: number;
  loaded: number;
  phase: Phase;
  message?: string;
  abort?: () => void;
}

let nextId = 1;

/** Drag-and-drop (or pick) GGUF files; each streams to POST /admin/models with its own bar. */
export function UploadCard() {
  const [items, setItems] = useState<Item[]>([]);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const queryClient = useQueryClient();

  const patch = useCallback((id: number, p: Partial<Item>) => setItems((xs) => xs.map((x) => (x.id === id ? { ...x, ...p } : x))), []);

  const start = useCallback(
    (files: FileList | File[]) => {
      for (const file of Array.from(files)) {
        const id = nextId++;
        const up = uploadFile<ModelRow>("/admin/models", file, ({ loaded, total }) =>
          // Every byte sent: the server now checks the whole file before it answers.
          patch(id, { loaded, phase: loaded >= total ? "checking" : "uploading" }),
        );
        setItems((xs) => [...xs, { id, name: file.name, size: file.size, loaded: 0, phase: "uploading", abort: up.abort }]);
        up.done.then(
          (row) => {
            patch(id, { phase: "done", loaded: file.size, message: `Added as ${row.name}` });
            toast.success(`Uploaded ${row.name}`);
            for (const key of MODEL_QUERIES) void queryClient.invalidateQueries({ queryKey: key });
          },
          (e: Error) => {
            if (e.name === "AbortError") {
              patch(id, { phase: "cancelled", message: "Cancelled" });
              return;
            }
            patch(id, { phase: "error", message: e.message });
            toast.error(`${file.name}: ${e.message}`);
          },
        );
      }
    },
    [patch, queryClient],
  );

  return (
    <Card title="Upload a GGUF file">
      <div
        data-testid="model-drop-zone"
        onDragEnter={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = "copy";
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          if (e.dataTransfer.files.length) start(e.dataTransfer.files);
        }}
        className={`flex h-28 flex-col items-center justify-center gap-2 rounded-lg border-2 border-dashed text-sm transition-colors ${
          over ? "border-violet-500 bg-violet-50 dark:bg-violet-950/40" : "border-zinc-300 dark:border-zinc-700"
        }`}
      >
        <p className="text-zinc-500 dark:text-zinc-400">Drop a .gguf model here</p>
        <button type="button" className="btn" onClick={() => input.current?.click()}>
          Choose file…
        </button>
        <input
          ref={input}
          type="file"
          accept=".gguf"
          multiple
          className="sr-only"
          aria-label="Model file to upload"
          tabIndex={-1}
          onChange={(e) => {
            if (e.target.files?.length) start(e.target.files);
            e.target.value = "";
          }}
        />
      </div>
      {items.length > 0 && (
        <ul className="mt-3 flex flex-col gap-2" aria-label="Uploads">
          {items.map((it) => (
            <UploadRow key={it.id} item={it} onDismiss={() => setItems((xs) => xs.filter((x) => x.id !== it.id))} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function UploadRow({ item, onDismiss }: { item: Item; onDismiss: () => void }) {
  const pct = item.phase === "done" ? 100 : percent(item.loaded, item.size);
  const running = item.phase === "uploading" || item.phase === "checking";
  const detail =
    item.phase === "uploading"
      ? `${pct}% · ${formatBytes(item.loaded)} of ${formatBytes(item.size)}`
      : item.phase === "checking"
        ? "Checking the model…"
        : item.message;
  return (
    <li className="text-sm" data-testid="upload-item" data-phase={item.phase}>
      <div className="flex items-center justify-between gap-2">
        <span className="truncate font-medium" title={item.name}>
          {item.name}
        </span>
        <button
          type="button"
          className="shrink-0 rounded px-1.5 text-xs text-zinc-500 hover:bg-zinc-100 dark:hover:bg-zinc-800"
          onClick={running ? item.abort : onDismiss}
          aria-label={running ? `Cancel upload of ${item.name}` : `Dismiss ${item.name}`}
        >
          {running ? "Cancel" : "✕"}
        </button>
      </div>
      <div className="mt-1">
        <ProgressBar
          value={item.phase === "checking" ? 100 : pct}
          label={`Upload ${item.name}`}
          tone={item.phase === "error" ? "red" : item.phase === "done" ? "green" : "violet"}
        />
      </div>
      <p
        className={`mt-1 truncate text-xs ${item.phase === "error" ? "text-red-600 dark:text-red-400" : "text-zinc-500 dark:text-zinc-400"}`}
        role={item.phase === "error" ? "alert" : undefined}
      >
        {detail}
      </p>
    </li>
  );
}
