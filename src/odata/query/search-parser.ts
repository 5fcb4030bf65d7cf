import type { GraphException } from '../http/graph-error.js';
import { checkOptionValue, invalidOption } from './option-error.js';
import { MAX_EXPRESSION_NODES, MAX_NESTING_DEPTH } from './query-limits.js';

/** Syntax tree of a `$search` expression. */
export type SearchNode =
  | { kind: 'term'; text: string; start: number }
  | { kind: 'and' | 'or'; operands: SearchNode[] }
  | { kind: 'not'; operand: SearchNode };

type SearchToken = { start: number } & (
  | { kind: 'word' | 'phrase'; text: string }
  | { kind: 'AND' | 'OR' | 'NOT' | 'open' | 'close' | 'end' }
);

/**
 * Parses a decoded `$search`: words and `"quoted phrases"` (with `\"` and `\\` escapes inside),
 * the upper-case operators NOT, AND and OR in that order of precedence, adjacent terms meaning
 * AND, and parentheses. Lower-case `and`, `or` and `not` are words.
 * Applies the same size, nesting and node limits as `$filter`, and throws a 400 GraphException
 * with the position for unbalanced quotes or parentheses and for a missing term.
 */
export function parseSearch(text: string, plusOffsets: readonly number[] = []): SearchNode {
  checkOptionValue('search', text);
  const parser = new SearchParser(new SearchLexer(text, plusOffsets), plusOffsets);

  return parser.parse();
}

/** Reads `$search` tokens on demand, so limits stop the work early and errors come in order. */
class SearchLexer {
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly plusOffsets: readonly number[],
  ) {}

  next(): SearchToken {
    const { text } = this;
    while (isWhitespace(text[this.index])) {
      this.index += 1;
    }

    const start = this.index;
    const char = text[start];
    if (char === undefined) {
      return { kind: 'end', start };
    }
    if (char === '(' || char === ')') {
      this.index += 1;

      return { kind: char === '(' ? 'open' : 'close', start };
    }
    if (char === '"') {
      const phrase = readPhrase(text, start, this.plusOffsets);
      this.index = phrase.end;

      return { kind: 'phrase', text: phrase.text, start };
    }

    while (this.index < text.length && !isWordEnd(text[this.index])) {
      this.index += 1;
    }
    const word = text.slice(start, this.index);
    if (word === 'AND' || word === 'OR' || word === 'NOT') {
      return { kind: word, start };
    }

    return { kind: 'word', text: word, start };
  }
}

function isWhitespace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\r' || char === '\n';
}

function isWordEnd(char: string): boolean {
  return isWhitespace(char) || char === '(' || char === ')' || char === '"';
}

/** Reads a phrase from its opening quote and returns the unescaped text and the end offset. */
function readPhrase(
  text: string,
  start: number,
  plusOffsets: readonly number[],
): { text: string; end: number } {
  let phrase = '';
  let index = start + 1;
  while (index < text.length) {
    const char = text[index];
    if (char === '"') {
      if (phrase === '') {
        throw invalidOption('search', start, 'a quoted phrase must not be empty.', plusOffsets);
      }

      return { text: phrase, end: index + 1 };
    }
    if (char === '\\') {
      const escaped = text[index + 1];
      if (escaped !== '"' && escaped !== '\\') {
        throw invalidOption(
          'search',
          index,
          'inside a quoted phrase a backslash must be followed by " or \\.',
          plusOffsets,
        );
      }
      phrase += escaped;
      index += 2;
    } else {
      phrase += char;
      index += 1;
    }
  }

  throw invalidOption(
    'search',
    start,
    'the quoted phrase is not closed; end it with ".',
    plusOffsets,
  );
}

class SearchParser {
  private nodeCount = 0;
  private current: SearchToken;
  private previous: SearchToken;

  constructor(
    private readonly lexer: SearchLexer,
    private readonly plusOffsets: readonly number[],
  ) {
    this.current = lexer.next();
    this.previous = this.current;
  }

  parse(): SearchNode {
    if (this.peek().kind === 'end') {
      throw this.error(0, 'expected a search term.');
    }

    const node = this.parseOr(0);
    const next = this.peek();
    if (next.kind === 'close') {
      throw this.error(next.start, "found ')' without a matching '('.");
    }

    return node;
  }

  private parseOr(depth: number): SearchNode {
    const operands = [this.parseAnd(depth)];
    while (this.peek().kind === 'OR') {
      this.next();
      operands.push(this.parseAnd(depth));
    }

    return operands.length === 1 ? operands[0] : this.count({ kind: 'or', operands });
  }

  /** Parses terms joined by AND or by nothing at all, which also means AND. */
  private parseAnd(depth: number): SearchNode {
    const operands = [this.parseNot(depth)];
    for (;;) {
      const token = this.peek();
      if (token.kind === 'AND') {
        this.next();
      } else if (token.kind === 'end' || token.kind === 'close' || token.kind === 'OR') {
        break;
      }
      operands.push(this.parseNot(depth));
    }

    return operands.length === 1 ? operands[0] : this.count({ kind: 'and', operands });
  }

  private parseNot(depth: number): SearchNode {
    const token = this.peek();
    if (token.kind !== 'NOT') {
      return this.parsePrimary(depth);
    }

    this.next();
    this.checkDepth(depth + 1, token.start);
    const operand = this.parseNot(depth + 1);

    return this.count({ kind: 'not', operand });
  }

  private parsePrimary(depth: number): SearchNode {
    const token = this.next();
    switch (token.kind) {
      case 'word':
      case 'phrase':
        return this.count({ kind: 'term', text: token.text, start: token.start });
      case 'open': {
        this.checkDepth(depth + 1, token.start);
        const inner = this.parseOr(depth + 1);
        const close = this.next();
        if (close.kind !== 'close') {
          throw this.error(
            close.start,
            `expected ')' to close the '(' at position ${token.start}.`,
          );
        }

        return inner;
      }
      case 'AND':
      case 'OR':
      case 'NOT':
      case 'close':
      case 'end': {
        const found = token.kind === 'end' ? 'the end of the expression' : `'${describe(token)}'`;
        throw this.error(token.start, `expected a search term, but found ${found}.`);
      }
    }
  }

  private checkDepth(depth: number, position: number): void {
    if (depth > MAX_NESTING_DEPTH) {
      throw this.error(
        position,
        `the expression nests deeper than the maximum of ${MAX_NESTING_DEPTH} levels.`,
      );
    }
  }

  private count(node: SearchNode): SearchNode {
    this.nodeCount += 1;
    if (this.nodeCount > MAX_EXPRESSION_NODES) {
      throw this.error(
        this.previous.start,
        `the expression has more than the maximum of ${MAX_EXPRESSION_NODES} terms and operators.`,
      );
    }

    return node;
  }

  private peek(): SearchToken {
    return this.current;
  }

  private next(): SearchToken {
    const token = this.current;
    if (token.kind !== 'end') {
      this.previous = token;
      this.current = this.lexer.next();
    }

    return token;
  }

  private error(position: number, detail: string): GraphException {
    return invalidOption('search', position, detail, this.plusOffsets);
  }
}

function describe(token: SearchToken): string {
  switch (token.kind) {
    case 'open':
      return '(';
    case 'close':
      return ')';
    case 'word':
    case 'phrase':
      return token.text;
    case 'AND':
    case 'OR':
    case 'NOT':
    case 'end':
      return token.kind;
  }
}
