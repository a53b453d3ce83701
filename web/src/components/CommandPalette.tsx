import { Command } from "cmdk";
import { useEffect, useState } from "react";
import { useNavigate } from "react-router";
import { NAV, isTyping } from "../lib/nav";
import type { ThemeChoice } from "../lib/theme";

interface Props {
  setTheme: (t: ThemeChoice) => void;
}

/** ⌘K / Ctrl-K: jump to a page or run an action. Also `g o`, `g c`… to go to a page. */
export function CommandPalette({ setTheme }: Props) {
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();

  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent) => {
      if ((e.metaKey || e.ctrlKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setOpen((o) => !o);
        return;
      }
      if (isTyping(e.target) || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === "g") {
        pendingG = Date.now();
        return;
      }
      if (Date.now() - pendingG < 1000) {
        const item = NAV.find((n) => n.key === e.key);
        pendingG = 0;
        if (item) navigate(item.path);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate]);

  const run = (fn: () => void) => {
    setOpen(false);
    fn();
  };
  const item =
    "flex cursor-pointer items-center justify-between rounded-md px-3 py-2 text-sm data-[selected=true]:bg-violet-600 data-[selected=true]:text-white";
  return (
    <Command.Dialog
      open={open}
      onOpenChange={setOpen}
      label="Command palette"
      overlayClassName="fixed inset-0 z-40 bg-black/40"
      contentClassName="fixed left-1/2 top-[15vh] z-50 w-[min(36rem,90vw)] -translate-x-1/2 overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-2xl dark:border-zinc-800 dark:bg-zinc-900"
    >
      <Command.Input
        placeholder="Type a command or a page…"
        className="w-full border-b border-zinc-200 bg-transparent px-4 py-3 text-sm outline-none dark:border-zinc-800"
      />
      <Command.List className="max-h-80 overflow-y-auto p-2">
        <Command.Empty className="px-3 py-2 text-sm text-zinc-500">No results.</Command.Empty>
        <Command.Group heading="Go to" className="text-xs text-zinc-500 [&_[cmdk-group-heading]]:px-3 [&_[cmdk-group-heading]]:py-1">
          {NAV.map((n) => (
            <Command.Item key={n.path} className={item} onSelect={() => run(() => navigate(n.path))}>
              {n.label}
              <kbd className="text-xs opacity-60">g {n.key}</kbd>
            </Command.Item>
          ))}
        </Command.Group>
        <Command.Group heading="Theme" className="text-xs text-zinc-500 [&_[cmdk-group-heading]]:px-3 [&_[cmdk-group-heading]]:py-1">
          {(["system", "light", "dark"] as const).map((t) => (
            <Command.Item key={t} className={item} onSelect={() => run(() => setTheme(t))}>
              Theme: {t}
            </Command.Item>
          ))}
        </Command.Group>
        <Command.Group heading="Chat" className="text-xs text-zinc-500 [&_[cmdk-group-heading]]:px-3 [&_[cmdk-group-heading]]:py-1">
          <Command.Item className={item} onSelect={() => run(() => navigate("/chat?new=" + Date.now()))}>
            New chat
          </Command.Item>
        </Command.Group>
      </Command.List>
    </Command.Dialog>
  );
}
