import { invalidOption } from './option-error.js';

/** A token of a `$filter` expression with its offsets in the decoded text. */
export type Token = { start: number; end: number } & (
  | { kind: 'identifier'; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'guid'; value: string }
  | { kind: 'enum'; typeName: string; member: string }
  | { kind: 'openParen' | 'closeParen' | 'comma' | 'minus' | 'end' }
);

const GUID_PATTERN =
  /[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\p{L}\p{Nd}_])/uy;
const IDENTIFIER_PATTERN = /[\p{L}_][\p{L}\p{Nd}_]*(?:\.[\p{L}_][\p{L}\p{Nd}_]*)*/uy;
const IDENTIFIER_CHAR = /[\p{L}\p{Nd}_]/u;
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const PUNCTUATION: Readonly<Record<string, 'openParen' | 'closeParen' | 'comma'>> = {
  '(': 'openParen',
  ')': 'closeParen',
  ',': 'comma',
};

/**
 * Splits a decoded `$filter` into tokens, ending with an `end` token.
 * Throws a 400 GraphException naming the position of a malformed literal or an unexpected
 * character.
 */
export function tokenizeFilter(text: string, plusOffsets: readonly number[] = []): Token[] {
  const lexer = new FilterLexer(text, plusOffsets);
  const tokens = [lexer.next()];
  while (tokens[tokens.length - 1].kind !== 'end') {
    tokens.push(lexer.next());
  }

  return tokens;
}

/**
 * Reads tokens on demand, so a parser reports errors in source order. Each token costs time
 * linear in its length, and `next` returns `end` tokens once the text is used up.
 */
export class FilterLexer {
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly plusOffsets: readonly number[],
  ) {}

  next(): Token {
    const { text } = this;
    while (WHITESPACE.has(text[this.index])) {
      this.index += 1;
    }

    const start = this.index;
    const char = text[start];
    if (char === undefined) {
      return { kind: 'end', start, end: start };
    }
    if (char === "'") {
      const value = this.readString();

      return { kind: 'string', value, start, end: this.index };
    }
    const punctuation = PUNCTUATION[char];
    if (punctuation !== undefined) {
      this.index += 1;

      return { kind: punctuation, start, end: this.index };
    }
    if (char === '-') {
      return this.readMinus();
    }

    const token = this.readGuid() ?? (isDigit(char) ? this.readNumber() : this.readIdentifier());
    if (token === undefined) {
      throw this.error(start, unexpectedCharacterDetail(char));
    }

    return token;
  }

  /** Reads `'...'` from the opening quote, undoing doubled quotes. */
  private readString(): string {
    const { text } = this;
    const start = this.index;
    const parts: string[] = [];
    let chunkStart = start + 1;
    for (;;) {
      const quote = text.indexOf("'", chunkStart);
      if (quote === -1) {
        throw this.error(
          start,
          "the string literal is not closed; end it with ' and write a quote inside it as ''.",
        );
      }

      parts.push(text.slice(chunkStart, quote));
      if (text[quote + 1] === "'") {
        parts.push("'");
        chunkStart = quote + 2;
      } else {
        this.index = quote + 1;

        return parts.join('');
      }
    }
  }

  /** Reads `-INF`, a negative number, or a minus sign for unary negation. */
  private readMinus(): Token {
    const { text, index } = this;
    if (text.startsWith('INF', index + 1) && !isIdentifierChar(text[index + 4])) {
      this.index += 4;

      return { kind: 'number', value: -Infinity, start: index, end: index + 4 };
    }
    if (isDigit(text[index + 1])) {
      return this.readNumber();
    }

    this.index += 1;

    return { kind: 'minus', start: index, end: index + 1 };
  }

  /** Reads `[-]digits[.digits][(e|E)[+|-]digits]`. */
  private readNumber(): Token {
    const { text } = this;
    const start = this.index;
    let index = start;
    if (text[index] === '-') {
      index += 1;
    }
    index = skipDigits(text, index);

    if (text[index] === '.') {
      index += 1;
      if (!isDigit(text[index])) {
        throw this.error(
          index,
          `expected a digit after the decimal point in '${text.slice(start, index)}'.`,
        );
      }
      index = skipDigits(text, index);
    }

    if (text[index] === 'e' || text[index] === 'E') {
      index += 1;
      if (text[index] === '+' || text[index] === '-') {
        index += 1;
      }
      if (!isDigit(text[index])) {
        throw this.error(
          index,
          `expected digits in the exponent of '${text.slice(start, index)}'.`,
        );
      }
      index = skipDigits(text, index);
    }

    if (isIdentifierChar(text[index]) || text[index] === '.') {
      throw this.error(
        index,
        `unexpected character '${text[index]}' after the number '${text.slice(start, index)}'.`,
      );
    }

    const value = Number(text.slice(start, index));
    if (!Number.isFinite(value)) {
      throw this.error(
        start,
        `the number '${text.slice(start, index)}' is outside the range of Edm.Double.`,
      );
    }

    this.index = index;

    return { kind: 'number', value, start, end: index };
  }

  private readGuid(): Token | undefined {
    GUID_PATTERN.lastIndex = this.index;
    const match = GUID_PATTERN.exec(this.text);
    if (match === null) {
      return undefined;
    }

    const start = this.index;
    this.index += match[0].length;

    return { kind: 'guid', value: match[0].toLowerCase(), start, end: this.index };
  }

  /** Reads a name, a dotted name, or a qualified enum literal such as `ns.Type'member'`. */
  private readIdentifier(): Token | undefined {
    IDENTIFIER_PATTERN.lastIndex = this.index;
    const match = IDENTIFIER_PATTERN.exec(this.text);
    if (match === null) {
      return undefined;
    }

    const start = this.index;
    const name = match[0];
    this.index += name.length;
    if (name.includes('.') && this.text[this.index] === "'") {
      const member = this.readString();

      return { kind: 'enum', typeName: name, member, start, end: this.index };
    }

    return { kind: 'identifier', text: name, start, end: this.index };
  }

  private error(position: number, detail: string) {
    return invalidOption('filter', position, detail, this.plusOffsets);
  }
}

function unexpectedCharacterDetail(char: string): string {
  if (char === '"') {
    return "unexpected character '\"'; string literals use single quotes.";
  }
  if (char === '/') {
    return "unexpected character '/'; navigation paths are not supported.";
  }

  return `unexpected character '${char}'.`;
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

function isIdentifierChar(char: string | undefined): boolean {
  return char !== undefined && IDENTIFIER_CHAR.test(char);
}

function skipDigits(text: string, start: number): number {
  let index = start;
  while (isDigit(text[index])) {
    index += 1;
  }

  return index;
}
