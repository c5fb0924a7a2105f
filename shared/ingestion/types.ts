// What extraction produces and the splitter consumes.

export const DOCUMENT_TYPES = {
  pdf: { contentTypes: ['application/pdf'], extensions: ['.pdf'] },
  docx: {
    contentTypes: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
    extensions: ['.docx'],
  },
  txt: { contentTypes: ['text/plain'], extensions: ['.txt'] },
  md: { contentTypes: ['text/markdown', 'text/x-markdown'], extensions: ['.md', '.markdown'] },
  csv: { contentTypes: ['text/csv'], extensions: ['.csv'] },
  html: { contentTypes: ['text/html'], extensions: ['.html', '.htm'] },
} as const;

export type DocumentType = keyof typeof DOCUMENT_TYPES;

/** A run of text with where it came from: a PDF page, or the heading it sits under. */
export interface Section {
  readonly text: string;
  readonly page?: number;
  readonly heading?: string;
  /** The headings above the text, outermost first; its last entry is `heading`. */
  readonly headingPath?: readonly string[];
}

export interface ExtractedDocument {
  readonly sections: readonly Section[];
  /** Pages for PDFs; sections otherwise. */
  readonly units: number;
  /** The document's own title (HTML <title>, front matter, DOCX or PDF properties, first h1). */
  readonly title?: string;
}

/** What one format's extractor returns (`extractDocument` adds the units). */
export interface ExtractedSections {
  readonly sections: Section[];
  readonly title?: string;
}

export interface Chunk {
  readonly ordinal: number;
  readonly text: string;
  readonly page?: number;
  readonly heading?: string;
  /** The section's heading path, outermost first (its last entry is `heading`). */
  readonly headingPath?: readonly string[];
}

/** A document that cannot be ingested, with a reason a person understands (shown to the admin). */
export class ExtractionError extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'ExtractionError';
  }
}
