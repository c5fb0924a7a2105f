// HTML to sections: visible text only, one section per heading, each with the path of headings
// above it (h1–h6 by level). The title is the <title>, else the first h1. Also used for DOCX,
// which mammoth turns into simple HTML (headings, paragraphs, lists, tables, footnotes).

import { type Handler, Parser } from 'htmlparser2';
import type { ExtractedSections, Section } from '../types.ts';
import { tidyLine, tidyText } from './text.ts';

/** Elements whose content is never visible text (or is navigation chrome repeated on every page). */
const SKIPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'svg',
  'math',
  'iframe',
  'object',
  'embed',
  'canvas',
  'audio',
  'video',
  'select',
  'datalist',
  'nav',
]);

/** Blocks that stand apart: a blank line before and after. */
const PARAGRAPH_BLOCKS = new Set([
  'p',
  'blockquote',
  'pre',
  'table',
  'ul',
  'ol',
  'dl',
  'hr',
  'figure',
  'section',
  'article',
  'header',
  'footer',
  'main',
  'aside',
  'address',
  'details',
  'fieldset',
  'form',
  'center',
  'dialog',
  'hgroup',
  'search',
]);

/** Blocks that start on a new line. */
const LINE_BLOCKS = new Set([
  'div',
  'li',
  'tr',
  'dt',
  'dd',
  'caption',
  'figcaption',
  'summary',
  'legend',
  'option',
  'menu',
  'thead',
  'tbody',
  'tfoot',
]);

const VOID_IN_HEAD = new Set(['meta', 'link', 'base']);

const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

const NONE = 0;
const LINE = 1;
const PARAGRAPH = 2;

interface OpenSection {
  heading: string | undefined;
  /** The headings above the section, outermost first (its last entry is `heading`). */
  path: readonly string[];
  parts: string[];
}

/** The ARIA landmark for navigation, what <nav> is: chrome, not content (Sphinx's sidebars). */
const NAVIGATION_ROLE = /(?:^|\s)navigation(?:\s|$)/i;

/** Permalink anchors ("¶" in Sphinx and MkDocs, "#" elsewhere) carry no words of the heading. */
const HEADER_LINK_CLASS = /(?:^|\s)headerlink(?:\s|$)/;
const WORDS = /[\p{L}\p{N}]/u;

export interface HtmlOptions {
  /** Drop mammoth's footnote and endnote back-links ("↑"). */
  readonly docx?: boolean;
}

/**
 * htmlparser2 keeps the open elements in an array that it `unshift`s and searches for every tag,
 * which makes deeply nested markup quadratic (1 MB of 100 000 nested <div>s took 7 s, 100 000
 * unclosed <span>s 10 s). Only the innermost MAX_OPEN_ELEMENTS stay open: the end tags of those
 * further out are then ignored (the reader never sees them close), which only a document nested
 * that deep can notice. The stacks are the parser's private fields: if a new htmlparser2 renames
 * them this guard does nothing, and test/unit/extract-linear.test.ts fails.
 */
const MAX_OPEN_ELEMENTS = 256;

/** The parser's own stacks of open elements and foreign (SVG, MathML) contexts, innermost first. */
interface ParserStacks {
  readonly stack?: unknown[];
  readonly foreignContext?: unknown[];
}

/** Parses `html` with the handler, holding the parser's stacks to MAX_OPEN_ELEMENTS (see above). */
function parseHtml(html: string, handler: Partial<Handler>): void {
  const onopentag = handler.onopentag;
  const parser: Parser = new Parser(
    {
      ...handler,
      onopentag(name, attributes, isImplied) {
        const { stack, foreignContext } = parser as unknown as ParserStacks;
        if (stack && stack.length > MAX_OPEN_ELEMENTS) stack.length = MAX_OPEN_ELEMENTS;
        // The outermost foreign context is the document's own (HTML): it stays, last.
        if (foreignContext && foreignContext.length > MAX_OPEN_ELEMENTS)
          foreignContext.splice(MAX_OPEN_ELEMENTS - 1, foreignContext.length - MAX_OPEN_ELEMENTS);
        onopentag?.(name, attributes, isImplied);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
}

/** The text of an HTML fragment (a raw HTML block in Markdown): tags and comments dropped, entities decoded. */
export function htmlText(html: string): string {
  const parts: string[] = [];
  let inScript = false;
  parseHtml(html, {
    onopentag(name) {
      if (name === 'script' || name === 'style') inScript = true;
    },
    ontext(text) {
      if (!inScript) parts.push(text);
    },
    onclosetag(name) {
      if (name === 'script' || name === 'style') inScript = false;
    },
  });
  return parts.join('');
}

/** Whether an element is left out whole: never visible, hidden, navigation, or a permalink. */
function isSkipped(name: string, attributes: Record<string, string>, options: HtmlOptions): boolean {
  return (
    SKIPPED.has(name) ||
    'hidden' in attributes ||
    attributes['aria-hidden'] === 'true' ||
    NAVIGATION_ROLE.test(attributes.role ?? '') ||
    (name === 'a' && HEADER_LINK_CLASS.test(attributes.class ?? '')) ||
    (options.docx === true && name === 'a' && /^#(?:footnote|endnote)-ref-/.test(attributes.href ?? ''))
  );
}

/** Turns the parser's events into sections: where the reader is in the page and what it has written. */
class HtmlReader {
  readonly sections: Section[] = [];
  title: string | undefined;
  firstH1: string | undefined;
  private readonly options: HtmlOptions;
  private current: OpenSection = { heading: undefined, path: [], parts: [] };
  private sawHeading = false;
  /** The open headings by level (index 0 is h1); a new heading drops those at its level and below. */
  private readonly headings: Array<string | undefined> = [];
  private skipDepth = 0;
  /** Inside <head>: nothing but the <title> is read there. */
  private inHead = false;
  private inTitle = false;
  private readonly titleParts: string[] = [];
  private headingParts: string[] | undefined;
  private headingLevel = 0;
  /** Inside a heading, the anchor being read: where its text starts and where it links. */
  private anchor: { start: number; href: string } | undefined;
  private preDepth = 0;
  private cellDepth = 0;
  /** Break owed before the next text: NONE, LINE or PARAGRAPH. */
  private pendingBreak = NONE;
  /** Whether the last text written ended in whitespace (or nothing has been written on this line). */
  private atSpace = true;
  /** Per open table row: how many cells it has opened so far. */
  private readonly rowCells: number[] = [];
  /** Per open list: the next number for an ordered list, or 0 for bullets. */
  private readonly lists: number[] = [];
  /** The marker of a list item whose text has not started yet. */
  private marker: string | undefined;

  constructor(options: HtmlOptions) {
    this.options = options;
  }

  flush(): void {
    const text = tidyText(this.current.parts.join(''));
    if (text) {
      const { heading, path } = this.current;
      this.sections.push(heading === undefined ? { text } : { text, heading, headingPath: path });
    }
  }

  openTag(name: string, attributes: Record<string, string>): void {
    if (this.skipDepth > 0) {
      this.skipDepth++;
      return;
    }
    if (this.openInHead(name)) return;
    if (isSkipped(name, attributes, this.options)) {
      this.skipDepth = 1;
      return;
    }
    if (HEADINGS.has(name) && this.cellDepth === 0 && !this.headingParts) {
      this.headingParts = [];
      this.headingLevel = Number(name[1]);
      return;
    }
    if (name === 'a' && this.headingParts) {
      this.anchor = { start: this.headingParts.length, href: attributes.href ?? '' };
      return;
    }
    if (name === 'br') {
      this.lineBreak();
      return;
    }
    if (name === 'pre') this.preDepth++;
    if (name === 'td' || name === 'th') {
      this.openCell();
      return;
    }
    if (name === 'tr') this.rowCells.push(0);
    if (name === 'ul' || name === 'menu') this.lists.push(0);
    if (name === 'ol') this.lists.push(Number.parseInt(attributes.start ?? '1', 10) || 1);
    this.blockBreak(name);
    if (name === 'li' && this.cellDepth === 0 && !this.headingParts) this.openListItem();
  }

  text(text: string): void {
    if (this.skipDepth > 0) return;
    if (this.inTitle) {
      this.titleParts.push(text);
      return;
    }
    if (this.inHead) return;
    this.writeText(text);
  }

  closeTag(name: string): void {
    if (this.skipDepth > 0) {
      this.skipDepth--;
      return;
    }
    if (this.inTitle && name === 'title') {
      this.closeTitle();
      return;
    }
    if (name === 'head') {
      this.inHead = false;
      return;
    }
    if (name === 'a' && this.headingParts && this.anchor) {
      this.closeAnchor(this.headingParts, this.anchor);
      return;
    }
    if (HEADINGS.has(name) && this.headingParts) {
      this.closeHeading(this.headingParts);
      return;
    }
    if (name === 'pre' && this.preDepth > 0) this.preDepth--;
    if ((name === 'td' || name === 'th') && this.cellDepth > 0) {
      this.cellDepth--;
      return;
    }
    if (name === 'tr') this.rowCells.pop();
    if (name === 'li') this.marker = undefined;
    if (name === 'ul' || name === 'ol' || name === 'menu') this.lists.pop();
    this.blockBreak(name);
  }

  /** <head>, <body>, <title> and what <head> holds; whether the tag was one of those. */
  private openInHead(name: string): boolean {
    if (name === 'head') {
      this.inHead = true;
      return true;
    }
    if (name === 'body') this.inHead = false;
    if (name === 'title' && this.title === undefined && !this.sawHeading) {
      this.inTitle = true;
      return true;
    }
    if (this.inHead && name !== 'title') {
      // <meta>, <link> and <base> are void; anything else in <head> is skipped whole.
      if (!VOID_IN_HEAD.has(name)) this.skipDepth = 1;
      return true;
    }
    return false;
  }

  private lineBreak(): void {
    // Two line breaks in a row are how many pages separate paragraphs.
    if (this.headingParts || this.cellDepth > 0 || this.preDepth === 0)
      this.requestBreak(this.pendingBreak === LINE ? PARAGRAPH : LINE);
    if (this.preDepth > 0 && !this.headingParts) this.write('\n');
    this.atSpace = true;
  }

  private openCell(): void {
    const index = this.rowCells.length - 1;
    const opened = this.rowCells[index] ?? 0;
    if (index >= 0) this.rowCells[index] = opened + 1;
    if (opened > 0 && this.cellDepth === 0) {
      this.write(' | ');
      this.atSpace = true;
    }
    this.cellDepth++;
  }

  private openListItem(): void {
    const depth = this.lists.length - 1;
    const next = this.lists[depth];
    if (next !== undefined && next > 0) {
      this.lists[depth] = next + 1;
      this.marker = `${next}. `;
    } else {
      this.marker = '- ';
    }
  }

  /** Blocks stand apart from what is around them, at their start and at their end. */
  private blockBreak(name: string): void {
    if (PARAGRAPH_BLOCKS.has(name)) this.requestBreak(PARAGRAPH);
    else if (LINE_BLOCKS.has(name)) this.requestBreak(LINE);
  }

  private closeTitle(): void {
    this.inTitle = false;
    this.title = tidyLine(this.titleParts.join('')) || undefined;
    if (!this.sawHeading) {
      this.current.heading = this.title;
      this.current.path = this.title === undefined ? [] : [this.title];
    }
  }

  private closeAnchor(headingParts: string[], anchor: { start: number; href: string }): void {
    // A link to its own heading with no words ("¶", "#", an icon) is a permalink: dropped.
    const own = headingParts.slice(anchor.start).join('');
    if (anchor.href.startsWith('#') && !WORDS.test(own)) headingParts.length = anchor.start;
    this.anchor = undefined;
  }

  private closeHeading(headingParts: string[]): void {
    const heading = tidyLine(headingParts.join(''));
    this.headingParts = undefined;
    this.anchor = undefined;
    if (!heading) return;
    this.flush();
    this.sawHeading = true;
    if (this.headingLevel === 1) this.firstH1 ??= heading;
    this.headings.length = Math.min(this.headings.length, this.headingLevel - 1);
    this.headings[this.headingLevel - 1] = heading;
    const path = this.headings.filter((entry): entry is string => entry !== undefined);
    this.current = { heading, path, parts: [] };
    this.pendingBreak = NONE;
    this.atSpace = true;
  }

  private requestBreak(kind: number): void {
    if (this.headingParts) {
      this.headingParts.push(' ');
      return;
    }
    if (this.cellDepth > 0) {
      if (!this.atSpace) {
        this.current.parts.push(' ');
        this.atSpace = true;
      }
      return;
    }
    if (kind > this.pendingBreak) this.pendingBreak = kind;
  }

  private write(text: string): void {
    if (this.headingParts) {
      this.headingParts.push(text);
      return;
    }
    if (this.pendingBreak !== NONE) {
      if (this.current.parts.length > 0)
        this.current.parts.push(this.pendingBreak === PARAGRAPH ? '\n\n' : '\n');
      this.pendingBreak = NONE;
      this.atSpace = true;
    }
    if (this.marker) {
      // A list item's marker goes right before its first text, after any blocks it opens.
      this.current.parts.push(this.marker);
      this.marker = undefined;
    }
    this.current.parts.push(text);
  }

  private writeText(raw: string): void {
    if (this.headingParts) {
      this.headingParts.push(raw);
      return;
    }
    if (this.preDepth > 0) {
      this.write(raw);
      this.atSpace = /\s$/.test(raw);
      return;
    }
    let text = raw.replace(/[\t\n\f\r ]+/g, ' ');
    if (this.atSpace || this.pendingBreak !== NONE || this.marker) text = text.replace(/^ /, '');
    if (!text) return;
    this.write(text);
    this.atSpace = text.endsWith(' ');
  }
}

export function extractHtml(html: string, options: HtmlOptions = {}): ExtractedSections {
  const reader = new HtmlReader(options);
  parseHtml(html, {
    onopentag: (name, attributes) => reader.openTag(name, attributes),
    ontext: (text) => reader.text(text),
    onclosetag: (name) => reader.closeTag(name),
  });
  reader.flush();
  const title = reader.title ?? reader.firstH1;
  return title === undefined ? { sections: reader.sections } : { sections: reader.sections, title };
}
