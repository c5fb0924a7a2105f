// Builds the web app (console, hosted chat page, widget loader) with esbuild: in memory for the
// local platform to serve, or to a directory for the stack to deploy to the web bucket. Three bundles, each with
// its CSS, and the pages' HTML. Paths are the ones the pages are served at (DESIGN.md §5).

import { copyFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync } from 'esbuild';
import { CHANNEL_CATALOG } from '../shared/channels/registry.ts';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * The pages' Content-Security-Policy, locally and behind CloudFront: only Parley's own scripts and
 * styles, connections to the same origin (the API), images from anywhere over HTTPS (logos).
 * The console adds the uploads' origin and forbids framing; the chat page may be framed (the widget).
 */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; connect-src 'self'";

/** The console's policy: documents are posted straight to storage at `uploadOrigin`. */
export const consoleCsp = (uploadOrigin: string | undefined) =>
  `${PAGE_CSP}${uploadOrigin ? ` ${uploadOrigin}` : ''}; frame-ancestors 'none'`;

export interface WebAsset {
  readonly contentType: string;
  readonly body: Uint8Array;
}

/** The built files by path: `/index.html`, `/b/index.html`, `/widget.js`, `/assets/…`. */
export type WebBuild = Map<string, WebAsset>;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};
const typeOf = (path: string) => TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';

/** The two builds: the pages' bundles (ES modules) and the widget loader (a classic script). */
function buildOptions(minify: boolean): [BuildOptions, BuildOptions] {
  const common = {
    bundle: true,
    minify,
    sourcemap: false,
    target: ['chrome120', 'firefox120', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    logLevel: 'silent',
    legalComments: 'none',
    // The console's channel list is the server's registry (web/console/channel-catalog.ts).
    define: { PARLEY_CHANNEL_CATALOG: JSON.stringify(CHANNEL_CATALOG) },
  } satisfies BuildOptions;
  return [
    {
      ...common,
      format: 'esm',
      entryPoints: { console: join(WEB_DIR, 'console/main.tsx'), hosted: join(WEB_DIR, 'hosted/main.tsx') },
      outdir: '/assets',
    },
    // The loader runs on other people's pages: a classic script, no imports, nothing global.
    { ...common, format: 'iife', entryPoints: [join(WEB_DIR, 'widget/widget.ts')], outfile: '/widget.js' },
  ];
}

/** The pages' HTML: served path → source. */
const PAGES = [
  ['/index.html', 'console/index.html'],
  ['/b/index.html', 'hosted/index.html'],
] as const;

/** The web app built in memory (the local platform serves it). */
export async function buildWeb(options: { minify?: boolean } = {}): Promise<WebBuild> {
  const [app, widget] = await Promise.all(
    buildOptions(options.minify ?? true).map((o) => build({ ...o, write: false })),
  );
  const files: WebBuild = new Map();
  for (const file of [...(app?.outputFiles ?? []), ...(widget?.outputFiles ?? [])]) {
    files.set(file.path, { contentType: typeOf(file.path), body: file.contents });
  }
  for (const [path, source] of PAGES) {
    files.set(path, { contentType: typeOf(path), body: await readFile(join(WEB_DIR, source)) });
  }
  return files;
}

/** The web app written to `outdir`, synchronously (the stack's asset bundling is synchronous). */
export function writeWebSync(outdir: string): void {
  for (const options of buildOptions(true)) {
    buildSync({
      ...options,
      write: true,
      ...(options.outdir ? { outdir: join(outdir, options.outdir) } : {}),
      ...(options.outfile ? { outfile: join(outdir, options.outfile) } : {}),
    });
  }
  for (const [path, source] of PAGES) {
    mkdirSync(dirname(join(outdir, path)), { recursive: true });
    copyFileSync(join(WEB_DIR, source), join(outdir, path));
  }
}
