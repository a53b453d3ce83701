export interface NavItem {
  path: string;
  label: string;
  /** The second key of the `g <key>` shortcut. */
  key: string;
}

export const NAV: NavItem[] = [
  { path: "/", label: "Overview", key: "o" },
  { path: "/models", label: "Models", key: "m" },
  { path: "/chat", label: "Chat", key: "c" },
  { path: "/documents", label: "Documents", key: "d" },
  { path: "/settings", label: "Settings", key: "s" },
];

/** Whether a key event happened in a text field (where shortcuts must not fire). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}
