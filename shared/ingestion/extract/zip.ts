// Reads a ZIP archive's central directory (the table of contents at the end of the file) without
// inflating anything: entry names, sizes and where each entry's data starts. DOCX files are ZIP
// archives; this is how they are recognised and how zip bombs are refused before mammoth unpacks them.
// Format: PKWARE APPNOTE.TXT §4.3 (end of central directory, ZIP64 records and extra field).

import { inflateRawSync } from 'node:zlib';

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

export interface ZipDirectory {
  /** Entries as the end-of-central-directory record counts them (checked before they are read). */
  readonly declaredEntries: number;
  readonly entries: readonly ZipEntry[];
  /** Sum of every entry's declared uncompressed size. */
  readonly uncompressedBytes: number;
}

/** The bytes are not a readable ZIP archive. */
export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

/** The archive declares more entries than the caller allows; thrown before any entry is read. */
export class ZipTooManyEntriesError extends Error {
  override name = 'ZipTooManyEntriesError';
  constructor(readonly entries: number) {
    super(`The archive declares ${entries} entries`);
  }
}

export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0x50 &&
    bytes[1] === 0x4b &&
    ((bytes[2] === 0x03 && bytes[3] === 0x04) || (bytes[2] === 0x05 && bytes[3] === 0x06))
  );
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(data: DataView, offset: number): number {
  const value = data.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('A ZIP64 size is out of range');
  return Number(value);
}

function findEndOfCentralDirectory(bytes: Uint8Array, data: DataView): number {
  const last = bytes.length - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let at = last; at >= first; at--) {
    if (bytes[at] === 0x50 && bytes[at + 1] === 0x4b && data.getUint32(at, true) === EOCD_SIGNATURE)
      return at;
  }
  throw new ZipFormatError('No end-of-central-directory record');
}

/**
 * Lists the archive's entries from its central directory. Throws `ZipTooManyEntriesError` when the
 * archive declares more than `maxEntries` entries (before reading them) and `ZipFormatError` when the
 * structure is unreadable.
 */
export function readZipDirectory(bytes: Uint8Array, maxEntries = Number.POSITIVE_INFINITY): ZipDirectory {
  const data = view(bytes);
  const eocd = findEndOfCentralDirectory(bytes, data);
  let total = data.getUint16(eocd + 10, true);
  let directorySize = data.getUint32(eocd + 12, true);
  let directoryOffset = data.getUint32(eocd + 16, true);

  if (total === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    const locator = eocd - 20;
    if (locator >= 0 && data.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
      const record = u64(data, locator + 8);
      if (record + 56 > bytes.length || data.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE) {
        throw new ZipFormatError('Broken ZIP64 end-of-central-directory record');
      }
      total = u64(data, record + 32);
      directorySize = u64(data, record + 40);
      directoryOffset = u64(data, record + 48);
    }
  }
  if (total > maxEntries) throw new ZipTooManyEntriesError(total);
  if (directoryOffset + directorySize > bytes.length) {
    throw new ZipFormatError('The central directory lies outside the file');
  }

  const decoder = new TextDecoder();
  const entries: ZipEntry[] = [];
  let uncompressedBytes = 0;
  let at = directoryOffset;
  for (let index = 0; index < total; index++) {
    if (at + 46 > bytes.length || data.getUint32(at, true) !== CENTRAL_HEADER_SIGNATURE) {
      throw new ZipFormatError('Broken central directory entry');
    }
    const method = data.getUint16(at + 10, true);
    let compressedSize = data.getUint32(at + 20, true);
    let uncompressedSize = data.getUint32(at + 24, true);
    const nameLength = data.getUint16(at + 28, true);
    const extraLength = data.getUint16(at + 30, true);
    const commentLength = data.getUint16(at + 32, true);
    let localHeaderOffset = data.getUint32(at + 42, true);
    const nameStart = at + 46;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > bytes.length) throw new ZipFormatError('Broken central directory entry');

    // ZIP64 extended information: 8-byte values, present only for the fields that overflowed.
    if (uncompressedSize === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX) {
      for (let field = extraStart; field + 4 <= extraStart + extraLength; ) {
        const id = data.getUint16(field, true);
        const size = data.getUint16(field + 2, true);
        if (id === 0x0001) {
          let value = field + 4;
          const end = value + size;
          if (uncompressedSize === U32_MAX && value + 8 <= end) {
            uncompressedSize = u64(data, value);
            value += 8;
          }
          if (compressedSize === U32_MAX && value + 8 <= end) {
            compressedSize = u64(data, value);
            value += 8;
          }
          if (localHeaderOffset === U32_MAX && value + 8 <= end) localHeaderOffset = u64(data, value);
          break;
        }
        field += 4 + size;
      }
    }

    entries.push({
      name: decoder.decode(bytes.subarray(nameStart, extraStart)),
      method,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
    });
    uncompressedBytes += uncompressedSize;
    at = next;
  }
  return { declaredEntries: total, entries, uncompressedBytes };
}

/** The entry's compressed bytes, located through its local file header. */
export function entryData(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const data = view(bytes);
  const at = entry.localHeaderOffset;
  if (at + 30 > bytes.length || data.getUint32(at, true) !== LOCAL_HEADER_SIGNATURE) {
    throw new ZipFormatError(`Broken local header for ${entry.name}`);
  }
  const start = at + 30 + data.getUint16(at + 26, true) + data.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) throw new ZipFormatError(`${entry.name} is truncated`);
  return bytes.subarray(start, end);
}

/** An entry inflates to more bytes than its central directory entry declares. */
export class ZipSizeMismatchError extends Error {
  override name = 'ZipSizeMismatchError';
}

/**
 * Inflates one entry with a hard output bound of its declared size, so a lying central directory
 * cannot make it allocate more than it admitted to. Returns the inflated bytes.
 */
export function inflateEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const compressed = entryData(bytes, entry);
  if (entry.method === METHOD_STORED) {
    if (compressed.length !== entry.uncompressedSize) {
      throw new ZipSizeMismatchError(`${entry.name} is not the size it declares`);
    }
    return compressed;
  }
  if (entry.method !== METHOD_DEFLATE) {
    throw new ZipFormatError(`${entry.name} uses unsupported compression method ${entry.method}`);
  }
  let inflated: Uint8Array;
  try {
    inflated = inflateRawSync(compressed, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ZipSizeMismatchError(`${entry.name} expands beyond its declared size`, { cause: error });
    }
    throw new ZipFormatError(`${entry.name} cannot be inflated`, { cause: error });
  }
  if (inflated.length !== entry.uncompressedSize) {
    throw new ZipSizeMismatchError(`${entry.name} is not the size it declares`);
  }
  return inflated;
}
