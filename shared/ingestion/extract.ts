// Bytes of an uploaded document to text sections, per declared type. Every failure a person could
// act on is an `ExtractionError` with a reason to show the admin: the wrong type, a password, damage,
// a zip bomb, a scanned PDF without text. The bytes are checked against the declared type first.
// Each extractor also names the document's title where the format has one, and the heading path of
// each section where it has headings.

import { extractCsv } from './extract/csv.ts';
import { DEFAULT_MAX_UNCOMPRESSED_BYTES, DEFAULT_MAX_ZIP_ENTRIES, extractDocx } from './extract/docx.ts';
import { extractHtml } from './extract/html.ts';
import { extractMarkdown } from './extract/markdown.ts';
import { DEFAULT_DECODED_LIMITS, DEFAULT_MAX_PAGES, extractPdf } from './extract/pdf.ts';
import { hasText, tidyText } from './extract/text.ts';
import { checkDeclaredType, decodeDeclaredText } from './sniff.ts';
import { type DocumentType, type ExtractedDocument, ExtractionError, type Section } from './types.ts';

export interface ExtractLimits {
  /** DOCX: the most bytes the archive may declare when unpacked (default 64 MiB). */
  readonly maxUncompressedBytes?: number;
  /** PDF: the most pages (default 2,000). */
  readonly maxPages?: number;
  /** PDF: the most bytes one stream may inflate to (default 128 MiB). */
  readonly maxStreamBytes?: number;
  /** PDF: the most bytes all streams together may inflate to (default 1 GiB). */
  readonly maxDecodedBytes?: number;
  /** CSV: the most data rows (default 100,000). */
  readonly maxRows?: number;
  /** DOCX: the most ZIP entries (default 10,000). */
  readonly maxZipEntries?: number;
}

export const DEFAULT_LIMITS = {
  maxUncompressedBytes: DEFAULT_MAX_UNCOMPRESSED_BYTES,
  maxPages: DEFAULT_MAX_PAGES,
  ...DEFAULT_DECODED_LIMITS,
  maxRows: 100_000,
  maxZipEntries: DEFAULT_MAX_ZIP_ENTRIES,
} as const satisfies Required<ExtractLimits>;

const NO_TEXT: Record<DocumentType, string> = {
  pdf: 'No extractable text: the document has no text layer (a scanned PDF needs OCR first)',
  docx: 'No extractable text: the Word document contains no text',
  html: 'No extractable text: the HTML page has no visible text',
  md: 'No extractable text: the Markdown file is empty',
  csv: 'No extractable text: the CSV file has no data rows below its header',
  txt: 'No extractable text: the file is empty',
};

function plainText(text: string): Section[] {
  const tidy = tidyText(text);
  return tidy ? [{ text: tidy }] : [];
}

export async function extractDocument(
  bytes: Uint8Array,
  type: DocumentType,
  limits: ExtractLimits = {},
): Promise<ExtractedDocument> {
  const { maxUncompressedBytes, maxPages, maxStreamBytes, maxDecodedBytes, maxRows, maxZipEntries } = {
    ...DEFAULT_LIMITS,
    ...limits,
  };
  let sections: Section[];
  let units: number | undefined;
  let title: string | undefined;
  switch (type) {
    case 'pdf': {
      checkDeclaredType(bytes, 'pdf');
      ({ sections, units, title } = await extractPdf(bytes, maxPages, { maxStreamBytes, maxDecodedBytes }));
      break;
    }
    case 'docx':
      checkDeclaredType(bytes, 'docx');
      ({ sections, title } = await extractDocx(bytes, maxUncompressedBytes, maxZipEntries));
      break;
    case 'html':
      ({ sections, title } = extractHtml(decodeDeclaredText(bytes, 'html')));
      break;
    case 'md':
      ({ sections, title } = extractMarkdown(decodeDeclaredText(bytes, 'md')));
      break;
    case 'csv':
      sections = extractCsv(decodeDeclaredText(bytes, 'csv'), maxRows);
      break;
    case 'txt':
      sections = plainText(decodeDeclaredText(bytes, 'txt'));
      break;
    default:
      throw new ExtractionError(`Unsupported document type: ${String(type)}`);
  }
  sections = sections.filter((section) => hasText(section.text));
  if (sections.length === 0) throw new ExtractionError(NO_TEXT[type]);
  return { sections, units: units ?? sections.length, ...(title !== undefined && { title }) };
}
