// One bot: its name, the tabs (settings, playground, documents, search, test questions, channels,
// conversations) and the tab the hash names. A bot deleted elsewhere says so instead of failing tab by tab.

import { BotSettings } from './bot-settings.tsx';
import { Channels } from './channels.tsx';
import { Conversations } from './conversations.tsx';
import { Documents } from './documents.tsx';
import { Evaluations } from './evaluations.tsx';
import { Playground } from './playground.tsx';
import { href } from './router.ts';
import { Search } from './search.tsx';
import { useConsole } from './session.ts';
import type { Bot } from './types.ts';
import { ErrorAlert, isNotFound, Loading, useLoad, useTitle } from './ui.tsx';

const TABS = [
  ['settings', 'Settings'],
  ['playground', 'Playground'],
  ['documents', 'Documents'],
  ['search', 'Search'],
  ['tests', 'Test questions'],
  ['channels', 'Channels'],
  ['conversations', 'Conversations'],
] as const;

type Tab = (typeof TABS)[number][0];

const isTab = (value: string): value is Tab => TABS.some(([id]) => id === value);

export function BotView({ botId, tab, item }: { botId: string; tab: string; item?: string }) {
  const { call } = useConsole();
  // Fetched again on each tab: cheap, and a bot deleted in another tab is noticed at once.
  const loaded = useLoad(() => call<{ bot: Bot }>(`/admin/bots/${encodeURIComponent(botId)}`), [botId, tab]);
  const bot = loaded.data?.bot.id === botId ? loaded.data.bot : undefined;
  const tabLabel = TABS.find(([id]) => id === tab)?.[1] ?? 'Bot';
  useTitle(bot ? `${tabLabel} · ${bot.name}` : tabLabel);

  if (isNotFound(loaded.error)) return <BotGone />;
  if (!bot) {
    return (
      <section>
        <p class="pc-crumbs">
          <a href={href('bots')}>Bots</a>
        </p>
        <h1>Bot</h1>
        {loaded.error ? <ErrorAlert error={loaded.error} /> : <Loading what="Loading the bot…" />}
      </section>
    );
  }

  const onChange = (next: Bot) => loaded.setData(() => ({ bot: next }));
  return (
    <section>
      <p class="pc-crumbs">
        <a href={href('bots')}>Bots</a> <span aria-hidden="true">/</span> {bot.name}
      </p>
      <h1>{bot.name}</h1>
      {!bot.enabled ? (
        <p class="pc-alert pc-alert-warning">
          This bot is switched off: it answers nobody until it is enabled.
        </p>
      ) : null}
      <nav class="pc-tabs" aria-label="Bot">
        <ul>
          {TABS.map(([id, label]) => (
            <li key={id}>
              <a href={href('bots', bot.id, id)} aria-current={id === tab ? 'page' : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {loaded.error ? <ErrorAlert error={loaded.error} /> : null}
      <div class="pc-tab-panel">
        {isTab(tab) ? (
          <TabPanel tab={tab} bot={bot} item={item} onChange={onChange} onGone={loaded.reload} />
        ) : null}
        {!isTab(tab) ? (
          <p>
            No such tab. <a href={href('bots', bot.id, 'settings')}>Open the settings</a>.
          </p>
        ) : null}
      </div>
    </section>
  );
}

function TabPanel(props: {
  tab: Tab;
  bot: Bot;
  item?: string;
  onChange: (bot: Bot) => void;
  onGone: () => void;
}) {
  const { tab, bot } = props;
  switch (tab) {
    case 'settings':
      return <BotSettings key={bot.id} bot={bot} onSaved={props.onChange} />;
    case 'playground':
      return <Playground key={bot.id} bot={bot} />;
    case 'documents':
      return <Documents key={bot.id} bot={bot} onGone={props.onGone} />;
    case 'search':
      return <Search key={bot.id} bot={bot} onGone={props.onGone} />;
    case 'tests':
      return <Evaluations key={bot.id} bot={bot} onGone={props.onGone} />;
    case 'channels':
      return <Channels key={bot.id} bot={bot} onGone={props.onGone} />;
    case 'conversations':
      return <Conversations key={bot.id} bot={bot} sessionId={props.item} onGone={props.onGone} />;
  }
}

export function BotGone() {
  useTitle('Bot not found');
  return (
    <section>
      <h1>This bot no longer exists</h1>
      <p>It may have been deleted in another window.</p>
      <p>
        <a href={href('bots')}>Back to your bots</a>
      </p>
    </section>
  );
}
