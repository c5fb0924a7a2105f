import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, type BundlingOptions, type ILocalBundling } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type BuildOptions, buildSync, type Metafile } from 'esbuild';

// How every function is bundled. The stack (`functionCode`, as a CDK asset's local bundling) and the
// bundle test both build through `bundleFunction` with the options of `esbuildOptions`, so the test
// loads exactly what Lambda would run.
//
// - ESM for Node 24, minified, with source maps (without sources, to keep the asset small; stack
//   traces still map to file and line through NODE_OPTIONS=--enable-source-maps).
// - Code splitting: the entry `index.mjs` holds what a cold start needs; every module reached only
//   through a dynamic `import()` (a model provider's SDK, the OpenSearch client, the reranker, pdf.js)
//   is a chunk beside it, read from disk the first time a turn or document needs it. One file would
//   hold them all, and Node would read and parse all of it at cold start. esbuild splits only with an
//   output directory, which `NodejsFunction`'s bundling (always `--outfile`) cannot give; hence the
//   asset's own local bundling here, with esbuild's API.
// - The AWS SDK v3 is bundled, not taken from the runtime: nodejs24.x ships an SDK version we do not
//   choose, and the clients we use are pinned in package.json, so tests and Lambda run the same code.
//   Per-service clients keep the bundles small.
// - CommonJS dependencies inside an ESM bundle call `require` and read `__filename`/`__dirname`,
//   which ES modules lack. The banner (at the top of every chunk) provides them through
//   `createRequire(import.meta.url)`. It sets them on `globalThis` rather than declaring
//   module-level constants: a bundled ES module that declares its own top-level `require` or
//   `__dirname` (a common pattern) would otherwise collide with the banner's declaration and the
//   bundle would fail to load with a SyntaxError. The imported helpers get `__parley` aliases for the
//   same reason. Chunks sit beside `index.mjs`, so `__dirname` is the asset root whichever is first.
// - `node:http` comes through a CommonJS shim (lib/node-http-shim.cjs): imported as an ES module,
//   Node 24 builds its facade by reading every export, which loads undici (about 50 ms a cold start).
// - Local-only packages (the local platform's vector index and offline embedder, some with native
//   modules) are external: handlers reach them only through a dynamic `import()` on the local
//   platform, so they never enter a Lambda bundle and Lambda never evaluates that import.
// - A function may need files next to its bundle (`BundleExtras`, e.g. pdf.js's fonts for ingest):
//   `bundleFunction` copies them into the asset.
// - Extraction runs in a worker thread (shared/ingestion/extract-sandbox.ts) that runs the file
//   holding that module, its `import.meta.url` (the entry or a chunk of the same asset): no second
//   entry point is shipped. In that worker the file's module-scope code, and that of the chunks it
//   imports, runs too, which must therefore stay free of side effects beyond setting things up (the
//   bundle test runs the ingest bundle so).

export const BUNDLE_TARGET = 'node24';
export const MAIN_FIELDS = ['module', 'main'];
/** The entry file of every asset; the handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';
export const FUNCTION_HANDLER = 'index.handler';

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
 * A static `import … from` one of them is hoisted to the top of the chunk that holds it, and fails
 * that chunk at load: code must import the package itself with `await import()` (`import type` is
 * fine). The bundle test checks both.
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
 *   esbuild bundles (a chunk, loaded on the first PDF) and which sets `globalThis.pdfjsWorker`; so
 *   pdf.js never looks for a worker file.
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

/** See lib/node-http-shim.cjs. */
const NODE_HTTP_SHIM = fileURLToPath(new URL('./node-http-shim.cjs', import.meta.url));

/** The esbuild options of every bundle: `entry` into `outdir`, as `index.mjs` and its chunks. */
export function esbuildOptions(entry: string, outdir: string, tsconfig: string): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: BUNDLE_TARGET,
    format: 'esm',
    splitting: true,
    outdir,
    entryNames: 'index',
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    external: [...LOCAL_ONLY_MODULES],
    alias: { http: NODE_HTTP_SHIM, 'node:http': NODE_HTTP_SHIM },
    tsconfig,
    logLevel: 'warning',
    banner: { js: ESM_BANNER },
    mainFields: MAIN_FIELDS,
  };
}

/** What `bundleFunction` needs besides the entry. */
export interface BundleSettings {
  readonly projectRoot: string;
  readonly tsconfig: string;
  readonly extras?: BundleExtras;
}

/**
 * Builds a function's asset into `outdir`: the bundle and its extras. Throws if esbuild fails.
 * Returns esbuild's metafile, its output files named where they were written; its paths, as
 * esbuild's, are relative to the project root.
 *
 * esbuild builds as if into `<projectRoot>/bundle` (in memory; nothing is written there): source
 * maps name sources relative to the output, and chunk names hash the source maps, so from one place
 * the same code gives the same files wherever the asset goes (the stack's cdk.out, the bundle
 * test's directory), and a stack trace names each source by its path in the repository.
 */
export function bundleFunction(entry: string, outdir: string, settings: BundleSettings): Metafile {
  const builtIn = join(settings.projectRoot, 'bundle');
  const { metafile, outputFiles } = buildSync({
    ...esbuildOptions(entry, builtIn, settings.tsconfig),
    absWorkingDir: settings.projectRoot,
    metafile: true,
    write: false,
  });
  for (const file of outputFiles) {
    const target = join(outdir, relative(builtIn, file.path));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.contents);
  }
  for (const file of settings.extras?.files ?? []) {
    const target = join(outdir, file.to);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(settings.projectRoot, file.from), target, {
      recursive: true,
      errorOnExist: true,
      force: false,
    });
  }
  const root = settings.projectRoot;
  const moved = (path: string) => relative(root, join(outdir, relative(builtIn, resolve(root, path))));
  const outputs = Object.entries(metafile.outputs).map(([path, output]) => [
    moved(path),
    { ...output, imports: output.imports.map((i) => (i.external ? i : { ...i, path: moved(i.path) })) },
  ]);
  return { ...metafile, outputs: Object.fromEntries(outputs) };
}

/**
 * Local bundling of a function's asset. Its fields are also what CDK keys the asset's build on
 * (functions are not part of that key): the entry and the extras tell the functions apart.
 */
class FunctionBundling implements ILocalBundling {
  constructor(
    readonly entry: string,
    readonly projectRoot: string,
    readonly tsconfig: string,
    readonly extras: BundleExtras,
  ) {}

  tryBundle(outputDir: string): boolean {
    bundleFunction(this.entry, outputDir, this);
    return true;
  }
}

/**
 * A function's code for the stack: `entry` bundled at synth by `bundleFunction` (esbuild is a
 * devDependency, so bundling always runs locally), hashed by its output like `NodejsFunction`'s.
 */
export function functionCode(entry: string, settings: BundleSettings): lambda.Code {
  const bundling: BundlingOptions = {
    // Required by the type; never used, since the local bundling always builds (or throws).
    image: lambda.Runtime.NODEJS_24_X.bundlingImage,
    local: new FunctionBundling(entry, settings.projectRoot, settings.tsconfig, settings.extras ?? NO_EXTRAS),
  };
  return lambda.Code.fromAsset(settings.projectRoot, { assetHashType: AssetHashType.OUTPUT, bundling });
}
