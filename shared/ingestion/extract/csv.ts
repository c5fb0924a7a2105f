// CSV to sections (RFC 4180: quoted fields, doubled quotes, commas and line breaks inside quotes,
// CRLF or LF). Every row is written with its header ("name: Ada; role: engineer") so any run of rows
// that ends up in a chunk describes itself; rows are grouped into sections named by their row range.

import { ExtractionError, type Section } from '../types.ts';

/** Rows per section; a section's heading is its row range as a spreadsheet numbers it ("Rows 2–101"). */
export const ROWS_PER_SECTION = 100;
export const DEFAULT_MAX_ROWS = 100_000;

const QUOTE = 34;
const CR = 13;
const LF = 10;
const DELIMITERS = [',', ';', '\t', '|'] as const;

/** The delimiter that occurs most often outside quotes on the first line (comma when none does). */
export function detectDelimiter(text: string): string {
  const counts = new Map<string, number>(DELIMITERS.map((delimiter) => [delimiter, 0]));
  let quoted = false;
  for (let i = 0; i < text.length && i < 65_536; i++) {
    const char = text[i] as string;
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) break;
    else if (!quoted && counts.has(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
  }
  let best = ',';
  let bestCount = 0;
  for (const [delimiter, count] of counts) {
    if (count > bestCount) {
      best = delimiter;
      bestCount = count;
    }
  }
  return best;
}

/**
 * Parses CSV text into rows of fields. Lenient where RFC 4180 is silent: a quote inside an unquoted
 * field is kept as a character, text after a closing quote is appended, an unterminated quote runs to
 * the end. Stops with `ExtractionError` after `maxRows` rows.
 */
export function parseCsv(text: string, delimiter = ',', maxRows = Number.POSITIVE_INFINITY): string[][] {
  const rows: string[][] = [];
  const separator = delimiter.charCodeAt(0);
  const length = text.length;
  let row: string[] = [];
  let i = 0;
  while (i <= length) {
    // One field starting at i.
    let field: string;
    if (text.charCodeAt(i) === QUOTE) {
      const parts: string[] = [];
      let from = i + 1;
      i = from;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) {
          parts.push(text.slice(from));
          i = length;
          break;
        }
        if (text.charCodeAt(quote + 1) === QUOTE) {
          parts.push(text.slice(from, quote + 1));
          i = from = quote + 2;
          continue;
        }
        parts.push(text.slice(from, quote));
        i = quote + 1;
        break;
      }
      // Anything between the closing quote and the next delimiter or line end is kept.
      let end = i;
      while (end < length) {
        const code = text.charCodeAt(end);
        if (code === separator || code === LF || code === CR) break;
        end++;
      }
      if (end > i) parts.push(text.slice(i, end));
      i = end;
      field = parts.join('');
    } else {
      let end = i;
      while (end < length) {
        const code = text.charCodeAt(end);
        if (code === separator || code === LF || code === CR) break;
        end++;
      }
      field = text.slice(i, end);
      i = end;
    }
    row.push(field);
    const code = text.charCodeAt(i);
    if (code === separator) {
      i++;
      continue;
    }
    // End of line or end of text: the row is complete.
    if (!(row.length === 1 && row[0] === '')) {
      if (rows.length >= maxRows) {
        throw new ExtractionError(
          `The CSV file has more than ${maxRows.toLocaleString('en-US')} rows; split it into smaller files`,
        );
      }
      rows.push(row);
    }
    row = [];
    if (i >= length) break;
    i += code === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
  }
  return rows;
}

function clean(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

/** Renders rows with their header into sections of `ROWS_PER_SECTION` rows. */
export function extractCsv(text: string, maxRows = DEFAULT_MAX_ROWS): Section[] {
  // The header row counts too.
  const rows = parseCsv(text, detectDelimiter(text), maxRows + 1);
  const [header, ...records] = rows;
  if (!header || records.length === 0) {
    throw new ExtractionError('No extractable text: the CSV file has no data rows below its header');
  }
  const names = header.map((name, index) => clean(name) || `column ${index + 1}`);
  const sections: Section[] = [];
  let lines: string[] = [];
  let firstRow = 2; // spreadsheet numbering: the header is row 1
  const flush = (lastRow: number) => {
    if (lines.length > 0) {
      const heading = firstRow === lastRow ? `Row ${firstRow}` : `Rows ${firstRow}–${lastRow}`;
      sections.push({ text: lines.join('\n'), heading });
    }
    lines = [];
  };
  records.forEach((record, index) => {
    const rowNumber = index + 2;
    const fields: string[] = [];
    for (let column = 0; column < record.length; column++) {
      const value = clean(record[column] ?? '');
      if (value) fields.push(`${names[column] ?? `column ${column + 1}`}: ${value}`);
    }
    if (fields.length > 0) lines.push(fields.join('; '));
    if ((index + 1) % ROWS_PER_SECTION === 0) {
      flush(rowNumber);
      firstRow = rowNumber + 1;
    }
  });
  flush(records.length + 1);
  return sections;
}
