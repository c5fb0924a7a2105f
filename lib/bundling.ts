import { join } from 'node:path';
import { type BundlingOptions, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

// How every function is bundled. `NodejsFunction` (the stack) and the bundle test both derive their
// esbuild options from the constants below, so the test loads exactly what Lambda would run.
//
// - ESM output (`index.mjs`) for Node 24, minified, with source maps (without sources, to keep the
//   asset small; stack traces still map to file and line through NODE_OPTIONS=--enable-source-maps).
// - The AWS SDK v3 is bundled, not taken from the runtime: nodejs24.x ships an SDK version we do not
//   choose, and the clients we use are pinned in package.json, so tests and Lambda run the same code.
//   Per-service clients keep the bundles small.
// - CommonJS dependencies inside an ESM bundle call `require` and read `__filename`/`__dirname`,
//   which ES modules lack. The banner provides them through `createRequire(import.meta.url)`. It
//   sets them on `globalThis` rather than declaring module-level constants: a bundled ES module that
//   declares its own top-level `require` or `__dirname` (a common pattern) would otherwise collide
//   with the banner's declaration and the bundle would fail to load with a SyntaxError. The
//   imported helpers get `__parley` aliases for the same reason.

export const BUNDLE_TARGET = 'node24';
export const MAIN_FIELDS = ['module', 'main'];
/** CDK writes ESM bundles as `index.mjs`; the handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';

export const ESM_BANNER = [
  "import { createRequire as __parleyCreateRequire } from 'node:module';",
  "import { fileURLToPath as __parleyFileURLToPath } from 'node:url';",
  "import { dirname as __parleyDirname } from 'node:path';",
  'globalThis.require ??= __parleyCreateRequire(import.meta.url);',
  'globalThis.__filename ??= __parleyFileURLToPath(import.meta.url);',
  'globalThis.__dirname ??= __parleyDirname(globalThis.__filename);',
].join(' ');

const MINIFY = true;
const SOURCE_MAP = true;
const SOURCES_CONTENT = false;

/** `bundling` props for `NodejsFunction`. */
export function nodejsBundling(tsconfig: string): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: BUNDLE_TARGET,
    minify: MINIFY,
    sourceMap: SOURCE_MAP,
    sourcesContent: SOURCES_CONTENT,
    mainFields: MAIN_FIELDS,
    banner: ESM_BANNER,
    externalModules: [],
    bundleAwsSDK: true,
    tsconfig,
    logLevel: LogLevel.WARNING,
    forceDockerBundling: false,
  };
}

/**
 * The same build as plain esbuild options (what `NodejsFunction` passes to the esbuild CLI:
 * `--bundle --platform=node --target … --format=esm --outfile=<outdir>/index.mjs …`).
 */
export function esbuildOptions(entry: string, outdir: string, tsconfig: string): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: BUNDLE_TARGET,
    format: 'esm',
    outfile: join(outdir, BUNDLE_FILE),
    minify: MINIFY,
    sourcemap: SOURCE_MAP,
    sourcesContent: SOURCES_CONTENT,
    external: [],
    tsconfig,
    logLevel: 'warning',
    banner: { js: ESM_BANNER },
    mainFields: MAIN_FIELDS,
  };
}
