// Fits the bot's replies to a messaging platform. Replies are Markdown-ish (what chat models
// write); platforms take one message up to a limit (the kind's `replyLimit`) and each has its own
// formatting, which its ChannelKind gives as a `Markup`; plain text is the one kinds share. The
// reply is split first and every part converted on its own, so a part can never hold half a tag:
// markup cut by a split is left as the literal characters (escaped in HTML), and a fenced code
// block cut by a split is closed at the end of its part and reopened in the next.

export interface ReplyLimit {
  readonly max: number;
  /** UTF-16 code units (what most platforms count) or UTF-8 bytes. */
  readonly unit: 'chars' | 'bytes';
}

/** One message of a reply: `text` as the platform gets it, and the same part as plain text. */
export interface ReplyPart {
  readonly text: string;
  /** Sent instead when the platform refuses the formatted text (Telegram's `can't parse entities`). */
  readonly plain: string;
}

/** The length of `text` in the limit's unit. */
export function measure(text: string, unit: ReplyLimit['unit']): number {
  return unit === 'bytes' ? Buffer.byteLength(text, 'utf8') : text.length;
}

// ---------------------------------------------------------------------------------------------
// Splitting

/**
 * Splits `text` into parts within `limit`, in order. A part ends, by preference, at a paragraph
 * break, a line break, a sentence end, a space, and only then anywhere between two graphemes; a
 * weaker break is taken over a stronger one only when the stronger would leave the part less than
 * half full (many short messages read worse than one break in a weaker place). Whitespace around
 * the cuts is dropped; parts are never empty, and never split a surrogate pair or a UTF-8 sequence.
 */
export function splitReply(text: string, limit: ReplyLimit): string[] {
  if (!Number.isInteger(limit.max) || limit.max < 4) {
    // Below 4 a single code point (4 bytes, or a surrogate pair) might not fit at all.
    throw new RangeError(`a reply limit must be an integer of at least 4, not ${limit.max}`);
  }
  const parts: string[] = [];
  let rest = text.replace(/\r\n?/g, '\n').trim();
  while (rest !== '') {
    const fit = fittingPrefix(rest, limit);
    if (fit === rest.length) {
      parts.push(rest);
      break;
    }
    const cut = chooseCut(rest, fit);
    parts.push(rest.slice(0, cut).trimEnd());
    rest = dropSeparator(rest.slice(cut));
  }
  return parts;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** The length (UTF-16 index) of the longest prefix within the limit that ends between code points. */
function fittingPrefix(text: string, limit: ReplyLimit): number {
  if (limit.unit === 'chars') {
    if (text.length <= limit.max) return text.length;
    const end = limit.max;
    return isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end)) ? end - 1 : end;
  }
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i) as number;
    // A lone surrogate is sent as U+FFFD: 3 bytes, as Buffer.byteLength counts it.
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > limit.max) break;
    bytes += size;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

/** Break finders, strongest first: each gives the cut positions (end of the part) in `window`. */
const BREAKS: readonly ((window: string) => Iterable<number>)[] = [
  // Paragraph: a blank line.
  (w) => positions(w, /\n[ \t]*\n/g, 'start'),
  // Line.
  (w) => positions(w, /\n/g, 'start'),
  // Sentence: after its punctuation (and closing quotes, and citation markers like `[2]`) when
  // whitespace follows; CJK full stops need none.
  (w) =>
    merge(
      positions(w, /[.!?…]+["'”’»)\]]*(?:[ \t]?\[\d+\])*(?=\s)/g, 'end'),
      positions(w, /[。！？]+[」』）"”]*/g, 'end'),
    ),
  // Space.
  (w) => positions(w, /[ \t\u00a0\u3000]+/g, 'start'),
];

function* positions(window: string, pattern: RegExp, at: 'start' | 'end'): Iterable<number> {
  for (const match of window.matchAll(pattern))
    yield at === 'start' ? match.index : match.index + match[0].length;
}

function* merge(...sources: Iterable<number>[]): Iterable<number> {
  for (const source of sources) yield* source;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Where to end the part, given that the first `fit` code units fit and the text goes on. */
function chooseCut(text: string, fit: number): number {
  // One more character, so that whitespace right after the window counts as a break.
  const window = text.slice(0, fit + 1);
  for (const min of [Math.max(1, Math.floor(fit / 2)), 1]) {
    for (const find of BREAKS) {
      let best = -1;
      for (const p of find(window)) if (p >= min && p <= fit && p > best) best = p;
      if (best > 0) return best;
    }
  }
  // No break at all: the last grapheme boundary that fits (an emoji sequence or a flag stays
  // whole), or the code point boundary when a single grapheme is longer than the limit.
  let cut = 0;
  for (const { index } of graphemes.segment(text.slice(0, fit + 64))) {
    if (index > fit) break;
    cut = index;
  }
  return cut > 0 ? cut : fit;
}

/** The text after a cut without the separator: blank lines go, the next line's indent stays. */
function dropSeparator(next: string): string {
  const afterLines = next.replace(/^\s*\n/, '');
  return afterLines !== next ? afterLines : next.trimStart();
}

// ---------------------------------------------------------------------------------------------
// Markdown-ish → a small tree

type Inline =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bold' | 'italic' | 'strike'; readonly children: Inline[] }
  | { readonly kind: 'code'; readonly text: string }
  | { readonly kind: 'link'; readonly url: string; readonly children: Inline[] };

type Block =
  | { readonly kind: 'line'; readonly heading: boolean; readonly prefix: string; readonly inline: Inline[] }
  | { readonly kind: 'pre'; readonly lang: string; readonly text: string };

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([\w#+.-]*)[^`]*$/;

function isClosingFence(line: string, opener: string): boolean {
  const m = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
  return !!m?.[1] && m[1][0] === opener[0] && m[1].length >= opener.length;
}

function parseBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = FENCE.exec(line);
    if (fence?.[1]) {
      const body: string[] = [];
      for (i++; i < lines.length && !isClosingFence(lines[i] as string, fence[1]); i++) {
        body.push(lines[i] as string);
      }
      // An unclosed fence runs to the end, as in CommonMark.
      blocks.push({ kind: 'pre', lang: fence[2] ?? '', text: body.join('\n') });
      continue;
    }
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (heading) {
      // A heading is bold as a whole: bold inside it would nest (`*Title *x**` on WhatsApp).
      blocks.push({
        kind: 'line',
        heading: true,
        prefix: '',
        inline: unwrapBold(parseInline(heading[1] ?? '')),
      });
      continue;
    }
    // List items keep their indent; `*` and `+` markers become `-` so they never read as emphasis.
    const item = /^([ \t]*)[*+-][ \t]+(?=\S)/.exec(line);
    if (item) {
      blocks.push({
        kind: 'line',
        heading: false,
        prefix: `${item[1]}- `,
        inline: parseInline(line.slice(item[0].length)),
      });
      continue;
    }
    blocks.push({ kind: 'line', heading: false, prefix: '', inline: parseInline(line) });
  }
  return blocks;
}

function unwrapBold(nodes: readonly Inline[]): Inline[] {
  return nodes.flatMap((node): Inline[] =>
    node.kind === 'bold'
      ? unwrapBold(node.children)
      : node.kind === 'italic' || node.kind === 'strike' || node.kind === 'link'
        ? [{ ...node, children: unwrapBold(node.children) }]
        : [node],
  );
}

const ESCAPABLE = /[!-/:-@[-`{-~]/;
const WORD_CHAR = /[\p{L}\p{N}]/u;
const isWordChar = (c: string | undefined) => c !== undefined && WORD_CHAR.test(c);
const isSpace = (c: string | undefined) => c === undefined || /\s/.test(c);

function runLength(s: string, i: number, c: string): number {
  let n = 0;
  while (s[i + n] === c) n++;
  return n;
}

/** The index of the next run of exactly `size` backticks from `from`, or -1. */
function closingBackticks(s: string, from: number, size: number): number {
  for (let j = s.indexOf('`', from); j >= 0; j = s.indexOf('`', j)) {
    const run = runLength(s, j, '`');
    if (run === size) return j;
    j += run;
  }
  return -1;
}

/** Inline Markdown on one line: code spans, links, bare URLs, emphasis, backslash escapes. */
function parseInline(s: string): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const flush = () => {
    if (text !== '') out.push({ kind: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length && ESCAPABLE.test(s[i + 1] as string)) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = runLength(s, i, '`');
      const close = closingBackticks(s, i + run, run);
      if (close >= 0) {
        flush();
        const code = s.slice(i + run, close);
        // CommonMark strips one space on each side (so `` ` `` can hold a backtick).
        out.push({ kind: 'code', text: /^ .*\S.* $/.test(code) ? code.slice(1, -1) : code });
        i = close + run;
      } else {
        text += s.slice(i, i + run);
        i += run;
      }
      continue;
    }
    if (c === '[') {
      const link = matchLink(s, i);
      if (link) {
        flush();
        out.push({ kind: 'link', url: link.url, children: parseInline(link.label) });
        i = link.end;
        continue;
      }
    }
    if ((c === 'h' || c === 'H') && !isWordChar(s[i - 1])) {
      // A bare URL is text as it stands: its `_` and `*` are not emphasis.
      const url = /^https?:\/\/\S+/i.exec(s.slice(i, i + 2048));
      if (url) {
        text += url[0];
        i += url[0].length;
        continue;
      }
    }
    if (c === '*' || c === '_' || c === '~') {
      const span = matchEmphasis(s, i);
      if (span) {
        flush();
        out.push({ kind: span.kind, children: parseInline(span.inner) });
        i = span.end;
      } else {
        const run = runLength(s, i, c);
        text += s.slice(i, i + run);
        i += run;
      }
      continue;
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

/** `[label](url)` at `i` (the label may nest brackets; the URL may hold balanced parentheses). */
function matchLink(s: string, i: number): { label: string; url: string; end: number } | undefined {
  let depth = 0;
  let close = -1;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '\\') j++;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) {
      close = j;
      break;
    }
  }
  if (close < 0 || s[close + 1] !== '(') return undefined;
  const target = /^\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"]*")?\s*\)/.exec(s.slice(close + 1));
  if (!target?.[1]) return undefined;
  return { label: s.slice(i + 1, close), url: target[1], end: close + 1 + target[0].length };
}

/**
 * Emphasis opening at `i`: `**`/`__` bold, `*`/`_` italic, `~~` strike. An opener is followed by a
 * non-space, a closer preceded by one; `_` (and a single `*`) do not open or close inside a word,
 * so `snake_case` and `2*3*4` stay as they are. A closer is searched outside code spans.
 */
function matchEmphasis(
  s: string,
  i: number,
): { kind: 'bold' | 'italic' | 'strike'; inner: string; end: number } | undefined {
  const c = s[i] as '*' | '_' | '~';
  const run = runLength(s, i, c);
  if (c === '~' && run !== 2) return undefined;
  const size = c === '~' ? 2 : run >= 2 ? 2 : 1;
  const intraword = c === '_' || size === 1;
  if (isSpace(s[i + size])) return undefined;
  if (intraword && isWordChar(s[i - 1])) return undefined;
  for (let j = i + size + 1; j < s.length; ) {
    const ch = s[j];
    if (ch === '`') {
      const open = runLength(s, j, '`');
      const close = closingBackticks(s, j + open, open);
      j = close >= 0 ? close + open : j + open;
      continue;
    }
    if (ch === '\\') {
      j += 2;
      continue;
    }
    if (ch !== c) {
      j++;
      continue;
    }
    const r = runLength(s, j, c);
    // In a longer run the closer is its last `size` characters (`***` closes bold and italic).
    const fits = size === 2 ? r >= 2 && (c !== '~' || r === 2) : r % 2 === 1;
    const at = j + r - size;
    if (fits && at > i + size && !isSpace(s[at - 1]) && !(intraword && isWordChar(s[at + size]))) {
      return {
        kind: c === '~' ? 'strike' : size === 2 ? 'bold' : 'italic',
        inner: s.slice(i + size, at),
        end: at + size,
      };
    }
    j += r;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** How a platform writes each piece of a reply; every piece arrives already rendered inside. */
export interface Markup {
  /** Literal text (escaped where the platform's markup needs it). */
  text(text: string): string;
  code(text: string): string;
  /** A fenced block, not blank; `lang` may be empty. */
  pre(text: string, lang: string): string;
  emphasis(kind: 'bold' | 'italic' | 'strike', inner: string): string;
  /** `label` rendered, `plainLabel` the same as plain text (trimmed; empty when there is none). */
  link(url: string, label: string, plainLabel: string): string;
  /** A heading's line, its inline content rendered and not blank. */
  heading(inline: string): string;
}

/** A link as text: `label (url)`, or the URL alone when the label says nothing more. */
export const linkAsText = (markup: Markup, url: string, label: string, plainLabel: string) =>
  plainLabel && plainLabel !== url ? `${label} (${markup.text(url)})` : markup.text(url);

/** Plain text: markup stripped, links as `text (url)`. */
export const PLAIN: Markup = {
  text: (text) => text,
  code: (text) => text,
  pre: (text) => text,
  emphasis: (_kind, inner) => inner,
  link(url, label, plainLabel) {
    return linkAsText(this, url, label, plainLabel);
  },
  heading: (inline) => inline,
};

function renderInline(nodes: readonly Inline[], markup: Markup): string {
  let out = '';
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out += markup.text(node.text);
        break;
      case 'code':
        out += markup.code(node.text);
        break;
      case 'link':
        out += markup.link(
          node.url,
          renderInline(node.children, markup),
          renderInline(node.children, PLAIN).trim(),
        );
        break;
      default:
        out += markup.emphasis(node.kind, renderInline(node.children, markup));
    }
  }
  return out;
}

/** The Markdown-ish `markdown` in `markup`. */
export function renderMarkdown(markdown: string, markup: Markup): string {
  const lines: string[] = [];
  for (const block of parseBlocks(markdown)) {
    if (block.kind === 'pre') {
      if (block.text.trim() !== '') lines.push(markup.pre(block.text, block.lang));
      continue;
    }
    const prefix = markup.text(block.prefix);
    const inline = renderInline(block.inline, markup);
    lines.push(
      block.heading && inline.trim() !== '' ? `${prefix}${markup.heading(inline)}` : `${prefix}${inline}`,
    );
  }
  return lines.join('\n');
}

/** Plain text (Messenger, Instagram): markup stripped, links as `text (url)`. */
export const toPlainText = (markdown: string) => renderMarkdown(markdown, PLAIN);

/** How a kind formats its replies: its limit, its markup, and what of a part its platform counts. */
export interface ReplyFormat {
  readonly limit: ReplyLimit;
  readonly markup: Markup;
  /** The text the platform counts against its limit (Telegram: what is left after entity parsing). */
  readonly counted?: (text: string) => string;
}

/**
 * A reply as the messages to send, in order: split at the platform's limit (as it counts), each
 * part converted to its markup, blank parts left out. Both a part's `text` and its `plain` form
 * fit the limit.
 */
export function formatWith(format: ReplyFormat, markdown: string): ReplyPart[] {
  const { limit, markup } = format;
  const counted = format.counted ?? ((text: string) => text);
  const size = (part: ReplyPart) =>
    Math.max(measure(counted(part.text), limit.unit), measure(part.plain, limit.unit));
  let max = limit.max;
  // Converting rarely grows a part (a code fence reopened after a split): split tighter and retry.
  for (let round = 0; round < 6 && max >= limit.max / 2; round++) {
    const parts = closeFences(splitReply(markdown, { max, unit: limit.unit }))
      .map((source) => ({ text: renderMarkdown(source, markup), plain: toPlainText(source) }))
      .filter((part) => counted(part.text).trim() !== '' && part.plain.trim() !== '');
    const over = parts.reduce((worst, part) => Math.max(worst, size(part) - limit.max), 0);
    if (over === 0) return parts;
    max -= over + 16;
  }
  // Not reached in practice; plain text split at the limit always fits.
  return splitReply(toPlainText(markdown), limit).map((plain) => ({ text: markup.text(plain), plain }));
}

/** Closes a fenced code block a split left open at the end of a part, and reopens it in the next. */
function closeFences(parts: readonly string[]): string[] {
  let reopen: string | undefined;
  return parts.map((part) => {
    let source = reopen ? `${reopen}\n${part}` : part;
    reopen = openFenceAtEnd(source);
    if (reopen) source += `\n${/^ *([`~]+)/.exec(reopen)?.[1] ?? '```'}`;
    return source;
  });
}

/** The opening line of the fenced block still open at the end of `source`, if one is. */
function openFenceAtEnd(source: string): string | undefined {
  let open: string | undefined;
  for (const line of source.split('\n')) {
    if (open === undefined) {
      const fence = FENCE.exec(line);
      if (fence?.[1]) open = line.trim();
    } else if (isClosingFence(line, /^([`~]+)/.exec(open)?.[1] ?? '```')) open = undefined;
  }
  return open;
}
