import { describe, expect, it } from '@jest/globals';
import { readZipDirectory } from '../../shared/ingestion/extract/zip.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import { checkDeclaredType, describeContent, detectType } from '../../shared/ingestion/sniff.ts';
import { type DocumentType, ExtractionError } from '../../shared/ingestion/types.ts';
import { makePdf, prose } from '../fixtures/documents/pdf.ts';
import { deflatedZeros, docxParts, makeDocx, makePng, makeZip } from '../fixtures/documents/zip.ts';

// Documents that cannot be ingested fail with an ExtractionError whose reason says why.

const utf8 = (text: string) => new TextEncoder().encode(text);
const MIB = 1024 * 1024;

async function reason(bytes: Uint8Array, type: DocumentType, limits = {}): Promise<string> {
  try {
    await extractDocument(bytes, type, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(ExtractionError);
    return (error as ExtractionError).reason;
  }
  throw new Error('extraction succeeded');
}

const pdf = makePdf([
  { heading: 'One', paragraphs: [prose(1, 6)] },
  { heading: 'Two', paragraphs: [prose(2, 6)] },
]);
const docx = makeDocx([{ text: 'Hello from Word.' }]);
const png = makePng();
const oldDoc = new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, ...new Uint8Array(504)]);
const binary = new Uint8Array(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));

describe('sniffing', () => {
  it('tells the type from the bytes', () => {
    expect(detectType(pdf)).toBe('pdf');
    expect(detectType(docx)).toBe('docx');
    expect(detectType(utf8('<!doctype html><p>Hi</p>'))).toBe('html');
    expect(detectType(utf8('name,role\nAda,engineer\n'))).toBe('txt');
    expect(detectType(png)).toBe('unknown');
    expect(detectType(binary)).toBe('unknown');
    expect(detectType(makeZip([{ name: 'xl/workbook.xml', data: '<workbook/>' }]))).toBe('unknown');
  });

  it('names what the content looks like', () => {
    expect(describeContent(png)).toBe('a PNG image');
    expect(describeContent(docx)).toBe('a Word document (DOCX)');
    expect(describeContent(makeZip([{ name: 'a.txt', data: 'a' }]))).toBe('a ZIP archive');
    expect(describeContent(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('a JPEG image');
    expect(describeContent(binary)).toBe('binary data');
    expect(describeContent(new Uint8Array())).toBe('an empty file');
  });

  it('accepts a PDF header a little way into the file, as PDF readers do', async () => {
    const prefixed = new Uint8Array([...utf8('junk before the header\n'.repeat(5)), ...pdf]);
    expect(() => checkDeclaredType(prefixed, 'pdf')).not.toThrow();
    const doc = await extractDocument(prefixed, 'pdf');
    expect(doc.units).toBe(2);
    const late = new Uint8Array([...new Uint8Array(2000).fill(0x20), ...pdf]);
    expect(() => checkDeclaredType(late, 'pdf')).toThrow('The file is not a PDF');
  });
});

describe('the wrong type for the declared one', () => {
  it.each<[string, Uint8Array, DocumentType, string]>([
    ['a PNG renamed .pdf', png, 'pdf', 'The file is not a PDF (its content looks like a PNG image)'],
    [
      'a DOCX renamed .pdf',
      docx,
      'pdf',
      'The file is not a PDF (its content looks like a Word document (DOCX))',
    ],
    [
      'text renamed .pdf',
      utf8('just text'),
      'pdf',
      'The file is not a PDF (its content looks like plain text)',
    ],
    [
      'a PDF renamed .docx',
      pdf,
      'docx',
      'The file is not a Word document (its content looks like a PDF document)',
    ],
    [
      'an Excel workbook renamed .docx',
      makeZip([
        { name: '[Content_Types].xml', data: '<Types/>' },
        { name: 'xl/workbook.xml', data: '<workbook/>' },
      ]),
      'docx',
      'The file is not a Word document (its content looks like an Excel workbook (XLSX) without word/document.xml)',
    ],
    [
      'an old .doc renamed .docx',
      oldDoc,
      'docx',
      'The file is an old-format Word document (.doc), not a .docx; save it as .docx and upload it again',
    ],
    [
      'a ZIP signature followed by garbage',
      new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...binary]),
      'docx',
      'The Word document is damaged: its ZIP structure cannot be read',
    ],
    [
      'binary bytes declared as .txt',
      binary,
      'txt',
      'The file is not a text file (its content looks like binary data)',
    ],
    ['a PNG declared as .md', png, 'md', 'The file is not a text file (its content looks like a PNG image)'],
    [
      'a PDF declared as .csv',
      pdf,
      'csv',
      'The file is not a text file (its content looks like a PDF document)',
    ],
    [
      'a DOCX declared as .html',
      docx,
      'html',
      'The file is not a text file (its content looks like a Word document (DOCX))',
    ],
    [
      'Windows-1252 text declared as .txt',
      new Uint8Array([...utf8('Caf'), 0xe9, ...utf8(' cr'), 0xe8, ...utf8('me')]),
      'txt',
      'The file is not UTF-8 text (it may use a legacy encoding such as Windows-1252); save it as UTF-8 and upload it again',
    ],
    [
      'plain text declared as .html',
      utf8('no markup here'),
      'html',
      'The file is not HTML (its content looks like plain text without markup)',
    ],
  ])('%s', async (_name, bytes, type, expected) => {
    expect(await reason(bytes, type)).toBe(expected);
  });
});

describe('damaged and protected PDFs', () => {
  it.each([
    ['truncated to half', pdf.slice(0, Math.floor(pdf.length / 2))],
    ['cut before its cross-reference table', pdf.slice(0, pdf.length - 200)],
    [
      'a header followed by garbage',
      new Uint8Array([...utf8('%PDF-1.7\n'), ...binary.filter((byte) => byte !== 0x25)]),
    ],
  ])('%s: says it is damaged', async (_name, bytes) => {
    expect(await reason(bytes, 'pdf')).toBe('The PDF is damaged or not a PDF: it cannot be opened');
  });

  it('refuses more pages than the limit', async () => {
    expect(await reason(pdf, 'pdf', { maxPages: 1 })).toBe('The PDF has 2 pages; the limit is 1');
  });

  it('says a PDF of blank pages has no text layer', async () => {
    expect(await reason(makePdf([{ paragraphs: [] }, { paragraphs: [] }]), 'pdf')).toBe(
      'No extractable text: the document has no text layer (a scanned PDF needs OCR first)',
    );
  });
});

describe('zip bombs', () => {
  it('refuses a DOCX whose parts expand beyond the limit, from the central directory alone', async () => {
    const zeros = await deflatedZeros(100 * MIB);
    expect(zeros.bytes.length).toBeLessThan(MIB / 2);
    const bomb = makeZip([
      ...docxParts([{ text: 'Looks harmless.' }]).filter((part) => part.name !== 'word/document.xml'),
      { name: 'word/document.xml', compressed: zeros },
    ]);
    expect(readZipDirectory(bomb).uncompressedBytes).toBeGreaterThan(100 * MIB);
    expect(await reason(bomb, 'docx')).toBe(
      'The Word document would expand to 100 MB when unpacked, above the 64 MB limit (it may be a zip bomb)',
    );
  });

  it('refuses a central directory that declares a huge size, whatever the data', async () => {
    const parts = docxParts([{ text: 'Tiny.' }]).map((part) =>
      part.name === 'word/styles.xml' ? { ...part, declaredSize: 0xfffffff0 } : part,
    );
    expect(await reason(makeZip(parts), 'docx')).toMatch(
      /^The Word document would expand to 4,096 MB when unpacked/,
    );
  });

  it('refuses parts that inflate beyond the size the directory declares (a lying directory)', async () => {
    const zeros = await deflatedZeros(8 * MIB);
    const liar = makeZip([
      ...docxParts([{ text: 'Lies.' }]).filter((part) => part.name !== 'word/document.xml'),
      { name: 'word/document.xml', compressed: zeros, declaredSize: 1000 },
    ]);
    expect(readZipDirectory(liar).uncompressedBytes).toBeLessThan(MIB);
    expect(await reason(liar, 'docx')).toBe(
      'The Word document is damaged: a part expands beyond the size the archive declares (it may be a zip bomb)',
    );
  });

  it('refuses an archive with too many entries before reading them', async () => {
    const parts = [
      ...docxParts([{ text: 'Many parts.' }]),
      ...Array.from({ length: 30 }, (_, i) => ({ name: `word/extra${i}.bin`, data: 'x', store: true })),
    ];
    expect(await reason(makeZip(parts), 'docx', { maxZipEntries: 20 })).toBe(
      'The Word document has 35 parts, more than the 20 allowed (it may be a zip bomb)',
    );
  });

  it('honours a lower uncompressed-size limit', async () => {
    expect(await reason(docx, 'docx', { maxUncompressedBytes: 1000 })).toMatch(
      /^The Word document would expand to 1\.\d KB when unpacked, above the 1000 bytes limit/,
    );
  });
});
