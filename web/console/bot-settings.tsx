// Every setting of a bot in one form. Only the settings that changed are sent (PATCH), so an edit
// made elsewhere to another setting survives; the API validates, and each problem it names is
// shown beside its field and in a summary at the top.

import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../shared/api.ts';
import { navigate } from './router.ts';
import { useConsole } from './session.ts';
import type { Bot } from './types.ts';
import { ConfirmDelete, CopyBox, ErrorAlert, Field, Status, useSubmit } from './ui.tsx';

type Kind = 'text' | 'textarea' | 'number' | 'decimal' | 'select' | 'checkbox' | 'lines' | 'optional-url';

interface Spec {
  path: string;
  label: string;
  kind: Kind;
  options?: readonly (readonly [value: string, label: string])[];
  hint?: string;
  rows?: number;
  min?: number;
  max?: number;
}

const GROUPS: readonly { title: string; fields: readonly Spec[] }[] = [
  {
    title: 'Basics',
    fields: [
      { path: 'name', label: 'Name', kind: 'text' },
      {
        path: 'description',
        label: 'Description',
        kind: 'textarea',
        rows: 2,
        hint: 'For you; the bot never sees it.',
      },
      { path: 'enabled', label: 'Enabled', kind: 'checkbox', hint: 'When off, the bot answers nobody.' },
    ],
  },
  {
    title: 'Conversation',
    fields: [
      {
        path: 'persona',
        label: 'Persona',
        kind: 'textarea',
        rows: 3,
        hint: 'Personality and tone, added to the system prompt.',
      },
      { path: 'systemPrompt', label: 'System prompt', kind: 'textarea', rows: 6 },
      {
        path: 'greeting',
        label: 'Greeting',
        kind: 'textarea',
        rows: 2,
        hint: 'The first message a visitor sees.',
      },
      {
        path: 'fallbackMessage',
        label: 'Fallback message',
        kind: 'textarea',
        rows: 2,
        hint: 'Sent when the model provider stays down.',
      },
      {
        path: 'noAnswerMessage',
        label: 'No-answer message',
        kind: 'textarea',
        rows: 2,
        hint: 'Sent, without calling the model, when nothing in the documents is relevant to the question.',
      },
      {
        path: 'unsupportedMessage',
        label: 'Unsupported message',
        kind: 'textarea',
        rows: 2,
        hint: 'Sent on messaging channels for images, voice and other non-text input.',
      },
    ],
  },
  {
    title: 'Model',
    fields: [
      {
        path: 'model.provider',
        label: 'Model provider',
        kind: 'select',
        options: [
          ['local', 'Local (extractive, no model)'],
          ['bedrock', 'Amazon Bedrock'],
          ['openai', 'OpenAI'],
        ],
      },
      { path: 'model.id', label: 'Model ID', kind: 'text', hint: 'Required for Bedrock and OpenAI.' },
      {
        path: 'temperature',
        label: 'Temperature',
        kind: 'decimal',
        min: 0,
        max: 2,
        hint: 'From 0 (focused) to 2 (inventive).',
      },
      {
        path: 'maxTokens',
        label: 'Max tokens',
        kind: 'number',
        min: 1,
        max: 32000,
        hint: 'The longest answer, in tokens.',
      },
      {
        path: 'historyTurns',
        label: 'History turns',
        kind: 'number',
        min: 0,
        max: 100,
        hint: 'Earlier messages sent with each question.',
      },
    ],
  },
  {
    title: 'Knowledge',
    fields: [
      {
        path: 'retrieval.topK',
        label: 'Retrieval top K',
        kind: 'number',
        min: 1,
        max: 50,
        hint: 'Passages given to the model per question.',
      },
      {
        path: 'retrieval.minScore',
        label: 'Retrieval minimum score',
        kind: 'decimal',
        min: 0,
        max: 1,
        hint: 'Vector matches with a lower cosine similarity (0 to 1) are not cited.',
      },
      {
        path: 'retrieval.mode',
        label: 'Search mode',
        kind: 'select',
        options: [
          ['hybrid', 'Hybrid (keywords and meaning)'],
          ['vector', 'Meaning only (vector)'],
          ['keyword', 'Keywords only (BM25)'],
        ],
      },
      {
        path: 'retrieval.keywordCoverage',
        label: 'Keyword coverage',
        kind: 'decimal',
        min: 0,
        max: 1,
        hint: "Share of the question's words (rarer words weigh more) a keyword match must hold to be cited.",
      },
      {
        path: 'retrieval.abstain',
        label: 'Answer only from the documents',
        kind: 'checkbox',
        hint: 'When nothing relevant is found, send the no-answer message without asking the model.',
      },
      {
        path: 'retrieval.rerank',
        label: 'Rerank',
        kind: 'checkbox',
        hint: 'Reorder the best matches with the deployment’s reranking model (when it has one).',
      },
      {
        path: 'chunking.size',
        label: 'Chunk size',
        kind: 'number',
        min: 200,
        max: 8000,
        hint: 'Characters per passage, for documents uploaded from now on.',
      },
      {
        path: 'chunking.overlap',
        label: 'Chunk overlap',
        kind: 'number',
        min: 0,
        max: 2000,
        hint: 'Characters shared by neighbouring passages: at most a quarter of the chunk size.',
      },
    ],
  },
  {
    title: 'Sessions and rate limits',
    fields: [
      {
        path: 'sessionTtlSeconds',
        label: 'Session TTL (seconds)',
        kind: 'number',
        min: 60,
        hint: 'How long a quiet conversation is kept.',
      },
      {
        path: 'rateLimits.perMinute',
        label: 'Rate limit per minute',
        kind: 'number',
        min: 1,
        hint: 'Messages per minute, all users together.',
      },
      {
        path: 'rateLimits.perSecond',
        label: 'Rate limit per second',
        kind: 'number',
        min: 1,
        hint: 'Messages per second, all users together.',
      },
      {
        path: 'rateLimits.perUserPerMinute',
        label: 'Rate limit per user per minute',
        kind: 'number',
        min: 1,
      },
    ],
  },
  {
    title: 'Publishing',
    fields: [
      {
        path: 'visibility',
        label: 'Visibility',
        kind: 'select',
        options: [
          ['private', 'Private (API with a tenant key only)'],
          ['public', 'Public (widget and hosted page)'],
        ],
      },
      {
        path: 'allowedOrigins',
        label: 'Allowed origins',
        kind: 'lines',
        rows: 3,
        hint: 'Websites that may embed the widget, one per line, such as https://example.com. Browsers honour this; other programs can still call a public bot, and their messages count toward your plan (rate limits and quotas bound that, not origins).',
      },
    ],
  },
  {
    title: 'Branding',
    fields: [
      {
        path: 'branding.title',
        label: 'Branding title',
        kind: 'text',
        hint: 'Shown at the top of the chat; the bot’s name when empty.',
      },
      { path: 'branding.color', label: 'Branding color', kind: 'text', hint: 'A colour like #2563eb.' },
      {
        path: 'branding.position',
        label: 'Branding position',
        kind: 'select',
        options: [
          ['bottom-right', 'Bottom right'],
          ['bottom-left', 'Bottom left'],
        ],
      },
      {
        path: 'branding.logoUrl',
        label: 'Logo URL',
        kind: 'optional-url',
        hint: 'An https address; empty for none.',
      },
    ],
  },
];

const SPECS = GROUPS.flatMap((group) => group.fields);

type Draft = Record<string, string | boolean>;

const fieldId = (path: string) => `pc-setting-${path.replace(/\./g, '-')}`;

function read(source: unknown, path: string): unknown {
  let value = source;
  for (const part of path.split('.')) {
    value =
      value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  return value;
}

function write(target: Record<string, unknown>, path: string, value: unknown) {
  const parts = path.split('.');
  const last = parts.pop() ?? path;
  let node = target;
  for (const part of parts) {
    const next = node[part];
    if (next === null || typeof next !== 'object') node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[last] = value;
}

function toDraft(bot: Bot): Draft {
  const draft: Draft = {};
  for (const spec of SPECS) {
    const value = read(bot, spec.path);
    if (spec.kind === 'checkbox') draft[spec.path] = value === true;
    else if (spec.kind === 'lines') draft[spec.path] = Array.isArray(value) ? value.join('\n') : '';
    else draft[spec.path] = value === null || value === undefined ? '' : String(value);
  }
  return draft;
}

/** The value the API takes for a field; a number that does not parse is sent as typed, for the API to name. */
function fromDraft(spec: Spec, value: string | boolean): unknown {
  if (typeof value === 'boolean') return value;
  switch (spec.kind) {
    case 'number':
    case 'decimal': {
      const trimmed = value.trim();
      if (!trimmed) return null;
      const parsed = Number(trimmed);
      return Number.isFinite(parsed) ? parsed : trimmed;
    }
    case 'lines':
      return value
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean);
    case 'optional-url':
      return value.trim() || null;
    default:
      return value;
  }
}

function toPatch(draft: Draft, original: Draft): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  let modelChanged = false;
  for (const spec of SPECS) {
    const value = draft[spec.path] ?? '';
    if (value === original[spec.path]) continue;
    if (spec.path.startsWith('model.')) modelChanged = true;
    else write(patch, spec.path, fromDraft(spec, value));
  }
  if (modelChanged) {
    // The API replaces the model whole: send both parts.
    const id = String(draft['model.id'] ?? '').trim();
    patch.model = { provider: draft['model.provider'], ...(id ? { id } : {}) };
  }
  return patch;
}

/** The field an error path belongs to: itself, a parent (`allowedOrigins.2`), or a group's first field. */
function specFor(path: string): Spec | undefined {
  return (
    SPECS.find((spec) => spec.path === path) ??
    SPECS.find((spec) => path.startsWith(`${spec.path}.`)) ??
    SPECS.find((spec) => spec.path.startsWith(`${path}.`))
  );
}

function labelFor(path: string): string {
  const spec = specFor(path);
  if (!spec) return path;
  const rest = path.slice(spec.path.length + 1);
  // Arrays are reported by index; people count lines from one.
  return spec.kind === 'lines' && /^\d+$/.test(rest)
    ? `${spec.label} (line ${Number(rest) + 1})`
    : spec.label;
}

function errorsByField(error: unknown): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!(error instanceof ApiError)) return errors;
  for (const detail of error.details) {
    const spec = specFor(detail.path);
    if (!spec) continue;
    const rest = detail.path.slice(spec.path.length + 1);
    const message =
      spec.kind === 'lines' && /^\d+$/.test(rest)
        ? `line ${Number(rest) + 1}: ${detail.message}`
        : detail.message;
    errors[spec.path] = errors[spec.path] ? `${errors[spec.path]}; ${message}` : message;
  }
  return errors;
}

export function BotSettings({ bot, onSaved }: { bot: Bot; onSaved: (bot: Bot) => void }) {
  const { call } = useConsole();
  const [original, setOriginal] = useState(() => toDraft(bot));
  const [draft, setDraft] = useState(original);
  const { busy, error, setError, run } = useSubmit();
  const [status, setStatus] = useState('');
  const summary = useRef<HTMLDivElement>(null);
  const errors = errorsByField(error);
  const dirty = SPECS.some((spec) => draft[spec.path] !== original[spec.path]);

  const set = (path: string, value: string | boolean) => {
    setDraft((current) => ({ ...current, [path]: value }));
    setStatus('');
  };

  async function save(event: Event) {
    event.preventDefault();
    const patch = toPatch(draft, original);
    if (Object.keys(patch).length === 0) {
      setStatus('Nothing to save: no setting was changed.');
      return;
    }
    setStatus('');
    await run(
      async () => {
        const { bot: saved } = await call<{ bot: Bot }>(`/admin/bots/${encodeURIComponent(bot.id)}`, {
          method: 'PATCH',
          body: patch,
        });
        const next = toDraft(saved);
        setOriginal(next);
        setDraft(next);
        setStatus('Saved.');
        onSaved(saved);
      },
      // The summary is where a keyboard or screen-reader user learns what went wrong.
      () => requestAnimationFrame(() => summary.current?.focus()),
    );
  }

  const focusField = (path: string) => {
    const spec = specFor(path);
    if (spec) document.getElementById(fieldId(spec.path))?.focus();
  };

  return (
    <div class="pc-settings">
      <h2>Settings</h2>
      <form onSubmit={save} noValidate aria-describedby={error ? 'pc-settings-summary' : undefined}>
        {error ? (
          <div
            class="pc-alert pc-alert-error"
            id="pc-settings-summary"
            role="alert"
            tabIndex={-1}
            ref={summary}
          >
            <SaveError error={error} onPick={focusField} />
          </div>
        ) : null}
        {GROUPS.map((group) => (
          <fieldset key={group.title} class="pc-fieldset">
            <legend>{group.title}</legend>
            <div class="pc-grid">
              {group.fields.map((spec) => (
                <SettingField
                  key={spec.path}
                  spec={spec}
                  value={draft[spec.path] ?? ''}
                  error={errors[spec.path]}
                  onChange={set}
                />
              ))}
            </div>
            {group.title === 'Publishing' ? <Embed bot={bot} /> : null}
          </fieldset>
        ))}
        <div class="pc-savebar">
          <button type="submit" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
          <button
            type="button"
            class="pc-secondary"
            disabled={busy || !dirty}
            onClick={() => {
              setDraft(original);
              setError(undefined);
              setStatus('Changes discarded.');
            }}
          >
            Discard changes
          </button>
          <Status>{status}</Status>
        </div>
      </form>
      <section class="pc-danger-zone" aria-labelledby="pc-delete-bot">
        <h2 id="pc-delete-bot">Delete this bot</h2>
        <p>Deletes the bot with its documents, channel connections and conversations.</p>
        <ConfirmDelete
          what={`the bot “${bot.name}”`}
          label="Delete"
          confirmLabel="Yes, delete the bot"
          onConfirm={async () => {
            await call(`/admin/bots/${encodeURIComponent(bot.id)}`, { method: 'DELETE' });
            navigate('bots');
          }}
        />
      </section>
    </div>
  );
}

function SaveError({ error, onPick }: { error: unknown; onPick: (path: string) => void }) {
  if (!(error instanceof ApiError) || error.details.length === 0) return <ErrorAlertBody error={error} />;
  return (
    <>
      <p>
        The settings were not saved:{' '}
        {error.details.length === 1 ? 'one setting needs' : `${error.details.length} settings need`} your
        attention.
      </p>
      <ul>
        {error.details.map((detail) => (
          <li key={`${detail.path}:${detail.message}`}>
            <button type="button" class="pc-link" onClick={() => onPick(detail.path)}>
              {labelFor(detail.path)}
            </button>
            : {detail.message}
          </li>
        ))}
      </ul>
    </>
  );
}

/** The message of a non-validation failure (409, network), inside the summary box. */
function ErrorAlertBody({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 409) {
    return (
      <p>The bot was changed elsewhere while you edited it. Reload the page to see the latest settings.</p>
    );
  }
  return <ErrorAlert error={error} />;
}

function SettingField(props: {
  spec: Spec;
  value: string | boolean;
  error?: string;
  onChange: (path: string, value: string | boolean) => void;
}) {
  const { spec, value, error, onChange } = props;
  const id = fieldId(spec.path);
  const text = typeof value === 'string' ? value : '';
  const wide = spec.kind === 'textarea' || spec.kind === 'lines';
  return (
    <Field
      id={id}
      label={spec.label}
      error={error}
      hint={spec.hint}
      wide={wide}
      check={spec.kind === 'checkbox'}
    >
      {(aria) => {
        if (spec.kind === 'checkbox') {
          return (
            <input
              {...aria}
              type="checkbox"
              checked={value === true}
              onChange={(e) => onChange(spec.path, e.currentTarget.checked)}
            />
          );
        }
        if (spec.kind === 'select') {
          return (
            <select {...aria} value={text} onChange={(e) => onChange(spec.path, e.currentTarget.value)}>
              {spec.options?.map(([option, label]) => (
                <option key={option} value={option}>
                  {label}
                </option>
              ))}
            </select>
          );
        }
        if (wide) {
          return (
            <textarea
              {...aria}
              rows={spec.rows ?? 3}
              value={text}
              spellcheck={spec.kind !== 'lines'}
              onInput={(e) => onChange(spec.path, e.currentTarget.value)}
            />
          );
        }
        const change = (e: { currentTarget: HTMLInputElement }) => onChange(spec.path, e.currentTarget.value);
        if (spec.kind === 'number' || spec.kind === 'decimal') {
          return (
            <input
              {...aria}
              type="number"
              inputMode={spec.kind === 'decimal' ? 'decimal' : 'numeric'}
              step={spec.kind === 'decimal' ? 'any' : '1'}
              min={spec.min}
              max={spec.max}
              value={text}
              onInput={change}
            />
          );
        }
        if (spec.kind === 'optional-url') {
          return <input {...aria} type="url" inputMode="url" value={text} onInput={change} />;
        }
        return <input {...aria} type="text" value={text} onInput={change} />;
      }}
    </Field>
  );
}

/** How to put a public bot on a website: the widget snippet and the hosted page. */
function Embed({ bot }: { bot: Bot }) {
  if (bot.visibility !== 'public') {
    return (
      <p class="pc-muted pc-embed">
        Make the bot public (and save) to embed it on a website or share its chat page.
      </p>
    );
  }
  const origin = location.origin;
  const snippet = `<script src="${origin}/widget.js" data-bot-id="${bot.id}"></script>`;
  const page = `${origin}/b/${bot.id}`;
  return (
    <div class="pc-embed">
      <h3>Embed</h3>
      <p>
        Paste this before the closing &lt;/body&gt; tag of your site (add the site to the allowed origins):
      </p>
      <CopyBox text={snippet} what="embed snippet" label="Widget" />
      <p>
        Or share the hosted chat page:{' '}
        <a href={page} target="_blank" rel="noopener">
          {page}
        </a>
      </p>
      <CopyBox text={page} what="hosted page link" label="Hosted page" />
    </div>
  );
}
