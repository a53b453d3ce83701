import { useCallback, useEffect, useSyncExternalStore } from "react";

export type ThemeChoice = "system" | "light" | "dark";
const KEY = "impetus.theme";
const query = () => window.matchMedia("(prefers-color-scheme: dark)");

export function resolveTheme(choice: ThemeChoice, systemDark: boolean): "light" | "dark" {
  return choice === "system" ? (systemDark ? "dark" : "light") : choice;
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === "system" ? "light" : choice === "light" ? "dark" : "system";
}

const listeners = new Set<() => void>();
function read(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === "light" || v === "dark" ? v : "system";
}
function subscribe(fn: () => void) {
  listeners.add(fn);
  const mq = query();
  mq.addEventListener("change", fn);
  return () => {
    listeners.delete(fn);
    mq.removeEventListener("change", fn);
  };
}

export function useTheme() {
  const choice = useSyncExternalStore(subscribe, read);
  const systemDark = useSyncExternalStore(subscribe, () => query().matches);
  const resolved = resolveTheme(choice, systemDark);
  useEffect(() => {
    document.documentElement.classList.toggle("dark", resolved === "dark");
  }, [resolved]);
  const setChoice = useCallback((c: ThemeChoice) => {
    localStorage.setItem(KEY, c);
    for (const fn of listeners) fn();
  }, []);
  return { choice, resolved, setChoice, cycle: () => setChoice(nextTheme(choice)) };
}
