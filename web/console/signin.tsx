// Signing in with a key: a tenant key (pk_…) opens the tenant's bots, the operator key opens the
// tenants. The key is checked against the API before anything is stored.

import { useState } from 'preact/hooks';
import type { Api } from '../shared/api.ts';
import { detectRole, type Session } from './session.ts';
import { ErrorAlert, InputField, useTitle } from './ui.tsx';

export function SignIn(props: { api: Api; notice?: string; onSignedIn: (session: Session) => void }) {
  useTitle('Sign in');
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  async function submit(event: Event) {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const role = await detectRole(props.api, trimmed);
      props.onSignedIn({ key: trimmed, role });
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <main class="pc-signin" id="main">
      <form class="pc-card" onSubmit={submit}>
        <h1>Sign in to Parley</h1>
        <p class="pc-muted">
          Use a tenant key (it starts with <code>pk_</code>) to manage your bots, or the operator key to
          manage tenants. The key is kept in this tab only and forgotten when you sign out or close it.
        </p>
        {props.notice && !error ? (
          <div class="pc-alert pc-alert-info" role="status">
            <p>{props.notice}</p>
          </div>
        ) : null}
        {error ? <ErrorAlert error={error} /> : null}
        <InputField
          id="pc-signin-key"
          label="API key"
          type="password"
          name="key"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onValue={setKey}
        />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
