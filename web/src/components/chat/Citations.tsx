import { Link } from "react-router";
import type { Citation } from "../../lib/chat";
import { citationPlace } from "../../lib/citations";
import { Dialog } from "../Dialog";

/** The passages an answer was grounded in, each a button that opens it. */
export function Sources({ citations, onOpen }: { citations: Citation[]; onOpen: (c: Citation) => void }) {
  if (!citations.length) {
    return <p className="mt-2 text-xs text-zinc-500">No passage in the collections matched this question.</p>;
  }
  return (
    <div className="mt-2 border-t border-zinc-100 pt-2 dark:border-zinc-800">
      <h3 className="mb-1 text-xs font-medium text-zinc-500">Sources</h3>
      <ul className="flex flex-wrap gap-1.5" aria-label="Sources">
        {citations.map((c) => (
          <li key={c.index}>
            <button
              type="button"
              onClick={() => onOpen(c)}
              className="flex max-w-64 items-center gap-1.5 rounded-lg border border-zinc-200 px-2 py-1 text-left text-xs hover:border-violet-400 hover:bg-violet-50 dark:border-zinc-700 dark:hover:bg-violet-950"
              aria-label={`Source ${c.index}: ${citationPlace(c)}`}
            >
              <span className="rounded bg-violet-100 px-1 font-mono text-violet-700 dark:bg-violet-950 dark:text-violet-300">
                {c.index}
              </span>
              <span className="truncate">{citationPlace(c)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** One cited passage: its text, document, page and section, and how well it matched. */
export function CitationDialog({ citation, onClose }: { citation: Citation | null; onClose: () => void }) {
  const c = citation;
  return (
    <Dialog open={c !== null} onClose={onClose} wide title={c ? `[${c.index}] ${citationPlace(c)}` : ""}>
      {c && (
        <div className="flex flex-col gap-3">
          <dl className="grid grid-cols-[7rem_minmax(0,1fr)] gap-x-3 gap-y-1 text-xs">
            <dt className="text-zinc-500">Document</dt>
            <dd className="break-all">{c.source}</dd>
            <dt className="text-zinc-500">Page</dt>
            <dd>{c.page ?? "–"}</dd>
            {c.section && (
              <>
                <dt className="text-zinc-500">Section</dt>
                <dd>{c.section}</dd>
              </>
            )}
            <dt className="text-zinc-500">Collection</dt>
            <dd>
              <Link className="text-violet-600 underline dark:text-violet-400" to={`/documents?c=${encodeURIComponent(c.collection)}`}>
                {c.collection}
              </Link>
            </dd>
            <dt className="text-zinc-500">Characters</dt>
            <dd className="tabular-nums">
              {c.start}–{c.end}
            </dd>
            <dt className="text-zinc-500">Score</dt>
            <dd className="font-mono tabular-nums">{c.score.toFixed(4)}</dd>
          </dl>
          <blockquote
            data-testid="passage-text"
            className="rounded-lg border-l-4 border-violet-400 bg-zinc-50 p-3 text-sm leading-6 whitespace-pre-wrap dark:bg-zinc-950"
          >
            {c.text ?? "This server does not send the passage's text with its citations."}
          </blockquote>
        </div>
      )}
    </Dialog>
  );
}
