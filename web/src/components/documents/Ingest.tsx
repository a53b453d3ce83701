import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { toast } from "sonner";
import { formatBytes } from "../../lib/format";
import { type Batch, ingestStore } from "../../lib/ingest";
import type { IngestFile } from "../../lib/rag";

const ACCEPT = ".pdf,.docx,.md,.markdown,.html,.htm,.txt,.rst,.csv,.json,.py,.js,.ts,.tsx,.go,.rs,.java,.c,.h,.cpp,.sh,.toml,.yaml,.yml";

/** Drop files (or pick them) to index into `collection`; each batch shows its files' upload
 * progress, then each file's result from the ingest job. */
export function Ingest({ collection }: { collection: string }) {
  const qc = useQueryClient();
  const batches = useSyncExternalStore(ingestStore.subscribe, ingestStore.get);
  const [over, setOver] = useState(false);
  const picker = useRef<HTMLInputElement>(null);

  const start = (files: File[]) => {
    if (!files.length) return;
    void ingestStore.start(
      collection,
      files,
      () => void qc.invalidateQueries({ queryKey: ["rag"] }),
      (message) => toast.error(message),
    );
  };
  const mine = batches.filter((b) => b.collection === collection);

  // A file dropped just beside the zone would make the browser open it and leave the app.
  useEffect(() => {
    const guard = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    window.addEventListener("dragover", guard);
    window.addEventListener("drop", guard);
    return () => {
      window.removeEventListener("dragover", guard);
      window.removeEventListener("drop", guard);
    };
  }, []);

  return (
    <div>
      <div
        data-testid="drop-zone"
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
          start(Array.from(e.dataTransfer.files));
        }}
        className={`flex flex-col items-center justify-center gap-2 rounded-xl border-2 border-dashed px-6 py-8 text-center transition-colors ${
          over
            ? "border-violet-500 bg-violet-50 dark:bg-violet-950/40"
            : "border-zinc-300 dark:border-zinc-700"
        }`}
      >
        <p className="text-sm font-medium">Drop files here to index them into {collection}</p>
        <p className="text-xs text-zinc-500 dark:text-zinc-400">PDF, DOCX, Markdown, HTML, text and code · many at once</p>
        <button type="button" className="btn mt-1" onClick={() => picker.current?.click()}>
          Choose files…
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          accept={ACCEPT}
          className="sr-only"
          tabIndex={-1}
          aria-label="Files to index"
          onChange={(e) => {
            start(Array.from(e.target.files ?? []));
            e.target.value = "";
          }}
        />
      </div>
      {mine.length > 0 && (
        <ul className="mt-3 flex flex-col gap-3" aria-label="Ingest jobs">
          {mine.map((b) => (
            <BatchView key={b.id} batch={b} />
          ))}
        </ul>
      )}
    </div>
  );
}

const STAGE: Record<Batch["stage"], string> = {
  uploading: "Uploading",
  indexing: "Indexing",
  done: "Done",
  failed: "Failed",
};

function BatchView({ batch }: { batch: Batch }) {
  const finished = batch.files.filter((f) => f.phase !== "uploading" && f.phase !== "waiting").length;
  const errors = batch.files.filter((f) => f.phase === "error").length;
  const total = batch.files.length;
  const share = batch.stage === "uploading" ? mean(batch.files.map((f) => f.progress)) : finished / total;
  return (
    <li
      className="rounded-xl border border-zinc-200 p-3 dark:border-zinc-800"
      data-testid="ingest-batch"
      data-stage={batch.stage}
    >
      <div className="flex items-center justify-between gap-3 text-sm">
        <span className="font-medium">
          {STAGE[batch.stage]} · {batch.stage === "uploading" ? `${total} files` : `${finished} / ${total} files`}
          {errors > 0 && <span className="text-red-600 dark:text-red-400"> · {errors} failed</span>}
        </span>
        {(batch.stage === "done" || batch.stage === "failed") && (
          <button type="button" className="text-xs text-zinc-500 hover:underline" onClick={() => ingestStore.dismiss(batch.id)}>
            Dismiss
          </button>
        )}
      </div>
      <Bar value={share} label={`${STAGE[batch.stage]} progress`} />
      {batch.error && batch.stage === "failed" && <p className="mt-1 text-xs text-red-600 dark:text-red-400">{batch.error}</p>}
      <ul className="mt-2 max-h-56 divide-y divide-zinc-100 overflow-y-auto text-sm dark:divide-zinc-800">
        {batch.files.map((f, i) => (
          <FileRow key={i} file={f} />
        ))}
      </ul>
    </li>
  );
}

const PHASE: Record<IngestFile["phase"], { label: string; cls: string }> = {
  uploading: { label: "uploading", cls: "text-zinc-500" },
  waiting: { label: "waiting", cls: "text-zinc-500" },
  indexed: { label: "indexed", cls: "text-green-700 dark:text-green-400" },
  unchanged: { label: "unchanged", cls: "text-zinc-500" },
  skipped: { label: "skipped", cls: "text-zinc-500" },
  error: { label: "error", cls: "text-red-600 dark:text-red-400" },
};

function FileRow({ file }: { file: IngestFile }) {
  const p = PHASE[file.phase];
  return (
    <li className="py-1.5" data-testid="ingest-file" data-phase={file.phase}>
      <div className="flex items-center gap-3">
        <span className="min-w-0 flex-1 truncate" title={file.name}>
          {file.name}
        </span>
        <span className="w-16 shrink-0 text-right text-xs text-zinc-500 tabular-nums">{formatBytes(file.size)}</span>
        <span className={`w-24 shrink-0 text-right text-xs ${p.cls}`}>
          {file.phase === "uploading" ? `${Math.round(file.progress * 100)} %` : p.label}
          {file.phase === "indexed" && ` · ${file.chunks}`}
        </span>
      </div>
      {file.phase === "uploading" && <Bar value={file.progress} label={`Uploading ${file.name}`} thin />}
      {file.error && (
        <p className="mt-0.5 text-xs break-words text-red-600 dark:text-red-400" role="status">
          {file.error}
        </p>
      )}
    </li>
  );
}

function Bar({ value, label, thin }: { value: number; label: string; thin?: boolean }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      className={`mt-1.5 w-full overflow-hidden rounded-full bg-zinc-100 dark:bg-zinc-800 ${thin ? "h-1" : "h-1.5"}`}
    >
      <div className="h-full rounded-full bg-violet-500 transition-[width] duration-200" style={{ width: `${pct}%` }} />
    </div>
  );
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}
