import { useQuery } from "@tanstack/react-query";
import { memo, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { useSearchParams } from "react-router";
import { toast } from "sonner";
import { Markdown } from "../components/Markdown";
import { CitationDialog, Sources } from "../components/chat/Citations";
import { CollectionPicker } from "../components/chat/CollectionPicker";
import { apiJSON } from "../lib/api";
import { type Citation, type Message, chatStore } from "../lib/chat";

const RAG_KEY = "impetus.chat.collections";

interface ModelList {
  data: { id: string }[];
}

export function Chat() {
  const { messages, streaming } = useSyncExternalStore(chatStore.subscribe, chatStore.get);
  const models = useQuery({ queryKey: ["models"], queryFn: () => apiJSON<ModelList>("/v1/models") });
  const [model, setModel] = useState("");
  const [temperature, setTemperature] = useState(0.7);
  const [maxTokens, setMaxTokens] = useState(512);
  const [system, setSystem] = useState("");
  const [input, setInput] = useState("");
  // The chosen collections outlive a visit to another page, for this tab's session.
  const [collections, setCollections] = useState<string[]>(() => {
    try {
      return JSON.parse(sessionStorage.getItem(RAG_KEY) ?? "[]") as string[];
    } catch {
      return [];
    }
  });
  useEffect(() => sessionStorage.setItem(RAG_KEY, JSON.stringify(collections)), [collections]);
  const [opened, setOpened] = useState<Citation | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const end = useRef<HTMLDivElement>(null);
  const [params] = useSearchParams();

  const ids = models.data?.data.map((m) => m.id) ?? [];
  const chosen = ids.includes(model) ? model : (ids[0] ?? "");

  useEffect(() => {
    if (params.get("new")) chatStore.clear();
    box.current?.focus();
  }, [params]);
  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [messages]);

  const closeCitation = useCallback(() => setOpened(null), []);

  const send = async () => {
    const text = input.trim();
    if (!text || streaming || !chosen) return;
    setInput("");
    try {
      await chatStore.send(text, { model: chosen, temperature, max_tokens: maxTokens, system, collections });
    } catch (e) {
      setInput(text);
      toast.error(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="flex h-full">
      <div className="flex min-w-0 flex-1 flex-col">
        <div className="flex-1 overflow-y-auto px-6 py-4" aria-live="polite" aria-busy={streaming}>
          <div className="mx-auto flex max-w-3xl flex-col gap-4">
            {messages.length === 0 && (
              <p className="mt-20 text-center text-sm text-zinc-500">
                Ask {chosen || "the model"} anything. Enter sends, Shift+Enter adds a line.
              </p>
            )}
            {messages.map((m, i) => (
              <article
                key={i}
                data-role={m.role}
                className={
                  m.role === "user"
                    ? "self-end rounded-2xl bg-violet-600 px-4 py-2 text-sm whitespace-pre-wrap text-white"
                    : "rounded-2xl border border-zinc-200 bg-white px-4 py-2 dark:border-zinc-800 dark:bg-zinc-900"
                }
              >
                {m.role === "assistant" ? (
                  <AssistantBody message={m} onOpen={setOpened} />
                ) : (
                  m.content
                )}
              </article>
            ))}
            <div ref={end} />
          </div>
        </div>
        <form
          className="border-t border-zinc-200 p-4 dark:border-zinc-800"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <div className="mx-auto flex max-w-3xl gap-2">
            <label htmlFor="chat-input" className="sr-only">
              Message
            </label>
            <textarea
              id="chat-input"
              ref={box}
              rows={2}
              value={input}
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  void send();
                }
              }}
              placeholder="Message"
              className="field flex-1 resize-none"
            />
            {streaming ? (
              <button type="button" className="btn w-20" onClick={() => chatStore.stop()}>
                Stop
              </button>
            ) : (
              <button type="submit" className="btn-primary w-20" disabled={!input.trim() || !chosen}>
                Send
              </button>
            )}
          </div>
        </form>
      </div>
      <aside className="w-64 shrink-0 space-y-4 overflow-y-auto border-l border-zinc-200 p-4 text-sm dark:border-zinc-800" aria-label="Parameters">
        <div>
          <label htmlFor="chat-model" className="mb-1 block font-medium">
            Model
          </label>
          <select id="chat-model" className="field w-full" value={chosen} onChange={(e) => setModel(e.target.value)}>
            {ids.map((id) => (
              <option key={id}>{id}</option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="chat-temperature" className="mb-1 flex justify-between font-medium">
            Temperature <span className="tabular-nums">{temperature.toFixed(2)}</span>
          </label>
          <input
            id="chat-temperature"
            type="range"
            min={0}
            max={2}
            step={0.05}
            value={temperature}
            onChange={(e) => setTemperature(Number(e.target.value))}
            className="w-full accent-violet-600"
          />
        </div>
        <div>
          <label htmlFor="chat-max-tokens" className="mb-1 block font-medium">
            Max tokens
          </label>
          <input
            id="chat-max-tokens"
            type="number"
            min={1}
            max={32768}
            value={maxTokens}
            onChange={(e) => setMaxTokens(Math.max(1, Number(e.target.value) || 1))}
            className="field w-full"
          />
        </div>
        <div>
          <label htmlFor="chat-system" className="mb-1 block font-medium">
            System prompt
          </label>
          <textarea id="chat-system" rows={4} value={system} onChange={(e) => setSystem(e.target.value)} className="field w-full" />
        </div>
        <CollectionPicker value={collections} onChange={setCollections} />
        <button type="button" className="btn w-full" onClick={() => chatStore.clear()} disabled={messages.length === 0}>
          New chat
        </button>
      </aside>
      <CitationDialog citation={opened} onClose={closeCitation} />
    </div>
  );
}

/** An answer and its sources; memoized, so a streaming answer re-renders only itself. */
const AssistantBody = memo(function AssistantBody({
  message,
  onOpen,
}: {
  message: Message;
  onOpen: (c: Citation) => void;
}) {
  const { content, citations } = message;
  const cites = useMemo(() => citations?.map((c) => c.index), [citations]);
  const onCite = useCallback(
    (n: number) => {
      const c = citations?.find((x) => x.index === n);
      if (c) onOpen(c);
    },
    [citations, onOpen],
  );
  return (
    <>
      {content ? (
        <Markdown text={content} cites={cites} onCite={citations ? onCite : undefined} />
      ) : (
        <span className="text-sm text-zinc-400">…</span>
      )}
      {citations && <Sources citations={citations} onOpen={onOpen} />}
    </>
  );
});
