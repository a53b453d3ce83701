import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

interface Props {
  label: string;
  values: (number | null)[];
  height?: number;
  color?: string;
  /** Join the measured points across nulls (a metric measured only now and then, like TTFT);
   * points are drawn too while they are few, so a lone measurement shows. */
  spanGaps?: boolean;
}

/** Few enough measured points in view to draw each one. */
const SPARSE = 30;

/** A small uPlot line chart; the canvas is sized by its container, so nothing shifts. */
export function Sparkline({ label, values, height = 48, color = "#8b5cf6", spanGaps = false }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const points: uPlot.Series.Points = spanGaps
      ? {
          size: 4,
          fill: color,
          show: (u, i, i0, i1) => {
            let n = 0;
            for (let j = i0; j <= i1; j++) if (u.data[i][j] != null) n++;
            return n <= SPARSE;
          },
        }
      : { show: false };
    const opts: uPlot.Options = {
      width: el.clientWidth || 200,
      height,
      cursor: { show: false },
      legend: { show: false },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(max, 1) * 1.15] } },
      series: [{}, { stroke: color, width: 1.5, fill: `${color}22`, spanGaps, points }],
    };
    plot.current = new uPlot(opts, [[], []], el);
    const ro = new ResizeObserver(() => {
      plot.current?.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [height, color, spanGaps]);

  // Drawn in the next animation frame, not in the task that delivered the metrics: the
  // network task stays short, and a burst of updates costs one draw.
  useEffect(() => {
    const id = requestAnimationFrame(() => {
      const xs = values.map((_, i) => i);
      plot.current?.setData([xs, values] as uPlot.AlignedData);
    });
    return () => cancelAnimationFrame(id);
  }, [values]);

  return <div ref={box} role="img" aria-label={label} style={{ height }} className="w-full" />;
}
