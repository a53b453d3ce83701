/** The RAG API (/v1/rag): collections, uploads with progress, ingest jobs, documents, search. */
import { ApiError, apiFetch, apiJSON, errorMessage, getApiKey, notifyAuthRequired } from "./api";
import { readSSE } from "./sse";

export interface CollectionStats {
  name: string;
  documents: number;
  chunks: number;
  dim: number;
  disk_bytes: number;
  indexes: string[];
}

export interface DocumentRow {
  doc_id: string;
  source: string;
  type: string;
  content_hash: string;
  chunks: number;
  bytes: number;
  date: string;
  ingested_at: string;
  tags: string[];
  meta: Record<string, string>;
}

export interface Hit {
  collection: string;
  chunk_id: string;
  doc_id: string;
  text: string;
  score: number;
  source: string;
  type: string;
  page: number | null;
  section: string | null;
  start: number;
  end: number;
  date: string;
  tags: string[];
  meta: Record<string, string>;
}

export interface FileResult {
  source: string;
  status: "indexed" | "unchanged" | "skipped" | "error";
  doc_id: string | null;
  chunks: number;
  error: string | null;
}

export interface Job {
  id: string;
  collection: string;
  status: "queued" | "running" | "done" | "failed";
  total: number;
  done: number;
  counts: Record<string, number>;
  files: FileResult[];
  error: string | null;
}

export type JobEvent =
  | { type: "queued" | "start"; job: string; total: number }
  | ({ type: "file"; done: number; total: number } & FileResult)
  | { type: "done"; job: string; status: Job["status"] }
  | { type: "ping" };

export type Mode = "vector" | "keyword" | "hybrid";

export interface SearchBody {
  query: string;
  k: number;
  mode: Mode;
  weight?: number;
  filters?: Record<string, unknown>;
}

const enc = encodeURIComponent;

export const rag = {
  collections: () => apiJSON<{ data: CollectionStats[] }>("/v1/rag/collections").then((r) => r.data),
  create: (name: string) =>
    apiJSON<CollectionStats>("/v1/rag/collections", { method: "POST", body: JSON.stringify({ name }) }),
  drop: (name: string) => apiJSON(`/v1/rag/collections/${enc(name)}`, { method: "DELETE" }),
  documents: (name: string) =>
    apiJSON<{ data: DocumentRow[] }>(`/v1/rag/collections/${enc(name)}/documents`).then((r) => r.data),
  deleteDocument: (name: string, docId: string) =>
    apiJSON(`/v1/rag/collections/${enc(name)}/documents/${enc(docId)}`, { method: "DELETE" }),
  search: (name: string, body: SearchBody) =>
    apiJSON<{ data: Hit[] }>(`/v1/rag/collections/${enc(name)}/search`, {
      method: "POST",
      body: JSON.stringify(body),
    }).then((r) => r.data),
};

/**
 * Upload files in one multipart request (one ingest job). XMLHttpRequest, because fetch cannot
 * report upload progress; `onProgress` gets the bytes sent so far and the request's total.
 */
export function uploadFiles(
  collection: string,
  files: File[],
  onProgress: (loaded: number, total: number) => void,
  signal?: AbortSignal,
): Promise<Job> {
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/rag/upload/${enc(collection)}`);
    const key = getApiKey();
    if (key) xhr.setRequestHeader("authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as Job);
      else {
        const { message, code } = errorMessage(body, `${xhr.status} ${xhr.statusText}`.trim());
        if (xhr.status === 401) notifyAuthRequired(message);
        reject(new ApiError(xhr.status, message, code));
      }
    };
    xhr.onerror = () => reject(new Error("the upload failed: the server could not be reached"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/** Follow a job's events until it is done. */
export async function watchJob(id: string, onEvent: (e: JobEvent) => void, signal?: AbortSignal) {
  const res = await apiFetch(`/v1/rag/jobs/${enc(id)}/events`, { signal });
  await readSSE(res.body!, (data) => onEvent(JSON.parse(data) as JobEvent));
}

/**
 * Each file's share of the bytes sent: a multipart body carries the files in order, so
 * `loaded` bytes cover the earlier files first. The few hundred bytes of part headers are
 * spread in proportion, which is close enough for a progress bar.
 */
export function perFileProgress(sizes: number[], loaded: number, total: number): number[] {
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (total <= 0 || sum <= 0) return sizes.map(() => (loaded >= total ? 1 : 0));
  let sent = (Math.min(loaded, total) / total) * sum;
  return sizes.map((size) => {
    if (size === 0) return sent >= 0 ? 1 : 0;
    const part = Math.max(0, Math.min(size, sent));
    sent -= size;
    return part / size;
  });
}

export type FilePhase = "uploading" | "waiting" | "indexed" | "unchanged" | "skipped" | "error";

export interface IngestFile {
  name: string;
  size: number;
  phase: FilePhase;
  progress: number; // upload, 0..1
  chunks: number;
  error: string | null;
}

/** A job event applied to the batch's files. The n-th `file` event is the n-th uploaded file
 * (the job keeps the upload order), which stays right when two files share a name. */
export function applyJobEvent(files: IngestFile[], event: JobEvent): IngestFile[] {
  if (event.type !== "file") return files;
  const i = event.done - 1;
  if (i < 0 || i >= files.length) return files;
  const next = files.slice();
  next[i] = { ...next[i], phase: event.status, chunks: event.chunks, error: event.error, progress: 1 };
  return next;
}

export interface FilterForm {
  source: string;
  types: string[];
  tags: string;
  tagMode: "any" | "all";
  from: string; // yyyy-mm-dd
  to: string;
  meta: string; // "key=value" per line
}

export const EMPTY_FILTERS: FilterForm = { source: "", types: [], tags: "", tagMode: "any", from: "", to: "", meta: "" };

/** The API's `filters` object from the form, or undefined when nothing is set. */
export function buildFilters(f: FilterForm): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (f.source.trim()) out.source = f.source.trim();
  if (f.types.length === 1) out.type = f.types[0];
  else if (f.types.length > 1) out.type = { in: f.types };
  const tags = f.tags
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (tags.length) out.tags = { [f.tagMode]: tags };
  const date: Record<string, string> = {};
  if (f.from) date.gte = f.from;
  // The end date is inclusive in the form: anything before the next midnight.
  if (f.to) date.lt = nextDay(f.to);
  if (Object.keys(date).length) out.date = date;
  for (const line of f.meta.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    if (key) out[`meta.${key}`] = line.slice(eq + 1).trim();
  }
  return Object.keys(out).length ? out : undefined;
}

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

export interface Segment {
  text: string;
  match: boolean;
}

// Words that would light up every passage and say nothing about the match.
const STOPWORDS = new Set(
  "an and are as at be by can do does for from has have how in is it its of on or that the this to was were what when where which who why will with".split(" "),
);

/** `text` cut into runs that match one of the query's words (case-insensitive, at a word's
 * start, so "feed" marks "feeds") and runs that do not, for highlighting. One-letter words and
 * common English stopwords are left out. */
export function highlight(text: string, query: string): Segment[] {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])].filter((w) => !STOPWORDS.has(w));
  if (!words.length || !text) return text ? [{ text, match: false }] : [];
  words.sort((a, b) => b.length - a.length); // the longest first, so "tower" wins over "to"
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join("|")})`, "giu");
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) out.push({ text: text.slice(last, at), match: false });
    out.push({ text: m[0], match: true });
    last = at + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), match: false });
  return out;
}

/** A file name from a source path (uploads are stored by name, path ingests by full path). */
export function baseName(source: string): string {
  return source.split(/[\\/]/).pop() || source;
}

export const DOC_TYPES = ["pdf", "docx", "markdown", "html", "text", "code"];
