// Replies fitted to the messaging platforms: splitting at each platform's limit (Instagram's in
// UTF-8 bytes) with the preferred breaks, and the conversion of the bot's Markdown-ish replies to
// Telegram HTML, WhatsApp's syntax and plain text, per part, so HTML stays balanced in every part.

import { describe, expect, test } from '@jest/globals';
import { measure, type ReplyLimit, splitReply, toPlainText } from '../../shared/channels/markdown.ts';
import { CHANNEL_KINDS, kindOf } from '../../shared/channels/registry.ts';
import { telegramVisibleText, toTelegramHtml } from '../../shared/channels/telegram.ts';
import { toWhatsAppText } from '../../shared/channels/whatsapp.ts';
import type { ChannelType } from '../../shared/domain/channel.ts';
import { parseTelegramHtml } from '../support/wire/telegram-server.ts';

const REPLY_LIMITS = Object.fromEntries(CHANNEL_KINDS.map((kind) => [kind.type, kind.replyLimit])) as Record<
  ChannelType,
  ReplyLimit
>;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const graphemeList = (text: string) =>
  [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)].map((s) => s.segment);
const squash = (text: string) => text.replace(/\s+/g, '');

/** What every split must hold: parts within the limit, non-empty, whole code points, nothing lost. */
function expectWellSplit(text: string, parts: string[], limit: ReplyLimit) {
  for (const part of parts) {
    expect(part.trim()).not.toBe('');
    expect(part).toBe(part.trim());
    expect(measure(part, limit.unit)).toBeLessThanOrEqual(limit.max);
    expect(LONE_SURROGATE.test(part)).toBe(false);
    expect(Buffer.from(part, 'utf8').toString('utf8')).toBe(part);
  }
  expect(squash(parts.join(''))).toBe(squash(text));
}

/** A small seeded PRNG (mulberry32), so the generated replies are the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'refund',
  'policy',
  'within',
  '30',
  'days',
  'café',
  'naïve',
  'Straße',
  '返金',
  'ポリシー',
  '退款政策',
  '🙂',
  '👍🏽',
  '👨‍👩‍👧‍👦',
  '🇩🇪',
  'é',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '[1]',
  'https://example.com/a_b?q=1&r=2',
];

function randomReply(random: () => number, words: number): string {
  let text = '';
  for (let i = 0; i < words; i++) {
    text += WORDS[Math.floor(random() * WORDS.length)];
    const r = random();
    text += r < 0.03 ? '\n\n' : r < 0.06 ? '\n' : r < 0.12 ? '. ' : r < 0.14 ? '。' : ' ';
  }
  return text;
}

describe('splitReply', () => {
  test('a reply within the limit is one part (trimmed); a blank one is none', () => {
    expect(splitReply('  Hello there.  \n', { max: 20, unit: 'chars' })).toEqual(['Hello there.']);
    expect(splitReply('exactly 10', { max: 10, unit: 'chars' })).toEqual(['exactly 10']);
    expect(splitReply(' \n\t \n', { max: 20, unit: 'chars' })).toEqual([]);
    expect(splitReply('', REPLY_LIMITS.telegram)).toEqual([]);
    expect(() => splitReply('x', { max: 3, unit: 'bytes' })).toThrow(RangeError);
  });

  test('each platform: a long reply splits into parts within its limit, in order, nothing lost', () => {
    const random = prng(7);
    for (const channel of ['telegram', 'whatsapp', 'messenger', 'instagram'] as const) {
      const limit = REPLY_LIMITS[channel];
      const text = randomReply(random, 3_000);
      const parts = splitReply(text, limit);
      expect(parts.length).toBeGreaterThan(1);
      expectWellSplit(text, parts, limit);
      // Most parts are well filled: the splitter takes a weaker break rather than a short part.
      const full = parts.slice(0, -1).filter((p) => measure(p, limit.unit) >= limit.max / 2);
      expect(full).toHaveLength(parts.length - 1);
    }
  });

  test('Instagram counts UTF-8 bytes: CJK (3 bytes) and emoji (4 bytes) parts stay within 1000 bytes', () => {
    const cjk = '退款政策说明'.repeat(200); // 1200 characters, 3600 bytes, no break anywhere
    const parts = splitReply(cjk, REPLY_LIMITS.instagram);
    expectWellSplit(cjk, parts, REPLY_LIMITS.instagram);
    expect(parts.map((p) => measure(p, 'bytes'))).toEqual([999, 999, 999, 603]);
    expect(parts[0]?.length).toBe(333); // well under 1000 characters

    const emoji = '🙂'.repeat(600); // 1200 UTF-16 units, 2400 bytes
    const emojiParts = splitReply(emoji, REPLY_LIMITS.instagram);
    expectWellSplit(emoji, emojiParts, REPLY_LIMITS.instagram);
    expect(emojiParts.map((p) => [...p].length)).toEqual([250, 250, 100]);

    // The same text measured in characters (Messenger) fits far more per part.
    expect(splitReply(cjk, REPLY_LIMITS.messenger)).toHaveLength(1);
  });

  test('never splits a surrogate pair, and keeps emoji sequences and flags whole when it can', () => {
    // Odd limit against 2-unit emoji: a naive cut would land between the halves of a pair.
    const emoji = '😀'.repeat(50);
    const parts = splitReply(emoji, { max: 7, unit: 'chars' });
    expectWellSplit(emoji, parts, { max: 7, unit: 'chars' });
    expect(parts.every((p) => p === '😀😀😀')).toBe(false); // a remainder part exists
    expect(parts.slice(0, -1).every((p) => p === '😀😀😀')).toBe(true);

    const family = '👨‍👩‍👧‍👦'; // 7 code points, 11 UTF-16 units, 25 bytes
    const families = family.repeat(100);
    for (const limit of [REPLY_LIMITS.instagram, { max: 60, unit: 'chars' as const }]) {
      const split = splitReply(families, limit);
      expectWellSplit(families, split, limit);
      for (const part of split) expect(graphemeList(part).every((g) => g === family)).toBe(true);
    }
    const flags = '🇩🇪🇫🇷🇯🇵'.repeat(20);
    for (const part of splitReply(flags, { max: 10, unit: 'chars' })) {
      expect(graphemeList(part).every((g) => ['🇩🇪', '🇫🇷', '🇯🇵'].includes(g))).toBe(true);
    }
  });

  test('a single grapheme longer than the limit is cut between code points, never inside one', () => {
    const zalgo = `a${'\u0301'.repeat(30)}`; // one grapheme, 31 units
    const parts = splitReply(zalgo, { max: 8, unit: 'chars' });
    expectWellSplit(zalgo, parts, { max: 8, unit: 'chars' });
    expect(parts.join('')).toBe(zalgo);
  });

  describe('preferred breaks', () => {
    const limit = { max: 100, unit: 'chars' as const };
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i % 10}`).join(' ');

    test('a paragraph break over a later line break, sentence end or space', () => {
      const first = `${words(18)}.`; // ~60 characters
      const text = `${first}\n\nSecond paragraph. With sentences\nand lines ${words(30)}`;
      const [part] = splitReply(text, limit);
      expect(part).toBe(first);
    });

    test('a line break over a later sentence end or space', () => {
      const first = `${words(15)}, still going`;
      const text = `${first}\nNext line. Then a sentence. ${words(30)}`;
      expect(splitReply(text, limit)[0]).toBe(first);
    });

    test('a sentence end over a later space, with its citation markers', () => {
      const text = `${words(15)} ends here [1][2]. ${words(40)}`;
      expect(splitReply(text, limit)[0]).toBe(`${words(15)} ends here [1][2].`);
      const cjk = `${'退款政策'.repeat(16)}。${'说明'.repeat(40)}`;
      expect(splitReply(cjk, limit)[0]).toBe(`${'退款政策'.repeat(16)}。`);
    });

    test('a space over a cut inside a word', () => {
      const text = `${words(20)} ${'x'.repeat(60)}`;
      const [part] = splitReply(text, limit);
      expect(part).toBe(words(20));
    });

    test('no break at all: a hard cut at the limit', () => {
      const url = `https://example.com/${'a'.repeat(250)}`;
      const parts = splitReply(url, limit);
      expect(parts.map((p) => p.length)).toEqual([100, 100, 70]);
      expect(parts.join('')).toBe(url);
    });

    test('a stronger break that would leave the part under half full gives way to a weaker one', () => {
      const text = `Short intro.\n\n${words(25)}\n${words(30)}`;
      const [part] = splitReply(text, limit);
      expect(part).toBe(`Short intro.\n\n${words(25)}`);
    });

    test('a stronger break early in the part still beats cutting a word', () => {
      const text = `Intro line\n${'y'.repeat(300)}`;
      const parts = splitReply(text, limit);
      expect(parts[0]).toBe('Intro line');
      expect(parts.slice(1).join('')).toBe('y'.repeat(300));
    });

    test('whitespace at the cuts is dropped, the indentation of the next line kept', () => {
      const text = `${words(25)}\n    indented code line ${words(30)}`;
      const parts = splitReply(text, limit);
      expect(parts[1]?.startsWith('    indented')).toBe(true);
      expect(parts.every((p) => p === p.trimEnd())).toBe(true);
    });
  });

  test('generated replies in every script: parts within the limit, whole code points, nothing lost', () => {
    const random = prng(2024);
    for (let round = 0; round < 40; round++) {
      const text = randomReply(random, 50 + Math.floor(random() * 400));
      const limit: ReplyLimit = {
        max: 16 + Math.floor(random() * 300),
        unit: random() < 0.5 ? 'chars' : 'bytes',
      };
      expectWellSplit(text, splitReply(text, limit), limit);
    }
  });
});

describe('Telegram HTML', () => {
  test('bold, italic, code, links and headings as tags; < > & escaped; citations as they are', () => {
    expect(
      toTelegramHtml(
        '**Refunds** are issued within *30 days* [1]. See [the policy](https://example.com/a?x=1&y=2) and `a <b> & c`.',
      ),
    ).toBe(
      '<b>Refunds</b> are issued within <i>30 days</i> [1]. See <a href="https://example.com/a?x=1&amp;y=2">the policy</a> and <code>a &lt;b&gt; &amp; c</code>.',
    );
    expect(toTelegramHtml('_it_ and __bold__ and ~~gone~~')).toBe(
      '<i>it</i> and <b>bold</b> and <s>gone</s>',
    );
    expect(toTelegramHtml('# Heading **x**\n1 < 2 && 3 > 2')).toBe(
      '<b>Heading x</b>\n1 &lt; 2 &amp;&amp; 3 &gt; 2',
    );
    expect(toTelegramHtml('Sources: [1][2], see [3].')).toBe('Sources: [1][2], see [3].');
  });

  test('what is not markup stays text: snake_case, arithmetic, URLs, unclosed markers, code contents', () => {
    expect(toTelegramHtml('snake_case_name, 2 * 3 * 4, https://x.com/a_b_c*d* and **unclosed')).toBe(
      'snake_case_name, 2 * 3 * 4, https://x.com/a_b_c*d* and **unclosed',
    );
    expect(toTelegramHtml('`**not bold**` and \\*escaped\\*')).toBe(
      '<code>**not bold**</code> and *escaped*',
    );
    expect(toTelegramHtml('```python\nprint("<hi>")  # **no**\n```')).toBe(
      '<pre><code class="language-python">print("&lt;hi&gt;")  # **no**</code></pre>',
    );
    expect(toTelegramHtml('```\nplain block\n```')).toBe('<pre>plain block</pre>');
  });

  test('nested emphasis; links only for web, tg and mailto URLs; list markers that are not emphasis', () => {
    expect(toTelegramHtml('***both*** and *it **bold** more*')).toBe(
      '<b><i>both</i></b> and <i>it <b>bold</b> more</i>',
    );
    expect(toTelegramHtml('[click](javascript:alert(1)) [mail](mailto:a@b.c)')).toBe(
      'click (javascript:alert(1)) <a href="mailto:a@b.c">mail</a>',
    );
    expect(toTelegramHtml('[a "q"](https://e.com/?q="x")')).toBe(
      '<a href="https://e.com/?q=&quot;x&quot;">a "q"</a>',
    );
    expect(toTelegramHtml('* one\n+ two\n- three')).toBe('- one\n- two\n- three');
  });

  test('every conversion parses as Telegram parses HTML', () => {
    const random = prng(99);
    const bits = [
      '**',
      '*',
      '_',
      '`',
      '[',
      ']',
      '(',
      ')',
      '<',
      '>',
      '&',
      '~~',
      '```\n',
      '\n',
      ' ',
      'word',
      'https://e.com/x_y',
    ];
    for (let round = 0; round < 300; round++) {
      let text = '';
      for (let i = 0; i < 40; i++) text += bits[Math.floor(random() * bits.length)];
      const html = toTelegramHtml(text);
      const parsed = parseTelegramHtml(html);
      expect(parsed).toEqual({ ok: true, text: telegramVisibleText(html) });
    }
  });
});

describe('WhatsApp and plain text', () => {
  const reply =
    '# Refunds\n**Refunds** take *30 days* [1]. ~~Never~~ see [the policy](https://example.com/p) or `code`.\n```\nblock\n```';

  test('WhatsApp: *bold*, _italic_, ~strike~, code, links as text (url)', () => {
    expect(toWhatsAppText(reply)).toBe(
      '*Refunds*\n*Refunds* take _30 days_ [1]. ~Never~ see the policy (https://example.com/p) or `code`.\n```block```',
    );
    expect(toWhatsAppText('[https://e.com](https://e.com) and snake_case')).toBe(
      'https://e.com and snake_case',
    );
  });

  test('plain text (Messenger, Instagram): markup stripped, links as text (url)', () => {
    expect(toPlainText(reply)).toBe(
      'Refunds\nRefunds take 30 days [1]. Never see the policy (https://example.com/p) or code.\nblock',
    );
    expect(toPlainText('1 < 2 & **bold**')).toBe('1 < 2 & bold');
  });
});

describe('a kind’s format', () => {
  /** A long Markdown reply with every construct, `repeat` paragraphs. */
  const longReply = (repeat: number) =>
    Array.from(
      { length: repeat },
      (_, i) =>
        `## Section ${i}\n**Refunds** are issued within *30 days* of purchase [${i % 5}]. See [the refund policy](https://example.com/policy?section=${i}&lang=en) for details — 返金ポリシー 🙂 & <more>.\n- first point with \`code_${i}\`\n- second point, _snake_case_ stays`,
    ).join('\n\n');

  test('each platform: parts within its limit as the platform counts, in order, formatted', () => {
    for (const channel of ['telegram', 'whatsapp', 'messenger', 'instagram'] as const) {
      const limit = REPLY_LIMITS[channel];
      const parts = kindOf(channel).format(longReply(60));
      expect(parts.length).toBeGreaterThan(1);
      for (const part of parts) {
        const counted = channel === 'telegram' ? telegramVisibleText(part.text) : part.text;
        expect(measure(counted, limit.unit)).toBeLessThanOrEqual(limit.max);
        expect(measure(part.plain, limit.unit)).toBeLessThanOrEqual(limit.max);
        expect(counted.trim()).not.toBe('');
      }
      // In order: the section numbers run through the parts without going back.
      const sections = parts.flatMap((p) => [...p.plain.matchAll(/Section (\d+)/g)].map((m) => Number(m[1])));
      expect(sections).toEqual(Array.from({ length: 60 }, (_, i) => i));
    }
    expect(kindOf('telegram').format(longReply(1))[0]?.text).toContain('<b>Refunds</b>');
    expect(kindOf('whatsapp').format(longReply(1))[0]?.text).toContain('*Refunds*');
    expect(kindOf('messenger').format(longReply(1))[0]?.text).toContain(
      'the refund policy (https://example.com/policy?section=0&lang=en)',
    );
  });

  test('Telegram: HTML stays balanced in every part, even when a split falls inside bold or a link', () => {
    const text = `**${'bold words and more '.repeat(300)}** then [a link](https://e.com/${'p'.repeat(50)}) *${'it '.repeat(2000)}*`;
    const parts = kindOf('telegram').format(text);
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      const parsed = parseTelegramHtml(part.text);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(parsed.text.length).toBeLessThanOrEqual(4096);
    }
  });

  test('a fenced code block cut by a split is closed in its part and reopened in the next', () => {
    const code = Array.from({ length: 500 }, (_, i) => `const value${i} = ${i} < 10 && ok;`).join('\n');
    const parts = kindOf('telegram').format(`Here is the code:\n\n\`\`\`js\n${code}\n\`\`\`\n\nThat's all.`);
    expect(parts.length).toBeGreaterThan(3);
    for (const [i, part] of parts.entries()) {
      expect(parseTelegramHtml(part.text).ok).toBe(true);
      if (i > 0 && i < parts.length - 1)
        expect(part.text.startsWith('<pre><code class="language-js">')).toBe(true);
      expect(part.plain).not.toContain('```');
    }
    expect(parts.at(-1)?.plain.endsWith("That's all.")).toBe(true);
    const whatsapp = kindOf('whatsapp').format(`\`\`\`\n${code}\n\`\`\``);
    expect(whatsapp.length).toBeGreaterThan(1);
    for (const part of whatsapp) {
      expect(part.text.startsWith('```')).toBe(true);
      expect(part.text.endsWith('```')).toBe(true);
      expect(part.text.length).toBeLessThanOrEqual(4096);
    }
  });

  test('no empty parts: blank replies and parts that are only markup are left out', () => {
    expect(kindOf('telegram').format('  \n ')).toEqual([]);
    expect(kindOf('messenger').format('```\n\n```')).toEqual([]);
    expect(kindOf('instagram').format('Just this.')).toEqual([{ text: 'Just this.', plain: 'Just this.' }]);
  });
});
