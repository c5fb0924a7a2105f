// A bot's live conversations, newest first, and one conversation's messages with their tokens and
// the passages each answer cited.

import { CHANNEL_CATALOG } from './channel-catalog.ts';
import { formatDate, formatNumber } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { href } from './router.ts';
import { useConsole } from './session.ts';
import type { Bot, ChatSession, Page, StoredMessage } from './types.ts';
import { ErrorAlert, isNotFound, Loading, useLoad } from './ui.tsx';

/** Where a conversation came from: the web, the API, or a messaging channel. */
const CHANNEL_NAMES: Record<string, string> = {
  web: 'Web',
  api: 'API',
  ...Object.fromEntries(CHANNEL_CATALOG.map((entry) => [entry.type, entry.title])),
};

export function Conversations({
  bot,
  sessionId,
  onGone,
}: {
  bot: Bot;
  sessionId?: string;
  onGone: () => void;
}) {
  return sessionId ? (
    <Conversation bot={bot} sessionId={sessionId} onGone={onGone} />
  ) : (
    <SessionList bot={bot} onGone={onGone} />
  );
}

function SessionList({ bot, onGone }: { bot: Bot; onGone: () => void }) {
  const { call } = useConsole();
  const base = `/admin/bots/${encodeURIComponent(bot.id)}/sessions`;
  const list = usePaged(
    async (cursor) => {
      try {
        return await call<Page<ChatSession>>(pagePath(base, cursor));
      } catch (error) {
        if (cursor === undefined && isNotFound(error)) onGone(); // a later page's failure is shown below the list
        throw error;
      }
    },
    [base],
  );

  const items = list.data?.items ?? [];
  return (
    <div>
      <h2>Conversations</h2>
      <p class="pc-muted">Conversations are kept until they have been quiet for the bot’s session TTL.</p>
      <button type="button" class="pc-secondary" onClick={list.reload} disabled={list.loading}>
        Refresh
      </button>
      {list.error ? <ErrorAlert error={list.error} /> : null}
      {!list.data && list.loading ? <Loading what="Loading conversations…" /> : null}
      {list.data && items.length === 0 ? <p class="pc-empty">No conversations yet.</p> : null}
      {items.length > 0 ? (
        <div class="pc-table-wrap">
          <table class="pc-table">
            <caption>Conversations, latest activity first</caption>
            <thead>
              <tr>
                <th scope="col">Conversation</th>
                <th scope="col">Channel</th>
                <th scope="col">Started</th>
                <th scope="col">Last message</th>
              </tr>
            </thead>
            <tbody>
              {items.map((session) => (
                <tr key={session.id}>
                  <th scope="row">
                    <a href={href('bots', bot.id, 'conversations', session.id)}>
                      Open conversation {session.id.slice(-6)}
                    </a>
                  </th>
                  <td>{CHANNEL_NAMES[session.channel] ?? session.channel}</td>
                  <td>{formatDate(session.createdAt)}</td>
                  <td>{formatDate(session.lastMessageAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <LoadMore list={list} label="Load more conversations" />
    </div>
  );
}

function Conversation({ bot, sessionId, onGone }: { bot: Bot; sessionId: string; onGone: () => void }) {
  const { call } = useConsole();
  const path = `/admin/bots/${encodeURIComponent(bot.id)}/sessions/${encodeURIComponent(sessionId)}`;
  const loaded = useLoad(async () => {
    try {
      return await call<{ session: ChatSession; messages: StoredMessage[] }>(path);
    } catch (error) {
      if (isNotFound(error)) onGone(); // the bot's own 404 turns the whole view into "no longer exists"
      throw error;
    }
  }, [path]);
  const back = href('bots', bot.id, 'conversations');

  return (
    <div>
      <p class="pc-crumbs">
        <a href={back}>All conversations</a>
      </p>
      <h2>Conversation</h2>
      {isNotFound(loaded.error) ? (
        <p class="pc-alert pc-alert-info">This conversation has ended or expired.</p>
      ) : loaded.error ? (
        <ErrorAlert error={loaded.error} />
      ) : null}
      {!loaded.data && loaded.loading ? <Loading what="Loading the conversation…" /> : null}
      {loaded.data ? (
        <>
          <dl class="pc-facts">
            <div class="pc-fact">
              <dt>Channel</dt>
              <dd>{CHANNEL_NAMES[loaded.data.session.channel] ?? loaded.data.session.channel}</dd>
            </div>
            <div class="pc-fact">
              <dt>Started</dt>
              <dd>{formatDate(loaded.data.session.createdAt)}</dd>
            </div>
            <div class="pc-fact">
              <dt>Last message</dt>
              <dd>{formatDate(loaded.data.session.lastMessageAt)}</dd>
            </div>
            <div class="pc-fact">
              <dt>Expires</dt>
              <dd>{formatDate(loaded.data.session.expiresAt)}</dd>
            </div>
          </dl>
          {loaded.data.messages.length === 0 ? <p class="pc-empty">No messages.</p> : null}
          <ol class="pc-transcript">
            {loaded.data.messages.map((message) => (
              <li key={message.id} class={`pc-message pc-message-${message.role}`} data-role={message.role}>
                <p class="pc-message-meta">
                  <strong>{message.role === 'user' ? 'User' : 'Bot'}</strong>
                  <span>{formatDate(message.createdAt)}</span>
                  {message.inputTokens || message.outputTokens ? (
                    <span>
                      {formatNumber(message.inputTokens)} in / {formatNumber(message.outputTokens)} out tokens
                    </span>
                  ) : null}
                  {message.latencyMs !== undefined ? (
                    <span>{formatNumber(Math.round(message.latencyMs))} ms</span>
                  ) : null}
                  {message.fallback ? (
                    <span class="pc-badge" data-status="fallback">
                      Fallback
                    </span>
                  ) : message.answered === false ? (
                    <span class="pc-badge" data-status="fallback">
                      Not answered
                    </span>
                  ) : null}
                </p>
                <p class="pc-message-text">{message.content}</p>
                {message.citations && message.citations.length > 0 ? (
                  <details class="pc-citations">
                    <summary>
                      {message.citations.length} {message.citations.length === 1 ? 'source' : 'sources'}
                    </summary>
                    <ol>
                      {message.citations.map((citation, index) => (
                        <li key={`${citation.documentId}-${index}`}>
                          [{citation.n ?? index + 1}] <strong>{citation.filename}</strong>
                          {citation.page !== undefined ? `, page ${citation.page}` : ''}
                          {citation.heading ? ` — ${citation.heading}` : ''} (score{' '}
                          {citation.score.toFixed(3)})<blockquote>{citation.snippet}</blockquote>
                        </li>
                      ))}
                    </ol>
                  </details>
                ) : null}
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </div>
  );
}
