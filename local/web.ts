// The web app on the local platform, as CloudFront serves it in AWS: the console at `/`, the
// widget loader at `/widget.js`, a bot's hosted chat page at `/b/{botId}`, the bundles under
// `/assets/`, and `/config.json`, which tells the pages where the API is (here: their own origin).

import { consoleCsp, PAGE_CSP, type WebBuild } from '../web/build.ts';

export interface WebResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | string;
}

/** Pages: no sniffing, no referrer beyond the origin; the console is never framed, the chat page may be. */
const PAGE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'cache-control': 'no-cache',
};

/**
 * The web response for a GET or HEAD of `path`, or undefined when it is not one of the app's.
 * `uploadOrigin` is where document uploads go (the S3 emulator).
 */
export function serveWeb(files: WebBuild, path: string, uploadOrigin?: string): WebResponse | undefined {
  const asset = (file: string, extra: Record<string, string> = {}): WebResponse | undefined => {
    const found = files.get(file);
    return (
      found && {
        status: 200,
        headers: { 'content-type': found.contentType, ...PAGE_HEADERS, ...extra },
        body: found.body,
      }
    );
  };
  if (path === '/' || path === '/index.html')
    return asset('/index.html', { 'content-security-policy': consoleCsp(uploadOrigin) });
  if (/^\/b\/[A-Za-z0-9_-]{1,64}\/?$/.test(path))
    return asset('/b/index.html', { 'content-security-policy': PAGE_CSP });
  if (path === '/widget.js') return asset('/widget.js', { 'access-control-allow-origin': '*' });
  if (path.startsWith('/assets/')) return asset(path);
  if (path === '/config.json') {
    return {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', ...PAGE_HEADERS },
      // The pages and the API share this origin.
      body: JSON.stringify({ apiBaseUrl: '' }),
    };
  }
  return undefined;
}
