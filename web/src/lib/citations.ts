/** Citation markers in an answer: the model writes [n] for passage n. */

export const CITE_PREFIX = "#cite-";

/** Turn each `[n]` that names a known passage into a Markdown link to `#cite-n`, which the
 * renderer shows as a button that opens the passage. Markers that are already links, or that
 * name no passage (the model may invent some), stay text. */
export function linkCitations(text: string, known: ReadonlySet<number>): string {
  if (!known.size) return text;
  return text.replace(/\[(\d{1,3})\](?![(:])/g, (whole, n: string) =>
    known.has(Number(n)) ? `[[${n}]](${CITE_PREFIX}${n})` : whole,
  );
}

/** Where a passage is, for people: "report.pdf, page 2, Results". */
export function citationPlace(c: { source: string; page: number | null; section: string | null }): string {
  const name = c.source.split(/[\\/]/).pop() || c.source;
  return [name, c.page != null ? `page ${c.page}` : null, c.section].filter(Boolean).join(", ");
}
