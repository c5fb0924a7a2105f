// DOCX to sections: the ZIP is checked first (entry count and the uncompressed size its central
// directory declares, without inflating anything), then mammoth converts the document to simple HTML
// (headings, lists, tables, footnotes, text boxes) and the HTML extractor makes the sections and
// their heading paths. The title is the document's `dc:title` property, else its first h1.

import { Parser } from 'htmlparser2';
import mammoth from 'mammoth';
import { type ExtractedSections, ExtractionError } from '../types.ts';
import { extractHtml } from './html.ts';
import { tidyLine } from './text.ts';
import {
  inflateEntry,
  readZipDirectory,
  ZipFormatError,
  ZipSizeMismatchError,
  ZipTooManyEntriesError,
} from './zip.ts';

export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024;
/** A real document has a few dozen parts; thousands of entries are a denial-of-service attempt. */
export const DEFAULT_MAX_ZIP_ENTRIES = 10_000;

const KIB = 1024;
const MIB = 1024 * KIB;

function size(bytes: number): string {
  const format = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 1 });
  if (bytes >= MIB) return `${format(bytes / MIB)} MB`;
  if (bytes >= KIB) return `${format(bytes / KIB)} KB`;
  return `${bytes} bytes`;
}

/** The package part with the document's core properties (title, author, dates). */
const CORE_PROPERTIES = 'docProps/core.xml';
const DUBLIN_CORE = 'http://purl.org/dc/elements/1.1/';

/** What the checked archive holds that mammoth does not read. */
export interface DocxParts {
  /** `docProps/core.xml`, inflated within its declared size, when the archive has it. */
  readonly coreProperties?: Uint8Array;
}

/**
 * Refuses archives that would expand beyond `maxUncompressedBytes` or have too many entries, from
 * the central directory alone. Then the XML parts mammoth reads are inflated with a hard bound of
 * their declared size, so a directory that lies about sizes cannot get past either; the core
 * properties are kept from that pass (they are read here, not by mammoth).
 */
export function guardZip(bytes: Uint8Array, maxUncompressedBytes: number, maxEntries: number): DocxParts {
  try {
    const directory = readZipDirectory(bytes, maxEntries);
    if (directory.uncompressedBytes > maxUncompressedBytes) {
      throw new ExtractionError(
        `The Word document would expand to ${size(directory.uncompressedBytes)} when unpacked, above the ${size(maxUncompressedBytes)} limit (it may be a zip bomb)`,
      );
    }
    let coreProperties: Uint8Array | undefined;
    for (const entry of directory.entries) {
      if (!/\.(?:xml|rels)$/i.test(entry.name)) continue;
      const inflated = inflateEntry(bytes, entry);
      if (entry.name === CORE_PROPERTIES) coreProperties = inflated;
    }
    return coreProperties ? { coreProperties } : {};
  } catch (error) {
    if (error instanceof ExtractionError) throw error;
    if (error instanceof ZipTooManyEntriesError) {
      throw new ExtractionError(
        `The Word document has ${error.entries.toLocaleString('en-US')} parts, more than the ${maxEntries.toLocaleString('en-US')} allowed (it may be a zip bomb)`,
        { cause: error },
      );
    }
    if (error instanceof ZipSizeMismatchError) {
      throw new ExtractionError(
        'The Word document is damaged: a part expands beyond the size the archive declares (it may be a zip bomb)',
        { cause: error },
      );
    }
    if (error instanceof ZipFormatError || error instanceof RangeError) {
      throw new ExtractionError('The Word document is damaged: its ZIP structure cannot be read', {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * The `dc:title` of a core-properties part, or undefined when it is missing, empty or unreadable
 * (the title is a nicety: a broken properties part never fails the document).
 */
export function coreTitle(xml: Uint8Array): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(xml);
  } catch {
    return undefined;
  }
  /** Prefixes bound to the Dublin Core namespace (always `dc` in practice, but it is a binding). */
  const prefixes = new Set<string>();
  let depth = 0;
  let titleDepth = -1;
  let parts: string[] | undefined;
  let title: string | undefined;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        depth++;
        for (const [attribute, value] of Object.entries(attributes)) {
          if (attribute.startsWith('xmlns:') && value === DUBLIN_CORE) prefixes.add(attribute.slice(6));
        }
        const colon = name.indexOf(':');
        if (
          title === undefined &&
          parts === undefined &&
          colon > 0 &&
          name.slice(colon + 1) === 'title' &&
          prefixes.has(name.slice(0, colon))
        ) {
          parts = [];
          titleDepth = depth;
        }
      },
      ontext(chunk) {
        parts?.push(chunk);
      },
      onclosetag() {
        if (parts && depth === titleDepth) {
          title = tidyLine(parts.join('')) || undefined;
          parts = undefined;
        }
        depth--;
      },
    },
    { xmlMode: true, decodeEntities: true },
  );
  parser.write(text);
  parser.end();
  return title;
}

export async function extractDocx(
  bytes: Uint8Array,
  maxUncompressedBytes = DEFAULT_MAX_UNCOMPRESSED_BYTES,
  maxEntries = DEFAULT_MAX_ZIP_ENTRIES,
): Promise<ExtractedSections> {
  const { coreProperties } = guardZip(bytes, maxUncompressedBytes, maxEntries);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      {
        // Images are not text: never read them (the default would base64 every image into the HTML).
        convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
        externalFileAccess: false,
      },
    );
    html = result.value;
  } catch (error) {
    throw new ExtractionError('The Word document is damaged or not a .docx file: it cannot be read', {
      cause: error,
    });
  }
  const extracted = extractHtml(html, { docx: true });
  const title = (coreProperties && coreTitle(coreProperties)) ?? extracted.title;
  return title === undefined ? { sections: extracted.sections } : { sections: extracted.sections, title };
}
