/**
 * The Brown Corpus (form C) stores one sentence per line as `word/tag` tokens, e.g.
 * `\tThe/at Fulton/np-tl County/nn-tl ... ./.`; a line after blank lines starts a
 * paragraph, and headlines carry `-hl` tags. This turns it back into plain English.
 * Pure string code, so it runs in the browser as well as in Node.
 */

/** Tokens written with no space before them. */
const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '?', '!', ')', "''", "'"]);
/** Tokens written with no space after them. */
const NO_SPACE_AFTER = new Set(['``', '`', '(']);
/** Brown writes double quotes as TeX-style `` and ''. */
const QUOTES: Record<string, string> = { '``': '"', "''": '"', '`': "'" };

interface Word {
  text: string;
  tag: string;
}

/** Splits `word/tag` at the LAST slash: words may hold slashes (`1/2/cd`, `and/or/cc`). */
function parseWord(token: string): Word {
  const slash = token.lastIndexOf('/');
  return slash < 0 ? { text: token, tag: '' } : { text: token.slice(0, slash), tag: token.slice(slash + 1) };
}

/** Joins a line's words with English spacing around punctuation and quotes. */
function detokenize(words: Word[]): string {
  let out = '';
  let glue = true; // no space before the first word, nor after an opening quote or bracket
  for (const { text } of words) {
    if (!glue && !NO_SPACE_BEFORE.has(text)) out += ' ';
    out += QUOTES[text] ?? text;
    glue = NO_SPACE_AFTER.has(text);
  }
  return out;
}

/** Plain text of one tagged Brown file: sentences joined into paragraphs, paragraphs by a blank line. */
export function stripBrownTags(tagged: string): string {
  const paragraphs: string[] = [];
  for (const block of tagged.split(/\n[ \t]*\n/)) {
    let sentences: string[] = [];
    for (const line of block.split('\n')) {
      const words = line
        .split(/\s+/)
        .filter((t) => t !== '')
        .map(parseWord);
      if (words.length === 0) continue;
      const sentence = detokenize(words);
      // A headline is its own paragraph, not the start of the sentence after it.
      if (words.every((w) => w.tag.endsWith('-hl'))) {
        if (sentences.length > 0) paragraphs.push(sentences.join(' '));
        paragraphs.push(sentence);
        sentences = [];
      } else {
        sentences.push(sentence);
      }
    }
    if (sentences.length > 0) paragraphs.push(sentences.join(' '));
  }
  return paragraphs.join('\n\n');
}
