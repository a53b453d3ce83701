/** The chat conversation, kept outside React so a stream survives leaving the page. */
import { apiFetch } from "./api";
import { readSSE } from "./sse";

export interface Message {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatParams {
  model: string;
  temperature: number;
  max_tokens: number;
  system: string;
}

export interface ChatState {
  messages: Message[];
  streaming: boolean;
}

/** The text a streamed chat.completion.chunk adds, or an error message. */
export function chunkDelta(data: string): { text: string; error?: string; done?: boolean } {
  if (data === "[DONE]") return { text: "", done: true };
  const obj = JSON.parse(data) as {
    error?: { message?: string } | string;
    choices?: { delta?: { content?: string | null } }[];
  };
  if (obj.error) {
    return { text: "", error: typeof obj.error === "string" ? obj.error : (obj.error.message ?? "stream failed") };
  }
  return { text: obj.choices?.[0]?.delta?.content ?? "" };
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
    let frame = 0;
    const flush = () => {
      frame = 0;
      const messages = state.messages.slice();
      messages[messages.length - 1] = { role: "assistant", content: answer };
      set({ ...state, messages });
    };
    try {
      const messages = params.system.trim()
        ? [{ role: "system", content: params.system.trim() }, ...history]
        : history;
      const res = await apiFetch("/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({
          model: params.model,
          messages,
          temperature: params.temperature,
          max_tokens: params.max_tokens,
          stream: true,
        }),
        signal,
      });
      let error: string | undefined;
      await readSSE(res.body!, (data) => {
        const d = chunkDelta(data);
        if (d.error) error = d.error;
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
      if (answer) flush();
      controller = null;
      set({ ...state, streaming: false });
    }
  },
};
