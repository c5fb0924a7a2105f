// bench/web: what the web app weighs, and how soon the widget is usable on a site.
//
// It prints the size of each bundle (raw and gzipped) as the build produces it, and, in Chromium
// (Debian's, driven by playwright-core) against the local platform, over BENCH_LOADS page loads of
// a host page on another origin:
//   - script tag to interactive launcher: from an inline mark just before the widget's script
//     tag to the moment the launcher (its click handler attached) enters the page, seen by a
//     MutationObserver;
//   - script tag to chat ready: until the framed chat page has loaded the bot's configuration
//     (its `parley:ready` message), i.e. a click would show the greeting at once;
// against a baseline in the same run: an inline script that adds a plain button (no network).
//
//   npm run bench:web     (BENCH_LOADS=20)

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { spawnOwnPlatform } from '../local/spawn.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { buildWeb } from '../web/build.ts';
import { apiCaller, percentile, sortedOf } from './support.ts';

const LOADS = Number(process.env.BENCH_LOADS ?? 20);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** A host page: a mark, then the widget's tag (or, for the baseline, a script adding a button). */
const hostPage = (widgetTag: string) => `<!doctype html><html><head><meta charset="utf-8"><title>Host</title>
<link rel="icon" href="data:,"></head><body><h1>A shop</h1>
<script>
  window.addEventListener('message', (e) => { if (e.data && e.data.type === 'parley:ready') window.__readyAt = performance.now(); });
  // The launcher (the widget's element, or the baseline's button) as soon as it is in the page.
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes)
      if ((n.nodeName === 'PARLEY-WIDGET' || n.nodeName === 'BUTTON') && !window.__launcherAt) window.__launcherAt = performance.now();
  }).observe(document.body, { childList: true });
  window.__tagAt = performance.now();
</script>
${widgetTag}
</body></html>`;

async function main() {
  const files = await buildWeb();
  const sizes = [...files]
    .filter(([path]) => path.endsWith('.js') || path.endsWith('.css'))
    .map(([path, file]) => ({ path, raw: file.body.byteLength, gzip: gzipSync(file.body).byteLength }));

  const platform = await spawnOwnPlatform({ name: 'bench-web', env: { LOG_LEVEL: 'WARN' } });
  const host = createServer((req, res) => {
    const baseline = req.url?.startsWith('/baseline');
    const tag = baseline
      ? `<script>const b = document.createElement('button'); b.textContent = 'Chat'; b.addEventListener('click', () => {}); document.body.append(b);</script>`
      : `<script src="${platform.baseUrl}/widget.js" data-bot-id="${botId}"></script>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(hostPage(tag));
  });
  let botId = '';
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  const hostOrigin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  const browser = await launchBrowser();
  try {
    const call = apiCaller(platform.baseUrl);
    const tenant = await call('/admin/tenants', platform.operatorKey, { name: 'Bench' });
    const bot = await call('/admin/bots', tenant.apiKey, {
      name: 'Shop helper',
      visibility: 'public',
      allowedOrigins: [hostOrigin],
      greeting: 'Hello!',
    });
    botId = bot.bot.id;

    const measure = async (path: string, ready: boolean) => {
      const toLauncher: number[] = [];
      const toReady: number[] = [];
      for (let i = 0; i < LOADS; i++) {
        // A fresh context each time: nothing cached, as a first visit.
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${hostOrigin}${path}`);
        await page.waitForFunction('window.__launcherAt > 0');
        const tagAt = (await page.evaluate('window.__tagAt')) as number;
        toLauncher.push(((await page.evaluate('window.__launcherAt')) as number) - tagAt);
        if (ready) {
          await page.waitForFunction('window.__readyAt > 0');
          toReady.push(((await page.evaluate('window.__readyAt')) as number) - tagAt);
        }
        await context.close();
      }
      return { toLauncher: sortedOf(toLauncher), toReady: sortedOf(toReady) };
    };
    // One load first: the platform's first requests pay for warming up.
    await measure('/', true).catch(() => undefined);
    const baseline = await measure('/baseline', false);
    const widget = await measure('/', true);

    const p = (values: number[], q: number) => `${percentile(values, q).toFixed(1).padStart(7)} ms`;
    console.log(
      [
        `bench/web — Chromium ${browser.version()}, Node ${process.version}, ${LOADS} loads each, fresh browser context per load`,
        '',
        'bundles (minified; gzipped as a server would send them):',
        ...sizes.map(
          (s) => `  ${s.path.padEnd(22)} ${kib(s.raw).padStart(10)}   gzip ${kib(s.gzip).padStart(9)}`,
        ),
        '',
        'on a host page of another origin:',
        `  baseline: inline script adds a button    p50 ${p(baseline.toLauncher, 50)}   p95 ${p(baseline.toLauncher, 95)}`,
        `  script tag → interactive launcher        p50 ${p(widget.toLauncher, 50)}   p95 ${p(widget.toLauncher, 95)}` +
          `   (+${(percentile(widget.toLauncher, 50) - percentile(baseline.toLauncher, 50)).toFixed(1)} ms over the baseline)`,
        `  script tag → chat ready (config loaded)  p50 ${p(widget.toReady, 50)}   p95 ${p(widget.toReady, 95)}`,
      ].join('\n'),
    );
  } finally {
    await browser.close();
    host.close();
    await platform.stop();
  }
}

await main();
