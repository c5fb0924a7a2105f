import { cp, mkdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
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
// - Local-only packages (the local platform's vector index and offline embedder, some with native
//   modules) are external: handlers reach them only through a dynamic `import()` on the local
//   platform, so they never enter a Lambda bundle and Lambda never evaluates that import.
// - A function may need files next to its bundle (`BundleExtras`, e.g. pdf.js's fonts for ingest):
//   copied into the asset by an `afterBundling` hook in the stack and by `copyBundleFiles` in the
//   bundle test, from one list.
// - Extraction runs in a worker thread (shared/ingestion/extract-sandbox.ts) that runs the bundle's
//   own file, `import.meta.url`: the bundle holds the worker's code, so no second entry point or
//   file is shipped. In that worker the bundle's module-scope code runs too, which must therefore
//   stay free of side effects beyond setting things up (the bundle test runs the ingest bundle so).

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

/**
 * Packages only the local platform loads (LanceDB with its native module, Apache Arrow, the
 * TensorFlow.js-based offline embedder). esbuild leaves `await import('…')` of them as is, so a
 * Lambda bundle stays small and holds no native code; subpaths (`apache-arrow/…`) are external too.
 * A static `import … from` one of them is hoisted to the top of the bundle, even from a module that
 * is itself imported dynamically, and fails the bundle at load: code must import the package itself
 * with `await import()` (`import type` is fine). The bundle test checks both.
 */
export const LOCAL_ONLY_MODULES: readonly string[] = [
  '@lancedb/lancedb',
  'apache-arrow',
  '@energetic-ai/*',
  '@tensorflow/*',
];

/** A file or directory copied into a function's asset, next to the bundle (`index.mjs`). */
export interface BundleFile {
  /** Relative to the project root. */
  readonly from: string;
  /** Relative to the asset root, which Lambda unpacks to /var/task. */
  readonly to: string;
}

/** What a function needs in its asset besides the bundle. */
export interface BundleExtras {
  readonly files: readonly BundleFile[];
}

/**
 * pdfjs-dist (its legacy build, which shared/ingestion/extract/pdf.ts loads) inside a bundle:
 * - The worker: in Node.js pdf.js runs its "fake worker" on the main thread, using
 *   `globalThis.pdfjsWorker.WorkerMessageHandler` when set, else importing
 *   `GlobalWorkerOptions.workerSrc` (default `./pdf.worker.mjs`, relative to the bundle, where no
 *   such file is). extract/pdf.ts imports `pdfjs-dist/legacy/build/pdf.worker.mjs` itself, which
 *   esbuild bundles (evaluated on the first PDF) and which sets `globalThis.pdfjsWorker`; so no
 *   worker file is shipped.
 * - Data files: fonts a PDF uses without embedding them (the standard 14) and predefined CMaps (CJK
 *   text in CID fonts) are read from the `standardFontDataUrl` and `cMapUrl` directories. Without
 *   node_modules, extract/pdf.ts looks for them in `pdfjs-dist/` beside the running file:
 *   /var/task/pdfjs-dist/standard_fonts/ and /var/task/pdfjs-dist/cmaps/ in Lambda.
 */
export const PDFJS_EXTRAS: BundleExtras = {
  files: [
    { from: 'node_modules/pdfjs-dist/standard_fonts', to: 'pdfjs-dist/standard_fonts' },
    { from: 'node_modules/pdfjs-dist/cmaps', to: 'pdfjs-dist/cmaps' },
  ],
};

/** Extras per function name: only the function that extracts documents needs pdf.js's files. */
const FUNCTION_EXTRAS: Readonly<Record<string, BundleExtras>> = { ingest: PDFJS_EXTRAS };

const NO_EXTRAS: BundleExtras = { files: [] };

/** The extras of the function with this name in the resource definitions. */
export function bundleExtras(functionName: string): BundleExtras {
  return Object.hasOwn(FUNCTION_EXTRAS, functionName)
    ? (FUNCTION_EXTRAS[functionName] as BundleExtras)
    : NO_EXTRAS;
}

const MINIFY = true;
const SOURCE_MAP = true;
const SOURCES_CONTENT = false;

/** `bundling` props for `NodejsFunction`. */
export function nodejsBundling(tsconfig: string, extras: BundleExtras = NO_EXTRAS): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: BUNDLE_TARGET,
    minify: MINIFY,
    sourceMap: SOURCE_MAP,
    sourcesContent: SOURCES_CONTENT,
    mainFields: MAIN_FIELDS,
    banner: ESM_BANNER,
    externalModules: [...LOCAL_ONLY_MODULES],
    bundleAwsSDK: true,
    tsconfig,
    logLevel: LogLevel.WARNING,
    forceDockerBundling: false,
    ...(extras.files.length > 0
      ? {
          // Run by `bash -c` in the project root (or in the bundling container, where the paths
          // are the container's), after esbuild has written the bundle into `outputDir`.
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (inputDir: string, outputDir: string) =>
              extras.files.map((file) => {
                const target = posix.join(outputDir, file.to);
                return `mkdir -p ${shellQuote(posix.dirname(target))} && cp -R ${shellQuote(posix.join(inputDir, file.from))} ${shellQuote(target)}`;
              }),
          },
        }
      : {}),
  };
}

/** The bundle test's equivalent of the `afterBundling` hook: copies the extras into `outdir`. */
export async function copyBundleFiles(
  extras: BundleExtras,
  projectRoot: string,
  outdir: string,
): Promise<void> {
  for (const file of extras.files) {
    const target = join(outdir, file.to);
    await mkdir(dirname(target), { recursive: true });
    await cp(join(projectRoot, file.from), target, { recursive: true, errorOnExist: true, force: false });
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
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
    external: [...LOCAL_ONLY_MODULES],
    tsconfig,
    logLevel: 'warning',
    banner: { js: ESM_BANNER },
    mainFields: MAIN_FIELDS,
  };
}
