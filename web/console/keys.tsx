// The tenant's API keys: the list (masked: a key's secret is never stored, only its hash), a form
// that makes one and shows its secret this once, rotation and revocation. The API has no rotate
// route, so rotating is making a successor with the same name and then revoking the old key;
// rotating the key this console is signed in with carries the session over to its successor.

import { useState } from 'preact/hooks';
import { formatDate } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { type ConsoleContext, useConsole } from './session.ts';
import type { ApiKey, Page } from './types.ts';
import {
  ConfirmDelete,
  CopyBox,
  ErrorAlert,
  fieldErrors,
  InputField,
  isNotFound,
  Loading,
  Status,
  useSubmit,
  useTitle,
} from './ui.tsx';

/** A key just made: its secret, shown once, and the key it replaces when it came from a rotation. */
interface NewKey {
  key: ApiKey;
  apiKey: string;
  replaces?: { key: ApiKey; old: 'revoking' | 'revoked' | 'still active' };
}

/** The key id inside a full key (`pk_<keyId>_<secret>`), to tell which listed key is the session's. */
const keyIdOf = (apiKey: string): string | undefined => /^pk_([0-9A-Za-z]{16})_/.exec(apiKey)?.[1];

const keyLabel = (key: ApiKey) => (key.name ? `“${key.name}”` : `${key.prefix}…`);

export function Keys() {
  useTitle('API keys');
  const { call } = useConsole();
  const list = usePaged((cursor) => call<Page<ApiKey>>(pagePath('/admin/keys', cursor)), []);
  const [made, setMade] = useState<NewKey | undefined>(undefined);
  const [status, setStatus] = useState('');
  const items = list.data?.items ?? [];

  /** Shows a new key's secret; `reload` when the list is to show the new key (oldest first). */
  const show = (next: NewKey, reload = true) => {
    setStatus('');
    setMade(next);
    if (reload) list.reload();
  };
  const removed = (key: ApiKey) => {
    list.setData((page) => page && { ...page, items: page.items.filter((k) => k.id !== key.id) });
    setStatus(`The key ${keyLabel(key)} was revoked.`);
  };

  return (
    <section>
      <h1>API keys</h1>
      <p class="pc-muted">
        Each key gives full access to this tenant’s bots, documents and conversations through the API. Give
        each system its own key, so that one can be replaced without touching the others.
      </p>
      {made ? <ShownOnce made={made} onDone={() => setMade(undefined)} /> : null}
      <CreateKey onCreated={show} />
      <h2 id="pc-keys-title">Active keys</h2>
      <Status>{status}</Status>
      {list.error ? <ErrorAlert error={list.error} /> : null}
      {!list.data && list.loading ? <Loading what="Loading keys…" /> : null}
      {list.data && items.length === 0 ? <p class="pc-empty">No keys. Create one above.</p> : null}
      {items.length > 0 ? (
        <ul class="pc-list" aria-labelledby="pc-keys-title">
          {items.map((key) => (
            <KeyRow key={key.id} apiKey={key} onRotated={show} onRevoked={() => removed(key)} />
          ))}
        </ul>
      ) : null}
      <LoadMore list={list} label="Load more keys" />
    </section>
  );
}

/** What became of the key a rotation replaces, by its prefix. */
const OLD_KEY: Record<NonNullable<NewKey['replaces']>['old'], (prefix: string) => string> = {
  revoking: (prefix) => `Revoking its old key (${prefix}…).`,
  revoked: (prefix) => `Its old key (${prefix}…) has been revoked and is refused from now on.`,
  'still active': (prefix) =>
    `Its old key (${prefix}…) could not be revoked and still works: revoke it in the list below.`,
};

/** The secret of a key just made: the only time anyone sees it. */
function ShownOnce({ made, onDone }: { made: NewKey; onDone: () => void }) {
  const { replaces } = made;
  return (
    <div class="pc-alert pc-alert-success pc-new-key" role="status">
      <p>
        {replaces ? (
          <>
            The key {keyLabel(replaces.key)} was rotated. {OLD_KEY[replaces.old](replaces.key.prefix)}
          </>
        ) : (
          <>The key {keyLabel(made.key)} was created.</>
        )}
      </p>
      <p>
        <strong>Copy it now: you won’t see it again.</strong> Parley keeps only a hash of it, so it cannot be
        shown later; a lost key can only be rotated or revoked.
      </p>
      <CopyBox text={made.apiKey} what="the new API key" label="New API key" />
      <button type="button" class="pc-secondary" onClick={onDone}>
        I have copied the key
      </button>
    </div>
  );
}

function CreateKey({ onCreated }: { onCreated: (made: NewKey) => void }) {
  const { call } = useConsole();
  const [name, setName] = useState('');
  const { busy, error, run } = useSubmit();
  const errors = fieldErrors(error);

  async function submit(event: Event) {
    event.preventDefault();
    await run(async () => {
      const trimmed = name.trim();
      const made = await call<{ key: ApiKey; apiKey: string }>('/admin/keys', {
        method: 'POST',
        body: trimmed ? { name: trimmed } : {},
      });
      setName('');
      onCreated(made);
    });
  }

  return (
    <form class="pc-card pc-inline-form" onSubmit={submit} noValidate aria-labelledby="pc-create-key-title">
      <h2 id="pc-create-key-title">New key</h2>
      {error && !errors.name ? <ErrorAlert error={error} /> : null}
      <div class="pc-row">
        <InputField
          id="pc-new-key-name"
          label="Name (optional)"
          hint="What uses it, such as “website backend”."
          error={errors.name}
          name="name"
          maxLength={100}
          value={name}
          onValue={setName}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

type Call = ConsoleContext['call'];

/** Revokes `key`; one revoked elsewhere already counts as done. */
async function revokeKey(call: Call, key: ApiKey): Promise<void> {
  try {
    await call(`/admin/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
  } catch (failure) {
    if (!isNotFound(failure)) throw failure; // gone already: the same result
  }
}

/**
 * Rotation as the API allows it: a successor with the same name, then the old key revoked. The
 * successor is shown before the old key goes, so a failure to revoke does not lose the new secret;
 * the list reloads only afterwards, since a reload racing the revocation could be refused with the
 * session's old key. The session moves to the successor when it was signed in with the old one.
 */
async function rotateKey(
  { call, replaceKey }: Pick<ConsoleContext, 'call' | 'replaceKey'>,
  key: ApiKey,
  signedInWith: boolean,
  onRotated: (made: NewKey, reload?: boolean) => void,
): Promise<void> {
  const made = await call<{ key: ApiKey; apiKey: string }>('/admin/keys', {
    method: 'POST',
    body: key.name ? { name: key.name } : {},
  });
  onRotated({ ...made, replaces: { key, old: 'revoking' } }, false);
  let old: 'revoked' | 'still active' = 'still active';
  try {
    await revokeKey(call, key);
    old = 'revoked';
    if (signedInWith) replaceKey(made.apiKey);
  } finally {
    onRotated({ ...made, replaces: { key, old } });
  }
}

function KeyRow({
  apiKey: key,
  onRotated,
  onRevoked,
}: {
  apiKey: ApiKey;
  onRotated: (made: NewKey, reload?: boolean) => void;
  onRevoked: () => void;
}) {
  const context = useConsole();
  const signedInWith = keyIdOf(context.session.key) === key.id;
  const stops = signedInWith
    ? 'This console is signed in with it'
    : 'Anything still using it is refused from the next request';
  return (
    <li class="pc-list-item" data-key-id={key.id}>
      <div>
        <span class="pc-list-title">{key.name || 'Unnamed key'}</span>
        <p class="pc-muted">
          <code>{key.prefix}…</code> · created {formatDate(key.createdAt)} ·{' '}
          {key.lastUsedAt ? `last used ${formatDate(key.lastUsedAt)}` : 'never used'}
        </p>
      </div>
      <div class="pc-tags">
        <span class="pc-badge" data-status="active">
          Active
        </span>
        {signedInWith ? <span class="pc-badge">Signed in with this key</span> : null}
      </div>
      <div class="pc-actions">
        <ConfirmDelete
          label="Rotate"
          buttonName={`Rotate ${keyLabel(key)}`}
          what={`the key ${keyLabel(key)}`}
          consequence={`A new key is made and shown once, and this one is revoked. ${
            signedInWith ? 'This console switches to the new key.' : `${stops}.`
          }`}
          confirmLabel="Yes, rotate"
          onConfirm={() => rotateKey(context, key, signedInWith, onRotated)}
        />
        <ConfirmDelete
          label="Revoke"
          buttonName={`Revoke ${keyLabel(key)}`}
          what={`the key ${keyLabel(key)}`}
          consequence={`${stops}${signedInWith ? ', so you will be signed out' : ''}. This cannot be undone.`}
          confirmLabel="Yes, revoke"
          onConfirm={async () => {
            await revokeKey(context.call, key);
            if (signedInWith)
              context.signOut('You revoked the key you were signed in with. Sign in with another key.');
            else onRevoked();
          }}
        />
      </div>
    </li>
  );
}
