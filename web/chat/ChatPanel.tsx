// The chat itself, shared by the hosted chat page, the widget (which frames that page) and the
// console's playground: the conversation, a streamed answer appearing as it is written, its
// citations (each opens to show the passage), and a plain sentence for every failure.

import { useEffect, useRef, useState } from 'preact/hooks';
// Types only: the API's citation shape, without bringing its schema library into the bundle.
import type { Citation } from '../../shared/domain/session.ts';
import { type Api, ApiError, describeError } from '../shared/api.ts';
import './chat.css';

interface Turn {
  id: number;
  role: 'user' | 'assistant';
  text: string;
  citations?: Citation[];
  error?: string;
  fallback?: boolean;
  streaming?: boolean;
}

export interface ChatPanelProps {
  api: Api;
  botId: string;
  /** A tenant key (the console's playground); anonymous without one. */
  apiKey?: string;
  /** The site that embeds the widget, sent so the bot's allowed origins apply to it. */
  embedder?: string;
  greeting?: string;
  /** Keep the conversation across page loads (this browser, this bot). */
  persistSession?: boolean;
}

const sessionKey = (botId: string) => `parley:session:${botId}`;

function readSession(botId: string, persist: boolean): string | undefined {
  if (!persist) return undefined;
  try {
    return localStorage.getItem(sessionKey(botId)) ?? undefined;
  } catch {
    return undefined; // storage blocked (private mode, third-party frame)
  }
}

function writeSession(botId: string, persist: boolean, sessionId: string | undefined) {
  if (!persist) return;
  try {
    if (sessionId) localStorage.setItem(sessionKey(botId), sessionId);
    else localStorage.removeItem(sessionKey(botId));
  } catch {
    // storage blocked: the conversation lasts as long as the page
  }
}

function Citations({ citations }: { citations: Citation[] }) {
  return (
    <ol class="parley-citations" aria-label="Sources">
      {citations.map((c, i) => (
        <li key={`${c.documentId}-${i}`}>
          <details>
            <summary>
              [{c.n ?? i + 1}] {c.filename}
              {c.page !== undefined ? `, page ${c.page}` : ''}
              {c.heading ? ` — ${c.heading}` : ''}
            </summary>
            <blockquote>{c.snippet}</blockquote>
          </details>
        </li>
      ))}
    </ol>
  );
}

export function ChatPanel(props: ChatPanelProps) {
  const persist = props.persistSession ?? true;
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState(false);
  const session = useRef<string | undefined>(readSession(props.botId, persist));
  const nextId = useRef(1);
  const log = useRef<HTMLDivElement>(null);

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [turns]);

  const update = (id: number, change: Partial<Turn>) =>
    setTurns((all) => all.map((t) => (t.id === id ? { ...t, ...change } : t)));

  async function send(event: Event) {
    event.preventDefault();
    const message = draft.trim();
    if (!message || busy) return;
    setDraft('');
    setBusy(true);
    const answerId = nextId.current + 1;
    nextId.current += 2;
    setTurns((all) => [
      ...all,
      { id: answerId - 1, role: 'user', text: message },
      { id: answerId, role: 'assistant', text: '', streaming: true },
    ]);
    let text = '';
    try {
      const headers: Record<string, string> = props.embedder ? { 'x-parley-embedder': props.embedder } : {};
      for await (const { event: name, data } of props.api.stream(`/chat/${props.botId}/stream`, {
        body: { message, ...(session.current ? { sessionId: session.current } : {}) },
        apiKey: props.apiKey,
        headers,
      })) {
        const payload = data as Record<string, unknown>;
        if (name === 'session') {
          session.current = String(payload.sessionId);
          writeSession(props.botId, persist, session.current);
        } else if (name === 'delta') {
          text += String(payload.text ?? '');
          update(answerId, { text });
        } else if (name === 'citations') {
          update(answerId, { citations: payload.citations as Citation[] });
        } else if (name === 'done') {
          update(answerId, { streaming: false, fallback: payload.fallback === true });
        } else if (name === 'error') {
          const code = String(payload.code ?? 'internal');
          throw new ApiError(500, code, String(payload.message ?? ''));
        }
      }
      update(answerId, { streaming: false });
    } catch (error) {
      update(answerId, { streaming: false, error: describeError(error) });
    } finally {
      setBusy(false);
    }
  }

  async function clear() {
    const id = session.current;
    session.current = undefined;
    writeSession(props.botId, persist, undefined);
    setTurns([]);
    if (id) {
      await props.api
        .json(`/chat/${props.botId}/sessions/${id}`, {
          method: 'DELETE',
          apiKey: props.apiKey,
          headers: props.embedder ? { 'x-parley-embedder': props.embedder } : {},
        })
        .catch(() => undefined); // already gone or expired: nothing to forget
    }
  }

  return (
    <section class="parley-chat" aria-label="Chat">
      <div class="parley-log" ref={log} aria-live="polite">
        {props.greeting ? <p class="parley-turn parley-assistant parley-greeting">{props.greeting}</p> : null}
        {turns.map((turn) => (
          <div key={turn.id} class={`parley-turn parley-${turn.role}`} data-role={turn.role}>
            {turn.text ? <p class="parley-text">{turn.text}</p> : null}
            {turn.streaming && !turn.text ? <p class="parley-typing">…</p> : null}
            {turn.error ? (
              <p class="parley-error" role="alert">
                {turn.error}
              </p>
            ) : null}
            {turn.citations && turn.citations.length > 0 ? <Citations citations={turn.citations} /> : null}
          </div>
        ))}
      </div>
      <form class="parley-compose" onSubmit={send}>
        <label class="parley-visually-hidden" for="parley-message">
          Your message
        </label>
        <input
          id="parley-message"
          name="message"
          autocomplete="off"
          maxLength={4000}
          placeholder="Ask a question…"
          value={draft}
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy || !draft.trim()}>
          Send
        </button>
        <button type="button" class="parley-secondary" onClick={clear} title="Start a new conversation">
          New chat
        </button>
      </form>
    </section>
  );
}
