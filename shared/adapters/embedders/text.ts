// Keeps embedding inputs within a model's input limit instead of failing on long ones.

/** The first `maxChars` UTF-16 code units of `text`, never splitting a surrogate pair. */
export function clipChars(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return text.slice(0, end);
}

/**
 * The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, on a character boundary.
 * Byte-level BPE tokenizers emit at most one token per byte, so this bounds the token count too.
 */
export function clipUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // a UTF-16 unit never takes more than 3 bytes
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // back off a continuation byte
  return bytes.subarray(0, end).toString('utf8');
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
