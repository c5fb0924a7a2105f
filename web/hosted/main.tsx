// A bot's hosted chat page, `/b/{botId}`: the link a business shares, and (with `?embed=1`) the
// panel of the widget, which frames it on the business's site. In a frame it tells the API which
// site embeds it (the browser's own record of the frame's ancestors), so the bot's allowed origins
// apply to the widget as they do to any site.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ChatPanel } from '../chat/ChatPanel.tsx';
import { type Api, ApiError, createApi, describeError, loadConfig } from '../shared/api.ts';
import './hosted.css';

interface PublicConfig {
  name: string;
  greeting: string;
  branding: { title?: string; color?: string; position?: string; logoUrl?: string };
}

const botId = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const embedded = new URLSearchParams(location.search).get('embed') === '1';
const framed = window.top !== window.self;

/** The origin of the page that frames this one, as the browser reports it. */
function embedderOrigin(): string | undefined {
  const ancestors = (location as Location & { ancestorOrigins?: DOMStringList }).ancestorOrigins;
  if (ancestors && ancestors.length > 0) return ancestors.item(0) ?? undefined;
  try {
    return document.referrer ? new URL(document.referrer).origin : undefined;
  } catch {
    return undefined;
  }
}

const HEX_COLOR = /^#[0-9a-fA-F]{3,8}$/;

function problemText(error: unknown): string {
  if (error instanceof ApiError && error.code === 'unauthorized')
    return 'This bot is not open to the public.';
  if (error instanceof ApiError && error.code === 'not_found') return 'This chat is not available here.';
  return describeError(error);
}

function HostedChat({ api, embedder }: { api: Api; embedder?: string }) {
  const [config, setConfig] = useState<PublicConfig>();
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    api
      .json<PublicConfig>(`/chat/${botId}`, { headers: embedder ? { 'x-parley-embedder': embedder } : {} })
      .then((loaded) => {
        setConfig(loaded);
        const title = loaded.branding.title || loaded.name;
        document.title = title;
        const color = loaded.branding.color;
        if (color && HEX_COLOR.test(color))
          document.documentElement.style.setProperty('--parley-accent', color);
        // The widget's loader colours and places its launcher from this (it checks the origin).
        window.parent.postMessage(
          { type: 'parley:ready', color: color ?? null, position: loaded.branding.position ?? null },
          '*',
        );
      })
      .catch((error: unknown) => setProblem(problemText(error)));
  }, [api, embedder]);

  if (problem) {
    return (
      <p class="hosted-problem" role="alert">
        {problem}
      </p>
    );
  }
  if (!config) return <p class="boot">Loading the chat…</p>;
  const logo = config.branding.logoUrl;
  return (
    <>
      <header class="hosted-header">
        {logo && /^https:\/\//.test(logo) ? <img src={logo} alt="" /> : null}
        <h1>{config.branding.title || config.name}</h1>
        {embedded && framed ? (
          <button type="button" onClick={() => window.parent.postMessage({ type: 'parley:close' }, '*')}>
            Close
          </button>
        ) : null}
      </header>
      <main class="hosted-main">
        <ChatPanel api={api} botId={botId} embedder={embedder} greeting={config.greeting} />
      </main>
    </>
  );
}

async function start() {
  const root = document.getElementById('app');
  if (!root) return;
  if (framed && !embedded) {
    root.innerHTML = '';
    render(<p class="hosted-problem">Open this chat in its own window.</p>, root);
    return;
  }
  const embedder = framed ? embedderOrigin() : undefined;
  if (embedded && framed) {
    // Focus is in this frame while the panel is open: Escape closes it from here too.
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') window.parent.postMessage({ type: 'parley:close' }, '*');
    });
  }
  if (framed && !embedder) {
    render(<p class="hosted-problem">This chat cannot be shown on this site.</p>, root);
    return;
  }
  try {
    const api = createApi(await loadConfig());
    root.innerHTML = '';
    render(<HostedChat api={api} embedder={embedder} />, root);
  } catch (error) {
    render(<p class="hosted-problem">{describeError(error)}</p>, root);
  }
}

void start();
