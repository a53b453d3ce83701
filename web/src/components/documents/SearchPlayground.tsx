import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { toast } from "sonner";
import {
  DOC_TYPES,
  EMPTY_FILTERS,
  type FilterForm,
  type Hit,
  type Mode,
  baseName,
  buildFilters,
  highlight,
  rag,
} from "../../lib/rag";

const MODES: { id: Mode; label: string }[] = [
  { id: "hybrid", label: "Hybrid" },
  { id: "vector", label: "Vector" },
  { id: "keyword", label: "Keyword" },
];

/** Try queries against a collection: mode, k, hybrid weight and metadata filters, with each
 * hit's score, metadata and text (the query's words highlighted). */
export function SearchPlayground({ collection }: { collection: string }) {
  const [query, setQuery] = useState("");
  const [k, setK] = useState(5);
  const [mode, setMode] = useState<Mode>("hybrid");
  const [weight, setWeight] = useState(0.5);
  const [filters, setFilters] = useState<FilterForm>(EMPTY_FILTERS);
  const search = useMutation({
    mutationFn: (q: string) =>
      rag.search(collection, {
        query: q,
        k,
        mode,
        ...(mode === "hybrid" ? { weight } : {}),
        filters: buildFilters(filters),
      }).then((hits) => ({ q, hits, mode })),
    onError: (e) => toast.error(e.message),
  });
  const setF = <K extends keyof FilterForm>(key: K, value: FilterForm[K]) => setFilters((f) => ({ ...f, [key]: value }));
  const active = buildFilters(filters);

  return (
    <section aria-labelledby="search-title">
      <h3 id="search-title" className="sr-only">
        Search playground
      </h3>
      <form
        className="flex flex-col gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          if (query.trim()) search.mutate(query.trim());
        }}
      >
        <div className="flex gap-2">
          <label htmlFor="search-query" className="sr-only">
            Search query
          </label>
          <input
            id="search-query"
            type="search"
            className="field min-w-0 flex-1"
            placeholder={`Search ${collection}…`}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <button type="submit" className="btn-primary w-24" disabled={!query.trim() || search.isPending}>
            {search.isPending ? "Searching" : "Search"}
          </button>
        </div>
        <div className="flex flex-wrap items-center gap-x-6 gap-y-2 text-sm">
          <fieldset className="flex items-center gap-2">
            <legend className="sr-only">Mode</legend>
            <span className="text-zinc-500" aria-hidden>
              Mode
            </span>
            <div className="inline-flex rounded-lg border border-zinc-300 p-0.5 dark:border-zinc-700">
              {MODES.map((m) => (
                <label
                  key={m.id}
                  className={`cursor-pointer rounded-md px-2.5 py-1 text-xs has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-violet-500 ${
                    mode === m.id ? "bg-violet-600 text-white" : "hover:bg-zinc-100 dark:hover:bg-zinc-800"
                  }`}
                >
                  <input
                    type="radio"
                    name="search-mode"
                    value={m.id}
                    checked={mode === m.id}
                    onChange={() => setMode(m.id)}
                    className="sr-only"
                  />
                  {m.label}
                </label>
              ))}
            </div>
          </fieldset>
          <label className="flex items-center gap-2">
            <span className="text-zinc-500">Results (k)</span>
            <input
              type="number"
              min={1}
              max={100}
              value={k}
              onChange={(e) => setK(Math.min(100, Math.max(1, Number(e.target.value) || 1)))}
              className="field h-8 w-20 py-1"
            />
          </label>
          <label className={`flex items-center gap-2 ${mode === "hybrid" ? "" : "opacity-40"}`}>
            <span className="text-zinc-500">Vector weight</span>
            <input
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={weight}
              disabled={mode !== "hybrid"}
              onChange={(e) => setWeight(Number(e.target.value))}
              className="w-28 accent-violet-600"
            />
            <span className="w-8 tabular-nums">{weight.toFixed(2)}</span>
          </label>
        </div>
        <details className="group rounded-lg border border-zinc-200 dark:border-zinc-800">
          <summary className="cursor-pointer px-3 py-2 text-sm select-none">
            Filters{" "}
            {active && <span className="text-xs text-violet-600 dark:text-violet-400">({Object.keys(active).length} set)</span>}
          </summary>
          <div className="grid grid-cols-1 gap-3 border-t border-zinc-200 p-3 text-sm xl:grid-cols-2 dark:border-zinc-800">
            <label className="flex flex-col gap-1">
              <span className="text-zinc-500">Source (exact file name or path)</span>
              <input className="field" value={filters.source} onChange={(e) => setF("source", e.target.value)} />
            </label>
            <fieldset className="flex flex-col gap-1">
              <legend className="mb-1 text-zinc-500">Type</legend>
              <div className="flex flex-wrap gap-x-3 gap-y-1">
                {DOC_TYPES.map((t) => (
                  <label key={t} className="flex items-center gap-1">
                    <input
                      type="checkbox"
                      className="accent-violet-600"
                      checked={filters.types.includes(t)}
                      onChange={(e) =>
                        setF("types", e.target.checked ? [...filters.types, t] : filters.types.filter((x) => x !== t))
                      }
                    />
                    {t}
                  </label>
                ))}
              </div>
            </fieldset>
            <div className="flex gap-2">
              <label className="flex min-w-0 flex-1 flex-col gap-1">
                <span className="text-zinc-500">Tags (comma-separated)</span>
                <input className="field min-w-0" value={filters.tags} onChange={(e) => setF("tags", e.target.value)} />
              </label>
              <label className="flex flex-col gap-1">
                <span className="text-zinc-500">Match</span>
                <select
                  className="field"
                  value={filters.tagMode}
                  onChange={(e) => setF("tagMode", e.target.value as FilterForm["tagMode"])}
                >
                  <option value="any">any</option>
                  <option value="all">all</option>
                </select>
              </label>
            </div>
            <div className="flex gap-2">
              <label className="flex min-w-0 flex-1 flex-col gap-1">
                <span className="text-zinc-500">Date from</span>
                <input type="date" className="field min-w-0" value={filters.from} onChange={(e) => setF("from", e.target.value)} />
              </label>
              <label className="flex min-w-0 flex-1 flex-col gap-1">
                <span className="text-zinc-500">Date to</span>
                <input type="date" className="field min-w-0" value={filters.to} onChange={(e) => setF("to", e.target.value)} />
              </label>
            </div>
            <label className="flex flex-col gap-1 xl:col-span-2">
              <span className="text-zinc-500">Metadata (key=value, one per line)</span>
              <textarea rows={2} className="field font-mono" value={filters.meta} onChange={(e) => setF("meta", e.target.value)} />
            </label>
            <div className="xl:col-span-2">
              <button type="button" className="btn h-8" onClick={() => setFilters(EMPTY_FILTERS)} disabled={!active}>
                Clear filters
              </button>
            </div>
          </div>
        </details>
      </form>
      <div className="mt-4" aria-live="polite" aria-busy={search.isPending}>
        {search.data &&
          (search.data.hits.length === 0 ? (
            <p className="py-6 text-center text-sm text-zinc-500">No results.</p>
          ) : (
            <ol className="flex flex-col gap-3" aria-label="Search results">
              {search.data.hits.map((h, i) => (
                <HitCard key={h.chunk_id} hit={h} rank={i + 1} query={search.data.q} mode={search.data.mode} />
              ))}
            </ol>
          ))}
      </div>
    </section>
  );
}

function HitCard({ hit, rank, query, mode }: { hit: Hit; rank: number; query: string; mode: Mode }) {
  const where = [hit.page != null ? `page ${hit.page}` : null, hit.section].filter(Boolean).join(" · ");
  return (
    <li
      className="rounded-xl border border-zinc-200 bg-white p-3 dark:border-zinc-800 dark:bg-zinc-900"
      data-testid="search-hit"
    >
      <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1 text-sm">
        <span className="text-xs text-zinc-500 tabular-nums">#{rank}</span>
        <span className="font-medium" title={hit.source}>
          {baseName(hit.source)}
        </span>
        {where && <span className="text-xs text-zinc-500">{where}</span>}
        <span className="ml-auto rounded-md bg-violet-50 px-1.5 py-0.5 font-mono text-xs text-violet-700 tabular-nums dark:bg-violet-950 dark:text-violet-300" title={`${mode} score`}>
          {hit.score.toFixed(4)}
        </span>
      </div>
      <div className="mt-1 flex flex-wrap gap-x-3 text-xs text-zinc-500">
        <span>{hit.type}</span>
        <span>{hit.date.slice(0, 10)}</span>
        <span>chunk {hit.chunk_id.split(":").pop()}</span>
        <span className="tabular-nums">
          chars {hit.start}–{hit.end}
        </span>
        {hit.tags.map((t) => (
          <span key={t}>#{t}</span>
        ))}
        {Object.entries(hit.meta).map(([key, v]) => (
          <span key={key}>
            {key}={v}
          </span>
        ))}
      </div>
      <p className="mt-2 text-sm leading-6 whitespace-pre-wrap text-zinc-700 dark:text-zinc-300" data-testid="hit-text">
        {highlight(hit.text, query).map((s, i) =>
          s.match ? (
            <mark key={i} className="rounded-sm bg-amber-200/70 px-0.5 text-inherit dark:bg-amber-500/30">
              {s.text}
            </mark>
          ) : (
            <span key={i}>{s.text}</span>
          ),
        )}
      </p>
    </li>
  );
}
