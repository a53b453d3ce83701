/** A determinate progress bar (indeterminate while `value` is null), labelled for screen readers. */
export function ProgressBar({ value, label, tone = "violet" }: { value: number | null; label: string; tone?: "violet" | "red" | "green" }) {
  const color = { violet: "bg-violet-600", red: "bg-red-500", green: "bg-emerald-500" }[tone];
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value ?? undefined}
      className="h-1.5 w-full overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800"
    >
      <div
        className={`h-full rounded-full ${color} transition-[width] duration-200 ${value == null ? "w-1/3 animate-pulse" : ""}`}
        style={value == null ? undefined : { width: `${value}%` }}
      />
    </div>
  );
}
