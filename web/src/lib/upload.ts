/** File uploads with real progress: fetch cannot report request-body progress (streaming
 * request bodies need HTTP/2 and give no acknowledgement), XMLHttpRequest's upload events can. */
import { ApiError, errorMessage, getApiKey, notifyAuthRequired } from "./api";

export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface Upload<T> {
  /** Resolves with the server's JSON, rejects with ApiError (the server's message) or an
   * AbortError when cancelled. */
  done: Promise<T>;
  abort: () => void;
}

/** Whole percent for a progress bar, 0..100; 0 while the total is unknown. */
export function percent(loaded: number, total: number): number {
  if (!(total > 0) || !Number.isFinite(loaded)) return 0;
  return Math.max(0, Math.min(100, Math.floor((loaded / total) * 100)));
}

/** POST `file` as multipart/form-data (one `file` part) with the session's API key. */
export function uploadFile<T>(
  url: string,
  file: File,
  onProgress: (p: UploadProgress) => void,
  field = "file",
): Upload<T> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open("POST", url);
    const key = getApiKey();
    if (key) xhr.setRequestHeader("authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body as T);
        return;
      }
      const { message, code } = errorMessage(body, `${xhr.status} ${xhr.statusText}`.trim());
      if (xhr.status === 401) notifyAuthRequired(message);
      reject(new ApiError(xhr.status, message, code));
    };
    // A refused upload may be answered before the body is sent, and the browser then reports
    // a network error; the status and message are still there when the server sent them.
    xhr.onerror = () =>
      reject(xhr.status ? new ApiError(xhr.status, xhr.statusText) : new ApiError(0, "network error: the upload did not reach the server"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    const form = new FormData();
    form.append(field, file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}
