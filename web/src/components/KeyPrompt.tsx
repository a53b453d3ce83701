import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { getApiKey, onAuthRequired, setApiKey } from "../lib/api";
import { restartLive } from "../lib/live";

/** Asks for the server's API key when a request is refused; keeps it for the session. */
export function KeyPrompt() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const queryClient = useQueryClient();
  const lastToast = useRef(0);

  useEffect(
    () =>
      onAuthRequired((message) => {
        setOpen(true);
        // One toast per burst of refused requests, with the server's own words.
        if (getApiKey() && Date.now() - lastToast.current > 2000) {
          lastToast.current = Date.now();
          toast.error(message);
        }
      }),
    [],
  );
  useEffect(() => {
    if (open) input.current?.focus();
  }, [open]);

  if (!open) return null;
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!value.trim()) return;
    setApiKey(value.trim());
    setValue("");
    setOpen(false);
    lastToast.current = 0;
    void queryClient.invalidateQueries();
    restartLive();
  };
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/40 p-4" role="presentation">
      <form
        role="dialog"
        aria-modal="true"
        aria-labelledby="key-title"
        onSubmit={submit}
        className="w-full max-w-sm rounded-xl border border-zinc-200 bg-white p-5 shadow-xl dark:border-zinc-800 dark:bg-zinc-900"
      >
        <h2 id="key-title" className="text-base font-semibold">
          API key required
        </h2>
        <p className="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
          This server needs an API key. It is kept in this browser tab's session only.
        </p>
        <label htmlFor="api-key" className="mt-4 block text-sm font-medium">
          API key
        </label>
        <input
          ref={input}
          id="api-key"
          type="password"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          className="mt-1 w-full rounded-lg border border-zinc-300 bg-transparent px-3 py-2 text-sm dark:border-zinc-700"
        />
        <div className="mt-4 flex justify-end">
          <button type="submit" className="btn-primary">
            Continue
          </button>
        </div>
      </form>
    </div>
  );
}
