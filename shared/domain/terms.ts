// The words of a text as search and the offline model compare them: lower-cased (NFKC), split
// by Intl.Segmenter (so any language), stop words dropped and plural and -ed/-ing endings trimmed.

const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });

/** A text's content words, lower-cased and lightly stemmed, stop words left out. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const { segment, isWordLike } of wordSegmenter.segment(text.toLowerCase())) {
    if (!isWordLike) continue;
    const word = segment.normalize('NFKC');
    if (STOP_WORDS.has(word)) continue;
    // A lone Latin letter says nothing; a single CJK character may be a whole word.
    if (word.length < 2 && /[\p{Script=Latin}\d]/u.test(word)) continue;
    out.push(stem(word));
  }
  return out;
}

/** Plural and -ed/-ing endings off ("refunds", "refunded", "refunding" → "refund"). */
function stem(word: string): string {
  if (word.length <= 3 || !/^[a-z]+$/.test(word)) return word;
  let w = word;
  if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  return w;
}

const STOP_WORDS = new Set(
  (
    'a an and are as at be been but by can could did do does doing for from had has have how i if in into is it its ' +
    'me my of on or our please should so than that the their them then there these they this those to us was we ' +
    'were what when where which who whom why will with would you your yours about any some tell know get'
  ).split(' '),
);
