// What a file really is, from its first bytes, and whether that matches what the uploader said.
// An upload's extension and content type are claims; these checks turn a mismatch into a reason a
// person understands ("The file is not a PDF (its content looks like a PNG image)").

import { decodeText, decodeTextOrThrow } from './extract/text.ts';
import { isZip, readZipDirectory, ZipFormatError, ZipTooManyEntriesError } from './extract/zip.ts';
import { type DocumentType, ExtractionError } from './types.ts';

/** Readers accept `%PDF-` a little way into the file (pdf.js and Acrobat search the first 1024 bytes). */
const PDF_HEADER_WINDOW = 1024;
const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-
const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
/** How many entries sniffing reads from a ZIP's directory before giving up on naming its content. */
const SNIFF_MAX_ZIP_ENTRIES = 100_000;
const MARKUP_WINDOW = 65_536;

function startsWith(bytes: Uint8Array, magic: readonly number[], at = 0): boolean {
  if (bytes.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[at + i] !== magic[i]) return false;
  return true;
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

/** Offset of `%PDF-` within the first 1024 bytes, or -1. */
export function pdfHeaderOffset(bytes: Uint8Array): number {
  const last = Math.min(bytes.length - PDF_MAGIC.length, PDF_HEADER_WINDOW);
  for (let at = 0; at <= last; at++) {
    if (bytes[at] === 0x25 && startsWith(bytes, PDF_MAGIC, at)) return at;
  }
  return -1;
}

type ZipKind = 'docx' | 'xlsx' | 'pptx' | 'odf' | 'epub' | 'zip' | 'broken';

function zipKind(bytes: Uint8Array): ZipKind {
  let names: string[];
  try {
    names = readZipDirectory(bytes, SNIFF_MAX_ZIP_ENTRIES).entries.map((entry) => entry.name);
  } catch (error) {
    if (
      error instanceof ZipFormatError ||
      error instanceof ZipTooManyEntriesError ||
      error instanceof RangeError
    ) {
      return 'broken';
    }
    throw error;
  }
  const has = (name: string) => names.includes(name);
  if (has('word/document.xml')) return 'docx';
  if (has('xl/workbook.xml')) return 'xlsx';
  if (has('ppt/presentation.xml')) return 'pptx';
  if (has('mimetype') && has('META-INF/container.xml')) return 'epub';
  if (has('mimetype') && has('content.xml')) return 'odf';
  return 'zip';
}

const MARKUP =
  /<(?:!doctype\s+html|html|head|body|title|meta|link|script|style|p|div|span|h[1-6]|table|tr|td|th|ul|ol|li|dl|dt|dd|a|b|i|em|strong|code|pre|blockquote|br|hr|img|form|input|label|button|header|footer|nav|article|section|main|aside|figure|svg|iframe|template)[\s>/]/i;

/** Whether decoded text looks like HTML or other markup (a tag near the start). */
export function looksLikeMarkup(text: string): boolean {
  const head = text.slice(0, MARKUP_WINDOW);
  return MARKUP.test(head);
}

/** The document type the bytes are, where that can be told from the bytes alone. */
export function detectType(bytes: Uint8Array): DocumentType | 'unknown' {
  if (pdfHeaderOffset(bytes) >= 0) return 'pdf';
  if (isZip(bytes)) return zipKind(bytes) === 'docx' ? 'docx' : 'unknown';
  if (binarySignature(bytes)) return 'unknown';
  const decoded = decodeText(bytes);
  if (!('text' in decoded)) return 'unknown';
  return looksLikeMarkup(decoded.text) ? 'html' : 'txt';
}

/** A human name for well-known binary formats, from their signature. */
function binarySignature(bytes: Uint8Array): string | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'a PNG image';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'a JPEG image';
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) return 'a GIF image';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'a WebP image';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return 'a TIFF image';
  }
  if (ascii(bytes, 4, 4) === 'ftyp') return 'a video or HEIC image';
  if (startsWith(bytes, OLE_MAGIC)) return 'an old-format Office document (.doc, .xls or .ppt)';
  if (startsWith(bytes, [0x1f, 0x8b])) return 'a gzip archive';
  if (startsWith(bytes, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return 'a 7-Zip archive';
  if (ascii(bytes, 0, 4) === 'Rar!') return 'a RAR archive';
  if (ascii(bytes, 0, 5) === '{\\rtf') return 'an RTF document';
  if (startsWith(bytes, [0x7f, 0x45, 0x4c, 0x46])) return 'a program';
  if ((ascii(bytes, 0, 3) === 'ID3' && (bytes[3] ?? 0xff) < 10) || ascii(bytes, 0, 4) === 'OggS') {
    return 'an audio file';
  }
  return undefined;
}

/** What the bytes look like, for messages: "a PNG image", "a ZIP archive", "plain text". */
export function describeContent(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'an empty file';
  if (pdfHeaderOffset(bytes) >= 0) return 'a PDF document';
  if (isZip(bytes)) {
    switch (zipKind(bytes)) {
      case 'docx':
        return 'a Word document (DOCX)';
      case 'xlsx':
        return 'an Excel workbook (XLSX)';
      case 'pptx':
        return 'a PowerPoint presentation (PPTX)';
      case 'epub':
        return 'an EPUB e-book';
      case 'odf':
        return 'an OpenDocument file';
      default:
        return 'a ZIP archive';
    }
  }
  const known = binarySignature(bytes);
  if (known) return known;
  const decoded = decodeText(bytes);
  if ('text' in decoded) return looksLikeMarkup(decoded.text) ? 'an HTML page' : 'plain text';
  return decoded.problem === 'encoding' ? 'text in a legacy encoding' : 'binary data';
}

/**
 * Throws `ExtractionError` with a clear reason when the bytes are not what the upload declared.
 * Text formats must be UTF-8 (a byte-order mark is fine; UTF-16 with one is accepted too).
 */
export function checkDeclaredType(bytes: Uint8Array, declared: DocumentType): void {
  switch (declared) {
    case 'pdf':
      if (pdfHeaderOffset(bytes) < 0) {
        throw new ExtractionError(`The file is not a PDF (its content looks like ${describeContent(bytes)})`);
      }
      return;
    case 'docx':
      checkDocx(bytes);
      return;
    case 'html': {
      const text = checkText(bytes);
      if (!looksLikeMarkup(text)) {
        throw new ExtractionError('The file is not HTML (its content looks like plain text without markup)');
      }
      return;
    }
    case 'txt':
    case 'md':
    case 'csv':
      checkText(bytes);
      return;
  }
}

function checkDocx(bytes: Uint8Array): void {
  if (startsWith(bytes, OLE_MAGIC)) {
    throw new ExtractionError(
      'The file is an old-format Word document (.doc), not a .docx; save it as .docx and upload it again',
    );
  }
  if (!isZip(bytes)) {
    throw new ExtractionError(
      `The file is not a Word document (its content looks like ${describeContent(bytes)})`,
    );
  }
  const kind = zipKind(bytes);
  if (kind === 'docx') return;
  if (kind === 'broken') {
    throw new ExtractionError('The Word document is damaged: its ZIP structure cannot be read');
  }
  throw new ExtractionError(
    `The file is not a Word document (its content looks like ${describeContent(bytes)} without word/document.xml)`,
  );
}

function checkText(bytes: Uint8Array): string {
  // Text-based formats can be pure ASCII (an uncompressed PDF): catch those by their signature.
  if (pdfHeaderOffset(bytes) === 0 || isZip(bytes) || binarySignature(bytes)) {
    throw new ExtractionError(
      `The file is not a text file (its content looks like ${describeContent(bytes)})`,
    );
  }
  return decodeTextOrThrow(bytes, describeContent);
}

/** Decodes a text upload after the same checks as `checkDeclaredType` (one pass over the bytes). */
export function decodeDeclaredText(bytes: Uint8Array, declared: 'txt' | 'md' | 'csv' | 'html'): string {
  const text = checkText(bytes);
  if (declared === 'html' && !looksLikeMarkup(text)) {
    throw new ExtractionError('The file is not HTML (its content looks like plain text without markup)');
  }
  return text;
}
