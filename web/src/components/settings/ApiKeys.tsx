import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { getApiKey, setApiKey } from "../../lib/api";
import { formatAgo } from "../../lib/format";
import { type KeyInfo, createKey, isSessionKey, listKeys, revokeKey } from "../../lib/keys";
import { restartLive } from "../../lib/live";
import { ConfirmDialog } from "../ConfirmDialog";
import { Card } from "../EmptyState";

/** Create (the secret is shown once), list and revoke API keys. */
export function ApiKeys() {
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ["admin-keys"], queryFn: listKeys });
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<{ name: string; secret: string; adopted: boolean } | null>(null);
  const [revoking, setRevoking] = useState<KeyInfo | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["admin-keys"] });

  const create = useMutation({
    mutationFn: (n: string) => createKey(n),
    onSuccess: (made) => {
      // On an open server this key just turned auth on: this tab must use it from now on,
      // or its next request would be refused.
      const adopted = !getApiKey();
      if (adopted) {
        setApiKey(made.key);
        restartLive();
      }
      setSecret({ name: made.name, secret: made.key, adopted });
      setName("");
      void refresh();
    },
    onError: (e: Error) => toast.error(e.message),
  });
  const revoke = useMutation({
    mutationFn: (k: KeyInfo) => revokeKey(k.id),
    onSuccess: (r, k) => {
      toast.success(`Revoked ${r.name}`);
      if (isSessionKey(k)) {
        // Our own key is gone: with auth still on the key prompt asks for another; with
        // none left the server is open again.
        setApiKey(null);
        restartLive();
        void queryClient.invalidateQueries();
      }
    },
    onError: (e: Error) => toast.error(e.message),
    onSettled: () => {
      setRevoking(null);
      void refresh();
    },
  });

  const auth = keys.data?.auth;
  return (
    <Card title="API keys" className="lg:col-span-2">
      <div className="min-h-10 text-sm" data-testid="auth-state">
        {auth == null ? null : auth.required ? (
          <p className="text-zinc-600 dark:text-zinc-400">
            Every API (<code>/v1</code>, <code>/api</code>, <code>/v1/messages</code>) needs a key, as <code>Authorization: Bearer</code> or{" "}
            <code>x-api-key</code>.{" "}
            {auth.config_keys > 0 && `${auth.config_keys} key${auth.config_keys > 1 ? "s" : ""} from the configuration (not listed here) also work.`}
          </p>
        ) : (
          <p className="rounded-lg border border-amber-300 bg-amber-50 px-3 py-2 text-amber-900 dark:border-amber-800 dark:bg-amber-950/40 dark:text-amber-200">
            <strong>Authentication is off.</strong> This server listens on a loopback address with no keys, so any program on this machine can use it.
            Creating the first key turns keys on for every API; this browser tab keeps the new key for its session. Other clients (the CLI,
            the tray, your scripts) then need it too: <code className="whitespace-nowrap">--api-key</code> or <code>IMPETUS_API_KEY</code>.
          </p>
        )}
      </div>
      <form
        className="mt-3 flex items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) create.mutate(name.trim());
        }}
      >
        <div className="flex min-w-0 flex-1 flex-col">
          <label htmlFor="key-name" className="mb-1 text-sm font-medium">
            Key name
          </label>
          <input
            id="key-name"
            className="field"
            placeholder="e.g. laptop scripts"
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
            autoComplete="off"
          />
        </div>
        <button type="submit" className="btn-primary min-w-28" disabled={!name.trim() || create.isPending}>
          {create.isPending ? "Creating…" : "Create key"}
        </button>
      </form>
      {secret && <NewSecret {...secret} onDone={() => setSecret(null)} />}
      <div className="mt-4 overflow-x-auto">
        <table className="w-full min-w-[560px] text-sm">
          <thead className="text-left text-xs text-zinc-500 dark:text-zinc-400">
            <tr>
              <th className="py-2 pr-3 font-medium">Name</th>
              <th className="pr-3 font-medium">Key</th>
              <th className="pr-3 font-medium">Created</th>
              <th className="pr-3 font-medium">Last used</th>
              <th className="text-right font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(keys.data?.keys ?? []).map((k) => (
              <tr key={k.id} data-key={k.name} className="h-11 border-t border-zinc-100 dark:border-zinc-800">
                <td className="pr-3 font-medium">
                  {k.name}
                  {isSessionKey(k) && <span className="ml-2 text-xs font-normal text-violet-600 dark:text-violet-400">this browser</span>}
                </td>
                <td className="pr-3 font-mono text-xs">{k.prefix}…</td>
                <td className="pr-3 text-zinc-500 dark:text-zinc-400" title={new Date(k.created_at * 1000).toLocaleString()}>
                  {formatAgo(k.created_at)}
                </td>
                <td className="pr-3 text-zinc-500 dark:text-zinc-400">{formatAgo(k.last_used_at)}</td>
                <td className="text-right">
                  <button type="button" className="btn h-8 px-2.5 text-red-600 dark:text-red-400" onClick={() => setRevoking(k)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
            {keys.data && keys.data.keys.length === 0 && (
              <tr className="h-11 border-t border-zinc-100 dark:border-zinc-800">
                <td colSpan={5} className="text-zinc-500 dark:text-zinc-400">
                  No keys created here yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={revoking != null}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke"
        busy={revoke.isPending}
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoking && revoke.mutate(revoking)}
      >
        Requests with this key are refused from now on; this cannot be undone.
        {revoking && isSessionKey(revoking) && " This browser uses it: you will be asked for another key."}
        {auth && !auth.config_keys && auth.keys === 1 && " It is the last key: the server becomes open to every program on this machine again."}
      </ConfirmDialog>
    </Card>
  );
}

// (not `key`: React keeps that prop for itself)
function NewSecret({ name, secret, adopted, onDone }: { name: string; secret: string; adopted: boolean; onDone: () => void }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => field.current?.select(), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      // No clipboard permission (or not a secure context): select it for Ctrl-C instead.
      field.current?.select();
      toast.error("Could not copy: the key is selected, press Ctrl-C");
      return;
    }
    setCopied(true);
    toast.success("Key copied");
  };
  return (
    <div role="region" aria-label="New API key" className="mt-4 rounded-lg border border-violet-300 bg-violet-50 p-3 dark:border-violet-800 dark:bg-violet-950/40">
      <p className="text-sm font-medium">Key “{name}” created. Copy it now: it is not shown again.</p>
      {adopted && <p className="mt-1 text-xs text-zinc-600 dark:text-zinc-400">This browser tab now uses it for its session.</p>}
      <div className="mt-2 flex gap-2">
        <label htmlFor="new-key" className="sr-only">
          New API key
        </label>
        <input id="new-key" ref={field} readOnly value={secret} className="field min-w-0 flex-1 bg-white font-mono text-xs dark:bg-zinc-900" onFocus={(e) => e.target.select()} />
        <button type="button" className="btn min-w-20" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" className="btn-primary" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
