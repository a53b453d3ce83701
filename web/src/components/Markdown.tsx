import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";
import { CITE_PREFIX, linkCitations } from "../lib/citations";

interface Props {
  text: string;
  /** Passage numbers the answer may cite as [n]; with `onCite`, those markers become buttons. */
  cites?: readonly number[];
  onCite?: (n: number) => void;
}

/** Markdown with GFM tables and highlighted code. Raw HTML is not rendered (no injection). */
export const Markdown = memo(function Markdown({ text, cites, onCite }: Props) {
  const known = new Set(onCite ? cites : []);
  const components: Components | undefined = known.size
    ? {
        a: ({ href, children, node: _node, ...rest }) => {
          if (href?.startsWith(CITE_PREFIX)) {
            const n = Number(href.slice(CITE_PREFIX.length));
            return (
              <button
                type="button"
                className="mx-0.5 rounded bg-violet-100 px-1 align-baseline font-mono text-[0.8em] text-violet-700 hover:bg-violet-200 dark:bg-violet-950 dark:text-violet-300"
                aria-label={`Open source ${n}`}
                onClick={() => onCite?.(n)}
              >
                {n}
              </button>
            );
          }
          return (
            <a href={href} {...rest}>
              {children}
            </a>
          );
        },
      }
    : undefined;
  return (
    <div className="prose-chat">
      <ReactMarkdown
        remarkPlugins={[remarkGfm]}
        rehypePlugins={[[rehypeHighlight, { detect: false }]]}
        components={components}
      >
        {linkCitations(text, known)}
      </ReactMarkdown>
    </div>
  );
});
