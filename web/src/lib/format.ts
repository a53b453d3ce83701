export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatNumber(n: number | null | undefined, digits = 1): string {
  if (n == null || !Number.isFinite(n)) return "–";
  return n.toFixed(digits);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** "1 document", "3 documents", "0 chunks". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A fixed-size ring of the latest values, oldest first. */
export function pushWindow(values: number[], value: number, size: number): number[] {
  const next = values.length >= size ? values.slice(values.length - size + 1) : values.slice();
  next.push(value);
  return next;
}

/** Parameter counts the way model cards write them: 135M, 1.7B, 70B. */
export function formatParams(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n <= 0) return "–";
  const [div, unit] = n >= 1e9 ? [1e9, "B"] : n >= 1e6 ? [1e6, "M"] : n >= 1e3 ? [1e3, "K"] : [1, ""];
  const v = n / div;
  return `${v >= 10 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)}${unit}`;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago" from a Unix time in seconds. */
export function formatAgo(unixSeconds: number | null | undefined, nowMs = Date.now()): string {
  if (unixSeconds == null || !Number.isFinite(unixSeconds)) return "never";
  const s = Math.max(0, nowMs / 1000 - unixSeconds);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A listening address: "127.0.0.1:8080", "[::1]:8080". */
export function bindAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Ollama-style keep_alive ("5m", "30s", "0", "-1") as what it does. */
export function keepAliveText(value: string): string {
  const v = value.trim();
  const n = Number.parseFloat(v);
  if (n < 0) return "never unload";
  if (n === 0) return "unload as soon as idle";
  return `unload after ${/^[\d.]+$/.test(v) ? `${v}s` : v} idle`; // a bare number is seconds
}
