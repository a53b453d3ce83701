import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { formatBytes, formatDuration } from "../../lib/format";
import { MODEL_QUERIES } from "../../lib/models";
import { type PullState, pullEta, pullModel } from "../../lib/pull";
import { percent } from "../../lib/upload";
import { Card } from "../EmptyState";
import { ProgressBar } from "../ProgressBar";

/** Pull `org/repo[:file|:QUANT]` from the Hub with live progress; Cancel aborts the request. */
export function PullCard() {
  const [spec, setSpec] = useState("");
  const [state, setState] = useState<PullState | null>(null);
  const ctl = useRef<AbortController | null>(null);
  const queryClient = useQueryClient();
  const running = state?.phase === "running";

  useEffect(() => () => ctl.current?.abort(), []); // leaving the page stops the pull

  const pull = async (e: React.FormEvent) => {
    e.preventDefault();
    const what = spec.trim();
    if (!what || running) return;
    ctl.current = new AbortController();
    const end = await pullModel(what, setState, ctl.current.signal);
    if (end.phase === "success") {
      toast.success(`Pulled ${end.model}`);
      for (const key of MODEL_QUERIES) void queryClient.invalidateQueries({ queryKey: key });
    } else if (end.phase === "error") toast.error(end.error ?? "the pull failed");
  };

  const pct = state?.total ? percent(state.completed, state.total) : null;
  const eta = state ? pullEta(state) : null;
  return (
    <Card title="Pull from Hugging Face">
      <form onSubmit={pull} className="flex gap-2">
        <label htmlFor="pull-spec" className="sr-only">
          Hugging Face model
        </label>
        <input
          id="pull-spec"
          className="field min-w-0 flex-1 font-mono"
          placeholder="org/repo:Q4_K_M"
          value={spec}
          onChange={(e) => setSpec(e.target.value)}
          disabled={running}
          autoComplete="off"
          spellCheck={false}
        />
        {/* Distinct keys: were the DOM button reused, the click that cancels would find it
            turned back into the submit button and start the pull again. */}
        {running ? (
          <button key="cancel" type="button" className="btn min-w-20" onClick={() => ctl.current?.abort()}>
            Cancel
          </button>
        ) : (
          <button key="pull" type="submit" className="btn-primary min-w-20" disabled={!spec.trim()}>
            Pull
          </button>
        )}
      </form>
      {/* Fixed height whatever the state, so the page does not move as a pull starts or ends. */}
      <div className="mt-3 h-[52px]" aria-live="polite">
        {state ? (
          <>
            <ProgressBar
              value={state.phase === "success" ? 100 : pct}
              label="Pull progress"
              tone={state.phase === "error" ? "red" : state.phase === "success" ? "green" : "violet"}
            />
            <p className="mt-1.5 flex justify-between gap-2 text-xs text-zinc-500 dark:text-zinc-400">
              <span className={`truncate ${state.phase === "error" ? "text-red-600 dark:text-red-400" : ""}`}>
                {state.phase === "error" ? state.error : state.phase === "success" ? `${state.model}: ${state.status}` : state.status}
              </span>
              <span className="shrink-0 tabular-nums">
                {state.total ? `${formatBytes(state.completed)} / ${formatBytes(state.total)}` : ""}
                {state.rate ? ` · ${formatBytes(state.rate)}/s` : ""}
                {eta != null ? ` · ${formatDuration(eta)} left` : ""}
              </span>
            </p>
          </>
        ) : (
          <p className="text-xs text-zinc-500 dark:text-zinc-400">
            A GGUF repository, optionally with a file or quantization: <code>org/repo</code>, <code>org/repo:file.gguf</code>,{" "}
            <code>org/repo:Q4_K_M</code>. Interrupted pulls resume.
          </p>
        )}
      </div>
    </Card>
  );
}
