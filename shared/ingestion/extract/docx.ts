// DOCX to sections: the ZIP is checked first (entry count and the uncompressed size its central
// directory declares, without inflating anything), then mammoth converts the document to simple HTML
// (headings, lists, tables, footnotes, text boxes) and the HTML extractor makes the sections.

import mammoth from 'mammoth';
import { ExtractionError, type Section } from '../types.ts';
import { extractHtml } from './html.ts';
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

/**
 * Refuses archives that would expand beyond `maxUncompressedBytes` or have too many entries, from
 * the central directory alone. Then the XML parts mammoth reads are inflated with a hard bound of
 * their declared size, so a directory that lies about sizes cannot get past either.
 */
export function guardZip(bytes: Uint8Array, maxUncompressedBytes: number, maxEntries: number): void {
  try {
    const directory = readZipDirectory(bytes, maxEntries);
    if (directory.uncompressedBytes > maxUncompressedBytes) {
      throw new ExtractionError(
        `The Word document would expand to ${size(directory.uncompressedBytes)} when unpacked, above the ${size(maxUncompressedBytes)} limit (it may be a zip bomb)`,
      );
    }
    for (const entry of directory.entries) {
      if (/\.(?:xml|rels)$/i.test(entry.name)) inflateEntry(bytes, entry);
    }
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

export async function extractDocx(
  bytes: Uint8Array,
  maxUncompressedBytes = DEFAULT_MAX_UNCOMPRESSED_BYTES,
  maxEntries = DEFAULT_MAX_ZIP_ENTRIES,
): Promise<Section[]> {
  guardZip(bytes, maxUncompressedBytes, maxEntries);
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
  return extractHtml(html, { docx: true });
}
