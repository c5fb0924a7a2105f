// Connecting the bot to the messaging channels the server offers (channel-catalog.ts): each
// channel's status, its webhook URL, its credentials (masked; never shown again once sent) and a
// form to connect.

import { useState } from 'preact/hooks';
import type { ChannelEntry } from '../../shared/channels/entry.ts';
import { CHANNEL_CATALOG } from './channel-catalog.ts';
import { formatDate } from './format.ts';
import { useConsole } from './session.ts';
import type { Bot, Channel } from './types.ts';
import {
  ConfirmDelete,
  CopyBox,
  ErrorAlert,
  fieldErrors,
  InputField,
  isNotFound,
  Loading,
  Status,
  useLoad,
  useSubmit,
} from './ui.tsx';

export function Channels({ bot, onGone }: { bot: Bot; onGone: () => void }) {
  const { call } = useConsole();
  const base = `/admin/bots/${encodeURIComponent(bot.id)}/channels`;
  const list = useLoad(() => call<{ items: Channel[] }>(base), [base]);
  const setChannel = (type: string, channel: Channel | undefined) =>
    list.setData((data) => ({
      items: [...(data?.items ?? []).filter((c) => c.type !== type), ...(channel ? [channel] : [])],
    }));

  return (
    <div>
      <h2>Channels</h2>
      <p class="pc-muted">Let people talk to the bot from their messaging apps.</p>
      {list.error ? <ErrorAlert error={list.error} /> : null}
      {!list.data && list.loading ? <Loading what="Loading channels…" /> : null}
      {list.data ? (
        <div class="pc-channels">
          {CHANNEL_CATALOG.map((spec) => (
            <ChannelCard
              key={spec.type}
              spec={spec}
              base={base}
              channel={list.data?.items.find((c) => c.type === spec.type)}
              onChange={(channel) => setChannel(spec.type, channel)}
              onGone={onGone}
            />
          ))}
        </div>
      ) : null}
    </div>
  );
}

function ChannelCard(props: {
  spec: ChannelEntry;
  base: string;
  channel: Channel | undefined;
  onChange: (channel: Channel | undefined) => void;
  onGone: () => void;
}) {
  const { call } = useConsole();
  const { spec, channel } = props;
  const { type } = spec;
  const [status, setStatus] = useState('');
  const titleId = `pc-channel-${type}`;
  const state = channel?.status ?? 'not_connected';

  return (
    <section class="pc-card pc-channel" aria-labelledby={titleId}>
      <div class="pc-channel-head">
        <h3 id={titleId}>{spec.title}</h3>
        <span class="pc-badge" data-status={state}>
          {state === 'connected' ? 'Connected' : state === 'error' ? 'Error' : 'Not connected'}
        </span>
      </div>
      {channel ? (
        <>
          <CopyBox text={channel.webhookUrl} what={`${spec.title} webhook URL`} label="Webhook URL" />
          <dl class="pc-facts">
            <div class="pc-fact">
              <dt>Last message received</dt>
              <dd>{channel.lastInboundAt ? formatDate(channel.lastInboundAt) : 'None yet'}</dd>
            </div>
            {channel.lastError ? (
              <div class="pc-fact">
                <dt>Last error</dt>
                <dd class="pc-error-text">
                  {channel.lastError}
                  {channel.lastErrorAt ? ` (${formatDate(channel.lastErrorAt)})` : ''}
                </dd>
              </div>
            ) : null}
            {Object.entries(channel.credentials).map(([name, masked]) => (
              <div key={name} class="pc-fact">
                <dt>{spec.fields.find((f) => f.name === name)?.label ?? name}</dt>
                <dd>
                  <code>{masked}</code>
                </dd>
              </div>
            ))}
          </dl>
          <p class="pc-muted">{spec.setup}</p>
          <details class="pc-replace">
            <summary>Replace the credentials</summary>
            <ConnectForm {...props} onStatus={setStatus} />
          </details>
          <ConfirmDelete
            what={`${spec.title} from this bot`}
            label="Disconnect"
            confirmLabel="Yes, disconnect"
            onConfirm={async () => {
              try {
                await call(`${props.base}/${type}`, { method: 'DELETE' });
              } catch (error) {
                if (!isNotFound(error)) throw error; // already disconnected: the same result
              }
              props.onChange(undefined);
              setStatus(`${spec.title} disconnected.`);
            }}
          />
        </>
      ) : (
        <>
          <p class="pc-muted">{spec.setup}</p>
          <ConnectForm {...props} onStatus={setStatus} />
        </>
      )}
      <Status>{status}</Status>
    </section>
  );
}

function ConnectForm(props: {
  spec: ChannelEntry;
  base: string;
  channel: Channel | undefined;
  onChange: (channel: Channel | undefined) => void;
  onGone: () => void;
  onStatus: (message: string) => void;
}) {
  const { call } = useConsole();
  const { spec } = props;
  const empty = () => Object.fromEntries(spec.fields.map((f) => [f.name, ''])) as Record<string, string>;
  const [values, setValues] = useState(empty);
  const { busy, error, run } = useSubmit();
  const errors = fieldErrors(error);
  const known = new Set(spec.fields.map((f) => f.name));
  // Problems not tied to one field (Telegram refusing the webhook) go above the form.
  const general = error !== undefined && !Object.keys(errors).some((path) => known.has(path));

  async function submit(event: Event) {
    event.preventDefault();
    await run(
      async () => {
        const body = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, value.trim()]));
        const { channel } = await call<{ channel: Channel }>(`${props.base}/${spec.type}`, {
          method: 'PUT',
          body,
        });
        setValues(empty()); // secrets leave the page as soon as they are stored
        props.onChange(channel);
        props.onStatus(`${spec.title} connected.`);
      },
      (failure) => {
        if (isNotFound(failure)) props.onGone();
      },
    );
  }

  return (
    <form class="pc-connect" onSubmit={submit} noValidate>
      {general ? <ErrorAlert error={error} /> : null}
      {spec.fields.map((field) => (
        <InputField
          key={field.name}
          id={`pc-${spec.type}-${field.name}`}
          label={field.label}
          hint={field.hint}
          error={errors[field.name]}
          name={field.name}
          spellcheck={false}
          type={field.secret ? 'password' : 'text'}
          autocomplete={field.secret ? 'new-password' : 'off'}
          value={values[field.name] ?? ''}
          onValue={(value) => setValues((all) => ({ ...all, [field.name]: value }))}
        />
      ))}
      <button type="submit" disabled={busy}>
        {busy ? 'Connecting…' : 'Connect'}
      </button>
    </form>
  );
}
