import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { useFeature } from "../../lib/features";
import { rag } from "../../lib/rag";

/** Which RAG collections ground the answer (none: a plain chat). */
export function CollectionPicker({ value, onChange }: { value: string[]; onChange: (v: string[]) => void }) {
  const feature = useFeature("/v1/rag/collections");
  const list = useQuery({ queryKey: ["rag", "collections"], queryFn: rag.collections, enabled: feature.data === true });
  const names = list.data?.map((c) => c.name);
  // A collection deleted elsewhere (or gone since the last visit) drops out of the choice.
  const chosen = names ? value.filter((v) => names.includes(v)) : value;
  useEffect(() => {
    if (chosen.length !== value.length) onChange(chosen);
  }, [chosen, value, onChange]);
  if (feature.data === false) return null;
  return (
    <fieldset>
      <legend className="mb-1 font-medium">Ground in collections</legend>
      {!names || names.length === 0 ? (
        <p className="text-xs text-zinc-500">{names ? "No collections yet (see Documents)." : "Loading…"}</p>
      ) : (
        <ul className="flex max-h-40 flex-col gap-1 overflow-y-auto">
          {names.map((n) => (
            <li key={n}>
              <label className="flex items-center gap-2">
                <input
                  type="checkbox"
                  className="accent-violet-600"
                  checked={chosen.includes(n)}
                  onChange={(e) => onChange(e.target.checked ? [...chosen, n] : chosen.filter((x) => x !== n))}
                />
                <span className="truncate">{n}</span>
              </label>
            </li>
          ))}
        </ul>
      )}
      <p className="mt-1 text-xs text-zinc-500">
        {chosen.length ? "Answers cite passages as [n]; click one to read it." : "None: the model answers alone."}
      </p>
    </fieldset>
  );
}
