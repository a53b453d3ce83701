import type { ReactNode } from "react";

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <div className="mx-auto flex h-full max-w-6xl flex-col p-6">
      <header className="mb-5 flex h-9 items-center justify-between gap-4">
        <h1 className="text-xl font-semibold">{title}</h1>
        {actions}
      </header>
      {children}
    </div>
  );
}
