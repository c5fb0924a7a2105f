// Talking to the bot as a visitor would, with the tenant key: private bots work too, and nothing
// is kept after the page closes.

import { ChatPanel } from '../chat/ChatPanel.tsx';
import { href } from './router.ts';
import { useConsole } from './session.ts';
import type { Bot } from './types.ts';

export function Playground({ bot }: { bot: Bot }) {
  const { api, session } = useConsole();
  return (
    <div>
      <h2>Playground</h2>
      <p class="pc-muted">
        Ask what your visitors would ask. Answers cite the{' '}
        <a href={href('bots', bot.id, 'documents')}>documents</a> they come from; open a citation to see the
        passage.
      </p>
      <div class="pc-playground">
        <ChatPanel
          api={api}
          botId={bot.id}
          apiKey={session.key}
          greeting={bot.greeting}
          persistSession={false}
        />
      </div>
    </div>
  );
}
