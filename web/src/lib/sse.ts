/** Server-sent events over fetch (EventSource cannot send an Authorization header). */

export interface SSEParse {
  events: string[];
  rest: string;
}

/** Split a buffer into complete events' `data` payloads; `rest` is the unfinished tail. */
export function parseSSE(buffer: string): SSEParse {
  const events: string[] = [];
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
    }
    if (data.length) events.push(data.join("\n"));
  }
  return { events, rest };
}

/** Read an SSE response body, calling `onData` for each event until the stream ends. */
export async function readSSE(
  body: ReadableStream<Uint8Array>,
  onData: (data: string) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const { events, rest } = parseSSE(buffer);
    buffer = rest;
    for (const e of events) onData(e);
  }
}
