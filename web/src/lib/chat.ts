/** The chat conversation, kept outside React so a stream survives leaving the page. */
import { apiFetch } from "./api";
import { readSSE } from "./sse";

/** A passage the server gave the model for a RAG answer; the answer cites it as [index]. */
export interface Citation {
  index: number;
  collection: string;
  doc_id: string;
  chunk_id: string;
  source: string;
  page: number | null;
  section: string | null;
  start: number;
  end: number;
  score: number;
  text?: string;
}

export interface Message {
  role: "system" | "user" | "assistant";
  content: string;
  citations?: Citation[];
}

export interface ChatParams {
  model: string;
  temperature: number;
  max_tokens: number;
  system: string;
  /** RAG collections that ground the answer; none for a plain chat. */
  collections?: string[];
}

export interface ChatState {
  messages: Message[];
  streaming: boolean;
}

/** The text a streamed chat.completion.chunk adds, an error message, or (RAG, first chunk)
 * the citations. */
export function chunkDelta(data: string): { text: string; error?: string; done?: boolean; citations?: Citation[] } {
  if (data === "[DONE]") return { text: "", done: true };
  const obj = JSON.parse(data) as {
    error?: { message?: string } | string;
    choices?: { delta?: { content?: string | null } }[];
    citations?: Citation[];
  };
  if (obj.error) {
    return { text: "", error: typeof obj.error === "string" ? obj.error : (obj.error.message ?? "stream failed") };
  }
  const out: { text: string; citations?: Citation[] } = { text: obj.choices?.[0]?.delta?.content ?? "" };
  if (Array.isArray(obj.citations)) out.citations = obj.citations;
  return out;
}

let state: ChatState = { messages: [], streaming: false };
let controller: AbortController | null = null;
const listeners = new Set<() => void>();

function set(next: ChatState) {
  state = next;
  for (const fn of listeners) fn();
}

export const chatStore = {
  get: () => state,
  subscribe(fn: () => void) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  clear() {
    controller?.abort();
    set({ messages: [], streaming: false });
  },
  stop() {
    controller?.abort();
  },
  /** Send `text` and stream the answer; throws the server's error (the caller shows it). */
  async send(text: string, params: ChatParams): Promise<void> {
    const history: Message[] = [...state.messages, { role: "user", content: text }];
    set({ messages: [...history, { role: "assistant", content: "" }], streaming: true });
    controller = new AbortController();
    const signal = controller.signal;
    let answer = "";
    let citations: Citation[] | undefined;
    let frame = 0;
    const flush = () => {
      frame = 0;
      const messages = state.messages.slice();
      messages[messages.length - 1] = { role: "assistant", content: answer, ...(citations ? { citations } : {}) };
      set({ ...state, messages });
    };
    try {
      // History goes back without citations: they are the UI's, not the model's.
      const plain = history.map(({ role, content }) => ({ role, content }));
      const messages = params.system.trim()
        ? [{ role: "system", content: params.system.trim() }, ...plain]
        : plain;
      const collections = params.collections ?? [];
      const res = await apiFetch("/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({
          model: params.model,
          messages,
          temperature: params.temperature,
          max_tokens: params.max_tokens,
          stream: true,
          ...(collections.length ? { rag: { collections } } : {}),
        }),
        signal,
      });
      let error: string | undefined;
      await readSSE(res.body!, (data) => {
        const d = chunkDelta(data);
        if (d.error) error = d.error;
        if (d.citations) {
          citations = d.citations;
          flush(); // the sources show before the first token
        }
        if (!d.text) return;
        answer += d.text;
        // At most one render per frame, however fast the tokens come.
        if (!frame) frame = requestAnimationFrame(flush);
      });
      if (error) throw new Error(error);
    } catch (e) {
      if (!(e instanceof DOMException && e.name === "AbortError")) {
        if (!answer) set({ ...state, messages: history.slice(0, -1) });
        throw e;
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      if (answer || citations) flush();
      controller = null;
      set({ ...state, streaming: false });
    }
  },
};
