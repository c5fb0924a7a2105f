// PDF to sections, one per page, with pdf.js (the legacy build: the default one needs DOMMatrix,
// which Node lacks). pdf.js runs its "worker" on the main thread here: the worker module is imported
// and handed over through `globalThis.pdfjsWorker`, so nothing is loaded from a path at run time and
// the same code works from source, under jest and inside one esbuild bundle. The title is the
// document information's Title when it is a real one; PDFs get no heading path (their structure
// is not reliably known). Before pdf.js sees the file, every Flate stream is inflated here only to
// count its bytes, so a decompression bomb (a small file whose streams inflate to gigabytes) is
// refused before pdf.js would hold it in memory.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInflate } from 'node:zlib';
import type { PDFDocumentProxy, TextItem } from 'pdfjs-dist/types/src/display/api.js';
import { type ExtractedSections, ExtractionError, type Section } from '../types.ts';
import { tidyLine, tidyText } from './text.ts';

export const DEFAULT_MAX_PAGES = 2000;

const MIB = 1024 * 1024;

/** How far a PDF's streams may inflate: each one, and all of them together. */
export interface DecodedLimits {
  /** The most bytes one stream may inflate to (default 128 MiB). */
  readonly maxStreamBytes: number;
  /** The most bytes all streams together may inflate to (default 1 GiB). */
  readonly maxDecodedBytes: number;
}

/**
 * A real page's content stream is a few hundred KB; the largest Flate streams in real files are
 * images (an A4 page scanned at 600 dpi in colour is about 100 MiB raw), which text extraction
 * does not even decode. A bomb goes far past both.
 */
export const DEFAULT_DECODED_LIMITS: DecodedLimits = {
  maxStreamBytes: 128 * MIB,
  maxDecodedBytes: 1024 * MIB,
};

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');

let loading: Promise<PdfJs> | undefined;

/** Loads pdf.js once, with its worker code on the main thread. */
function loadPdfJs(): Promise<PdfJs> {
  loading ??= (async () => {
    const [pdfjs, worker] = await Promise.all([
      import('pdfjs-dist/legacy/build/pdf.mjs'),
      import('pdfjs-dist/legacy/build/pdf.worker.mjs'),
    ]);
    const global = globalThis as { pdfjsWorker?: unknown };
    global.pdfjsWorker ??= worker;
    return pdfjs;
  })();
  return loading;
}

export interface PdfAssets {
  /** pdf.js's `standard_fonts/` directory (with a trailing slash): metrics for the 14 standard fonts. */
  readonly standardFontDataUrl?: string;
  /** pdf.js's `cmaps/` directory (with a trailing slash): predefined CJK character maps. */
  readonly cMapUrl?: string;
}

let assets: PdfAssets | undefined;

/**
 * Where pdf.js's data files are: in the installed package (from source, under jest), or in a
 * `pdfjs-dist/` folder beside the running file (a Lambda bundle ships them there). Missing folders are
 * left out: pdf.js then warns and falls back (standard fonts get approximate metrics, which only
 * affects spacing; CJK text in fonts without a ToUnicode map may come out empty).
 */
export function pdfAssets(): PdfAssets {
  if (assets) return assets;
  const roots: string[] = [];
  try {
    roots.push(dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json')));
  } catch {
    // Not resolvable: bundled code without node_modules.
  }
  try {
    roots.push(join(dirname(fileURLToPath(import.meta.url)), 'pdfjs-dist'));
  } catch {
    // import.meta.url is not a file URL.
  }
  const find = (folder: string) => {
    for (const root of roots) {
      const path = join(root, folder);
      if (existsSync(path)) return `${path}/`;
    }
    return undefined;
  };
  const standardFontDataUrl = find('standard_fonts');
  const cMapUrl = find('cmaps');
  assets = {
    ...(standardFontDataUrl ? { standardFontDataUrl } : {}),
    ...(cMapUrl ? { cMapUrl } : {}),
  };
  return assets;
}

/**
 * Compatibility characters that carry no meaning of their own: Latin ligatures (U+FB00–FB4F) and
 * Arabic presentation forms (U+FB50–FDFF, U+FE70–FEFE), which pdf.js returns for many Arabic
 * fonts. NFKC maps them to the letters a search for the word will use.
 */
const PRESENTATION_FORMS = /[\ufb00-\ufdff\ufe70-\ufefe]+/g;

function normalizeForms(text: string): string {
  return text.replace(PRESENTATION_FORMS, (run) => run.normalize('NFKC'));
}

interface Line {
  items: TextItem[];
  rtl: number;
  ltr: number;
}

/** A line ending in a lower-case letter and a hyphen, and a line starting with a lower-case letter. */
const HYPHENATED_END = /\p{Ll}-\s*$/u;
const LOWERCASE_START = /^\s*\p{Ll}/u;

const STRONG_RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe]/;

/**
 * A page's text items joined into lines (pdf.js marks line ends with `hasEOL`), with a blank line
 * where the text jumps by more than about two lines, moves up (a new column or block) or changes
 * size (a heading). A word hyphenated at a line end is joined again. Lines whose
 * text is mostly right-to-left are put back in reading order (right to left).
 */
export function pageText(items: readonly TextItem[]): string {
  const lines: Line[] = [];
  let line: Line = { items: [], rtl: 0, ltr: 0 };
  for (const item of items) {
    if (item.str) {
      line.items.push(item);
      if (item.str.trim()) {
        if (item.dir === 'rtl' || STRONG_RTL.test(item.str)) line.rtl += item.str.length;
        else line.ltr += item.str.length;
      }
    }
    if (item.hasEOL) {
      lines.push(line);
      line = { items: [], rtl: 0, ltr: 0 };
    }
  }
  lines.push(line);

  const out: string[] = [];
  let previousY: number | undefined;
  let previousHeight = 0;
  for (const { items: lineItems, rtl, ltr } of lines) {
    if (lineItems.length === 0) continue;
    const ordered =
      rtl > ltr && lineItems.length > 1
        ? [...lineItems].sort((a, b) => (b.transform[4] ?? 0) - (a.transform[4] ?? 0))
        : lineItems;
    const text = ordered.map((item) => item.str).join('');
    if (!text.trim()) continue;
    const first = lineItems[0] as TextItem;
    const y = first.transform[5] ?? 0;
    const height = Math.abs(first.height || first.transform[3] || 0);
    if (previousY !== undefined && out.length > 0) {
      const lineHeight = Math.max(height, previousHeight, 1);
      const drop = previousY - y;
      const resized = Math.abs(height - previousHeight) > 0.2 * lineHeight; // a heading and its text
      const newBlock = drop > lineHeight * 2.2 || drop < -lineHeight * 0.5 || resized;
      const previous = out[out.length - 1] as string;
      if (!newBlock && HYPHENATED_END.test(previous) && LOWERCASE_START.test(text)) {
        // A word hyphenated across lines ("com-" + "pile"): join it again.
        out[out.length - 1] = previous.replace(/-\s*$/, '');
      } else {
        out.push(newBlock ? '\n\n' : '\n');
      }
    }
    out.push(text);
    previousY = y;
    previousHeight = height;
  }
  return tidyText(normalizeForms(out.join('')));
}

/** File extensions that give a "title" away as the name of the file it was made from. */
const FILE_NAME =
  /\.(?:docx?|dotx?|rtf|odt|pages|pdf|pptx?|odp|key|xlsx?|ods|csv|txt|md|tex|dvi|e?ps|ai|indd|qxd|qxp|pub|html?|xml|jpe?g|png|gif|tiff?|bmp)$/i;
/** What tools write when nobody gave the document a title. */
const PLACEHOLDER =
  /^(?:untitled(?: document)?|no title|title|document|doc|presentation|powerpoint presentation|book|layout|slide|page|blank|new document)(?:[\s_-]*\d+)?$/i;

/**
 * The document information's Title when it names the document: not empty, not a placeholder
 * ("Untitled", "Document1"), not the file it was printed from ("Microsoft Word - x.doc",
 * "C:\\reports\\q3.docx", "paper.dvi").
 */
export function realTitle(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const title = tidyLine(normalizeForms(value));
  if (!/\p{L}/u.test(title)) return undefined;
  if (PLACEHOLDER.test(title) || FILE_NAME.test(title)) return undefined;
  // What Office's PDF printer writes: "Microsoft Word - <file name>".
  if (/^Microsoft\s+(?:Office\s+)?(?:Word|PowerPoint|Excel)\s+-\s/i.test(title)) return undefined;
  if (/\\/.test(title) || /^(?:\/|~\/|file:)\S*$/i.test(title)) return undefined;
  return title;
}

/** The info Title, if any; metadata is a nicety, so an unreadable one is no title. */
async function documentTitle(document: PDFDocumentProxy): Promise<string | undefined> {
  try {
    const { info } = await document.getMetadata();
    return realTitle((info as { Title?: unknown } | undefined)?.Title);
  } catch {
    return undefined;
  }
}

const STREAM = Buffer.from('stream');
const END = Buffer.from('end');
const CR = 0x0d;
const LF = 0x0a;

/**
 * Where each stream's data begins: after a `stream` keyword, at the start of the next line (where
 * pdf.js starts reading too). Streams cannot sit inside object streams, so a byte scan finds every
 * one, whatever the cross-reference table says; a stray "stream" word in uncompressed text only
 * yields a start whose bytes are not a zlib stream.
 */
function* streamStarts(buffer: Buffer): Generator<number> {
  for (let at = buffer.indexOf(STREAM); at >= 0; at = buffer.indexOf(STREAM, at + STREAM.length)) {
    if (at >= END.length && buffer.subarray(at - END.length, at).equals(END)) continue; // endstream
    let start = at + STREAM.length;
    while (start < buffer.length && buffer[start] !== CR && buffer[start] !== LF) start++;
    if (buffer[start] === CR) start++;
    if (buffer[start] === LF) start++;
    yield start;
  }
}

/** Whether the bytes start with a zlib header, as a FlateDecode stream's data must (RFC 1950). */
function isZlibHeader(buffer: Buffer, at: number): boolean {
  const cmf = buffer[at];
  const flg = buffer[at + 1];
  if (cmf === undefined || flg === undefined) return false;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0 && (flg & 0x20) === 0;
}

/**
 * How many bytes a zlib stream inflates to, counted chunk by chunk and given up once past `limit`,
 * so counting a bomb holds one chunk, never its output. The zlib stream ends itself: what follows
 * it (`endstream`, the rest of the file) is not read. A damaged stream counts what came out of it
 * before the damage, which is also all pdf.js gets from it.
 */
function inflatedSize(data: Uint8Array, limit: number): Promise<number> {
  return new Promise((resolve) => {
    const inflate = createInflate({ chunkSize: 256 * 1024 });
    let size = 0;
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        inflate.destroy();
        resolve(size);
      }
    });
    inflate.on('end', () => resolve(size));
    inflate.on('error', () => resolve(size));
    inflate.end(data);
  });
}

const mib = (bytes: number) =>
  `${(bytes / MIB).toLocaleString('en-US', { maximumFractionDigits: bytes < MIB ? 3 : 0 })} MB`;

/**
 * Refuses a PDF whose Flate streams inflate beyond the limits: one stream beyond
 * `maxStreamBytes`, or all of them together beyond `maxDecodedBytes`.
 */
export async function checkDecodedSize(bytes: Uint8Array, limits: DecodedLimits): Promise<void> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  for (const start of streamStarts(buffer)) {
    if (!isZlibHeader(buffer, start)) continue;
    const limit = Math.min(limits.maxStreamBytes, limits.maxDecodedBytes - total);
    const size = await inflatedSize(buffer.subarray(start), limit);
    if (size > limits.maxStreamBytes) {
      throw new ExtractionError(
        `The PDF cannot be read safely: a stream inflates to more than ${mib(limits.maxStreamBytes)} (it may be a decompression bomb)`,
      );
    }
    total += size;
    if (total > limits.maxDecodedBytes) {
      throw new ExtractionError(
        `The PDF cannot be read safely: its streams inflate to more than ${mib(limits.maxDecodedBytes)} in all (it may be a decompression bomb)`,
      );
    }
  }
}

function isPasswordError(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === 'PasswordException';
}

export async function extractPdf(
  bytes: Uint8Array,
  maxPages = DEFAULT_MAX_PAGES,
  decodedLimits: DecodedLimits = DEFAULT_DECODED_LIMITS,
): Promise<ExtractedSections & { units: number }> {
  await checkDecodedSize(bytes, decodedLimits);
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({
    // pdf.js may transfer (detach) the buffer it is given: give it a copy, and a plain Uint8Array
    // (pdf.js refuses a Buffer, whose `slice` would not even copy).
    data: new Uint8Array(bytes),
    ...pdfAssets(),
    cMapPacked: true,
    // (pdf.js 6 no longer has `isEvalSupported`: it never evaluates generated code.)
    useSystemFonts: false,
    disableFontFace: true,
    stopAtErrors: false,
    verbosity: pdfjs.VerbosityLevel.ERRORS,
  });
  let document: PDFDocumentProxy;
  try {
    document = await task.promise;
  } catch (error) {
    await task.destroy();
    if (isPasswordError(error)) {
      throw new ExtractionError('The PDF is password-protected; upload it without a password', {
        cause: error,
      });
    }
    throw new ExtractionError('The PDF is damaged or not a PDF: it cannot be opened', { cause: error });
  }
  try {
    const pages = document.numPages;
    if (pages > maxPages) {
      throw new ExtractionError(
        `The PDF has ${pages.toLocaleString('en-US')} pages; the limit is ${maxPages.toLocaleString('en-US')}`,
      );
    }
    const sections: Section[] = [];
    for (let number = 1; number <= pages; number++) {
      let text: string;
      try {
        const page = await document.getPage(number);
        const content = await page.getTextContent();
        text = pageText(content.items.filter((item): item is TextItem => 'str' in item));
        page.cleanup();
      } catch (error) {
        throw new ExtractionError(`The PDF is damaged: page ${number} cannot be read`, { cause: error });
      }
      if (text) sections.push({ text, page: number });
    }
    const title = await documentTitle(document);
    return title === undefined ? { sections, units: pages } : { sections, units: pages, title };
  } finally {
    await task.destroy();
  }
}
