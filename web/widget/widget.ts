// The embeddable widget: `<script src="https://…/widget.js" data-bot-id="bot_…"></script>`.
// It adds a launcher button and a chat panel to the host page, isolated both ways: the panel is
// Parley's hosted chat page in an iframe (its own document, styles and scripts, so the host's CSS
// and globals cannot reach it), and the launcher lives in a shadow root whose styles are
// `!important` (inside a shadow root they win over the page's, even the page's `!important`).
// The loader itself uses only DOM calls, no fetch or JSON: a page that replaced those still works.

(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  const botId = script?.dataset.botId;
  if (!script || !botId || !/^[A-Za-z0-9_-]{1,64}$/.test(botId)) {
    console.warn('Parley widget: add data-bot-id="…" to the script tag');
    return;
  }
  const origin = new URL(script.src).origin;
  const frameUrl = `${origin}/b/${encodeURIComponent(botId)}?embed=1`;

  const host = document.createElement('parley-widget');
  const root = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = `
    :host { all: initial !important; display: block !important; position: fixed !important;
      z-index: 2147483646 !important; bottom: 20px !important; right: 20px !important;
      left: auto !important; top: auto !important; width: auto !important; height: auto !important;
      margin: 0 !important; padding: 0 !important; border: 0 !important; opacity: 1 !important;
      visibility: visible !important; transform: none !important; filter: none !important; }
    :host([data-position="left"]) { left: 20px !important; right: auto !important; }
    .launcher { all: initial !important; box-sizing: border-box !important; display: flex !important;
      align-items: center !important; justify-content: center !important; width: 56px !important;
      height: 56px !important; border-radius: 50% !important; cursor: pointer !important;
      background: var(--accent, #2563eb) !important; color: #fff !important;
      box-shadow: 0 4px 14px rgb(0 0 0 / 25%) !important; }
    .launcher:focus-visible { outline: 3px solid #f59e0b !important; outline-offset: 3px !important; }
    .launcher svg { width: 26px !important; height: 26px !important; fill: currentColor !important; }
    .panel { all: initial !important; display: none !important; position: absolute !important;
      bottom: 70px !important; right: 0 !important; width: min(380px, calc(100vw - 40px)) !important;
      height: min(560px, calc(100vh - 110px)) !important; border-radius: 14px !important;
      overflow: hidden !important; background: #fff !important;
      box-shadow: 0 10px 30px rgb(0 0 0 / 25%) !important; }
    :host([data-position="left"]) .panel { left: 0 !important; right: auto !important; }
    .panel.open { display: block !important; }
    iframe { all: initial !important; display: block !important; width: 100% !important;
      height: 100% !important; border: 0 !important; }
  `;
  const launcher = document.createElement('button');
  launcher.className = 'launcher';
  launcher.type = 'button';
  launcher.setAttribute('aria-label', 'Open chat');
  launcher.setAttribute('aria-expanded', 'false');
  launcher.innerHTML =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  const panel = document.createElement('div');
  panel.className = 'panel';
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', 'Chat');
  root.append(style, launcher, panel);

  let frame: HTMLIFrameElement | undefined;
  /** The chat page loads once, in the background after the launcher shows, or on the first open. */
  const ensureFrame = () => {
    if (frame) return frame;
    frame = document.createElement('iframe');
    frame.title = 'Chat';
    frame.src = frameUrl;
    frame.setAttribute('allow', 'clipboard-write');
    panel.append(frame);
    return frame;
  };
  const setOpen = (open: boolean) => {
    ensureFrame();
    panel.classList.toggle('open', open);
    launcher.setAttribute('aria-expanded', String(open));
    launcher.setAttribute('aria-label', open ? 'Close chat' : 'Open chat');
    if (open) frame?.focus();
    else launcher.focus();
  };
  launcher.addEventListener('click', () => setOpen(!panel.classList.contains('open')));
  root.addEventListener('keydown', (event) => {
    if ((event as KeyboardEvent).key === 'Escape' && panel.classList.contains('open')) setOpen(false);
  });

  window.addEventListener('message', (event) => {
    if (event.origin !== origin || !frame || event.source !== frame.contentWindow) return;
    const data = event.data as { type?: unknown; color?: unknown; position?: unknown } | null;
    if (data?.type === 'parley:close') setOpen(false);
    if (data?.type === 'parley:ready') {
      if (typeof data.color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(data.color)) {
        launcher.style.setProperty('--accent', data.color);
      }
      if (data.position === 'bottom-left') host.setAttribute('data-position', 'left');
    }
  });

  const mount = () => {
    document.body.append(host);
    setTimeout(ensureFrame, 0);
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
