// The tenant's bots: the list, and a form that creates one by name (every other setting starts at
// its default and is changed on the bot's Settings tab).

import { useState } from 'preact/hooks';
import { formatDate } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { href, navigate } from './router.ts';
import { useConsole } from './session.ts';
import type { Bot, Page } from './types.ts';
import { ErrorAlert, fieldErrors, InputField, Loading, useTitle } from './ui.tsx';

export function Bots() {
  useTitle('Bots');
  const { call } = useConsole();
  const bots = usePaged((cursor) => call<Page<Bot>>(pagePath('/admin/bots', cursor)), []);

  return (
    <section>
      <h1>Bots</h1>
      <CreateBot />
      <h2>Your bots</h2>
      {bots.error ? <ErrorAlert error={bots.error} /> : null}
      {!bots.data && bots.loading ? <Loading what="Loading bots…" /> : null}
      {bots.data && bots.data.items.length === 0 ? (
        <p class="pc-empty">No bots yet. Create your first one above.</p>
      ) : null}
      {bots.data && bots.data.items.length > 0 ? (
        <ul class="pc-list pc-bot-list">
          {bots.data.items.map((bot) => (
            <li key={bot.id} class="pc-list-item">
              <div>
                <a class="pc-list-title" href={href('bots', bot.id, 'settings')}>
                  {bot.name}
                </a>
                {bot.description ? <p class="pc-muted">{bot.description}</p> : null}
              </div>
              <div class="pc-tags">
                <span class="pc-badge" data-status={bot.visibility}>
                  {bot.visibility === 'public' ? 'Public' : 'Private'}
                </span>
                <span class="pc-badge" data-status={bot.enabled ? 'enabled' : 'disabled'}>
                  {bot.enabled ? 'Enabled' : 'Disabled'}
                </span>
                <span class="pc-muted">Updated {formatDate(bot.updatedAt)}</span>
              </div>
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore list={bots} label="Load more bots" />
    </section>
  );
}

function CreateBot() {
  const { call } = useConsole();
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const errors = fieldErrors(error);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { bot } = await call<{ bot: Bot }>('/admin/bots', { method: 'POST', body: { name } });
      navigate('bots', bot.id, 'settings');
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <form class="pc-card pc-inline-form" onSubmit={submit} aria-labelledby="pc-create-bot-title">
      <h2 id="pc-create-bot-title">New bot</h2>
      {error && !errors.name ? <ErrorAlert error={error} /> : null}
      <div class="pc-row">
        <InputField
          id="pc-new-bot-name"
          label="Name"
          error={errors.name}
          name="name"
          maxLength={100}
          required
          value={name}
          onValue={setName}
        />
        <button type="submit" disabled={busy || !name.trim()}>
          {busy ? 'Creating…' : 'Create bot'}
        </button>
      </div>
    </form>
  );
}
