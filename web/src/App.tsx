import { Suspense, lazy } from "react";
import { NavLink, Route, Routes } from "react-router";
import { Toaster } from "sonner";
import { CommandPalette } from "./components/CommandPalette";
import { KeyPrompt } from "./components/KeyPrompt";
import { NAV } from "./lib/nav";
import { useTheme } from "./lib/theme";
import { Documents } from "./pages/Documents";
import { Models } from "./pages/Models";
import { Overview } from "./pages/Overview";
import { Settings } from "./pages/Settings";

// Markdown and code highlighting are the bulk of the bundle: load them with the chat page.
const Chat = lazy(() => import("./pages/Chat").then((m) => ({ default: m.Chat })));

export function App() {
  const theme = useTheme();
  return (
    <div className="flex h-full">
      <aside className="flex w-52 shrink-0 flex-col border-r border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900">
        <div className="flex h-14 items-center gap-2 px-4 font-semibold">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          Impetus
        </div>
        <nav aria-label="Main" className="flex flex-1 flex-col gap-0.5 px-2">
          {NAV.map((n) => (
            <NavLink
              key={n.path}
              to={n.path}
              end={n.path === "/"}
              className={({ isActive }) =>
                `rounded-lg px-3 py-2 text-sm ${
                  isActive
                    ? "bg-violet-50 font-medium text-violet-700 dark:bg-violet-950 dark:text-violet-300"
                    : "text-zinc-600 hover:bg-zinc-100 dark:text-zinc-400 dark:hover:bg-zinc-800"
                }`
              }
            >
              {n.label}
            </NavLink>
          ))}
        </nav>
        <div className="flex flex-col gap-2 p-3 text-xs text-zinc-500">
          <button
            type="button"
            onClick={theme.cycle}
            className="btn justify-start"
            aria-label={`Theme: ${theme.choice}. Change theme`}
          >
            Theme: {theme.choice}
          </button>
          <span>
            <kbd className="rounded border border-zinc-300 px-1 dark:border-zinc-700">Ctrl K</kbd> commands
          </span>
        </div>
      </aside>
      <main className="min-w-0 flex-1 overflow-y-auto">
        <Suspense fallback={null}>
        <Routes>
          <Route path="/" element={<Overview />} />
          <Route path="/models" element={<Models />} />
          <Route path="/chat" element={<Chat />} />
          <Route path="/documents" element={<Documents />} />
          <Route path="/settings" element={<Settings />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
        </Suspense>
      </main>
      <CommandPalette setTheme={theme.setChoice} />
      <KeyPrompt />
      <Toaster theme={theme.resolved} richColors closeButton position="bottom-right" />
    </div>
  );
}

function NotFound() {
  return (
    <div className="p-8">
      <h1 className="text-xl font-semibold">Page not found</h1>
      <NavLink to="/" className="mt-2 inline-block text-violet-600 underline">
        Back to the overview
      </NavLink>
    </div>
  );
}
