/** Upload batches and their ingest jobs, kept outside React so they survive leaving the page. */
import { apiJSON } from "./api";
import { type IngestFile, type Job, applyJobEvent, perFileProgress, uploadFiles, watchJob } from "./rag";

export interface Batch {
  id: number;
  collection: string;
  files: IngestFile[];
  stage: "uploading" | "indexing" | "done" | "failed";
  jobId: string | null;
  error: string | null;
}

let batches: Batch[] = [];
let nextId = 1;
const listeners = new Set<() => void>();

function update(id: number, fn: (b: Batch) => Batch) {
  batches = batches.map((b) => (b.id === id ? fn(b) : b));
  for (const l of listeners) l();
}

/** The job's final report, which wins over the events (it has every file's result). */
export function applyReport(files: IngestFile[], job: Pick<Job, "files">): IngestFile[] {
  return files.map((f, i) => {
    const r = job.files[i];
    return r ? { ...f, phase: r.status, chunks: r.chunks, error: r.error, progress: 1 } : f;
  });
}

export const ingestStore = {
  get: () => batches,
  subscribe(fn: () => void) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  dismiss(id: number) {
    batches = batches.filter((b) => b.id !== id);
    for (const l of listeners) l();
  },
  /** Upload `files` into `collection` and follow the job; `onChange` runs when documents may
   * have changed (the caller refreshes its lists), `onError` with the server's message. */
  async start(collection: string, files: File[], onChange: () => void, onError: (m: string) => void) {
    const id = nextId++;
    const sizes = files.map((f) => f.size);
    const rows: IngestFile[] = files.map((f) => ({
      name: f.name,
      size: f.size,
      phase: "uploading",
      progress: 0,
      chunks: 0,
      error: null,
    }));
    batches = [{ id, collection, files: rows, stage: "uploading", jobId: null, error: null }, ...batches];
    for (const l of listeners) l();
    let frame = 0;
    let latest: [number, number] = [0, 1];
    let refreshed = 0;
    try {
      const job = await uploadFiles(collection, files, (loaded, total) => {
        latest = [loaded, total];
        // Progress events come faster than frames: one update per frame.
        if (frame) return;
        frame = requestAnimationFrame(() => {
          frame = 0;
          const p = perFileProgress(sizes, ...latest);
          update(id, (b) => ({ ...b, files: b.files.map((f, i) => ({ ...f, progress: p[i] })) }));
        });
      });
      if (frame) cancelAnimationFrame(frame);
      update(id, (b) => ({
        ...b,
        stage: "indexing",
        jobId: job.id,
        files: b.files.map((f) => ({ ...f, phase: "waiting", progress: 1 })),
      }));
      await watchJob(job.id, (e) => {
        if (e.type !== "file") return;
        update(id, (b) => ({ ...b, files: applyJobEvent(b.files, e) }));
        // Lists refresh as documents land, at most once a second in a long batch.
        if (Date.now() - refreshed > 1000) {
          refreshed = Date.now();
          onChange();
        }
      });
      const report = await apiJSON<Job>(`/v1/rag/jobs/${encodeURIComponent(job.id)}`);
      update(id, (b) => ({
        ...b,
        stage: report.status === "failed" ? "failed" : "done",
        error: report.error,
        files: applyReport(b.files, report),
      }));
      if (report.error) onError(report.error);
      onChange();
    } catch (e) {
      if (frame) cancelAnimationFrame(frame);
      const message = e instanceof Error ? e.message : String(e);
      update(id, (b) => ({
        ...b,
        stage: "failed",
        error: message,
        files: b.files.map((f) => (f.phase === "uploading" || f.phase === "waiting" ? { ...f, phase: "error", error: message } : f)),
      }));
      onError(message);
    }
  },
};
