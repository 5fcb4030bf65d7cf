import type { GraphException } from '../http/graph-error.js';
import { FILTER_FUNCTIONS, type BinaryOperator, type FilterNode } from './filter-ast.js';
import { FilterLexer, type Token } from './lexer.js';
import { checkOptionValue, invalidOption } from './option-error.js';
import { MAX_EXPRESSION_NODES, MAX_NESTING_DEPTH } from './query-limits.js';

/**
 * Binding power of the binary operators, in the order of the OData 4.01 precedence table: `or`
 * binds loosest, then `and`, then comparisons and `in` (one level here), then `add`/`sub`, then
 * `mul`/`div`/`mod`. Unary `-` and `not` bind tighter than all of them, so `not a eq b` means
 * `(not a) eq b`.
 */
const BINARY_POWER: Readonly<Record<BinaryOperator | 'in', number>> = {
  or: 1,
  and: 2,
  eq: 3,
  ne: 3,
  gt: 3,
  ge: 3,
  lt: 3,
  le: 3,
  in: 3,
  add: 4,
  sub: 4,
  mul: 5,
  div: 5,
  mod: 5,
};

/**
 * Parses a decoded `$filter` into a syntax tree.
 *
 * Limits are checked before the work they guard: the size (MAX_OPTION_BYTES) before
 * tokenizing, the nesting depth (MAX_NESTING_DEPTH) before each recursive step, and the node
 * count (MAX_EXPRESSION_NODES) as nodes are made, so parsing stays linear and the recursion
 * stays shallow. Throws a 400 GraphException with the 0-based position and what was expected.
 */
export function parseFilter(text: string, plusOffsets: readonly number[] = []): FilterNode {
  checkOptionValue('filter', text);
  const parser = new FilterParser(text, new FilterLexer(text, plusOffsets), plusOffsets);

  return parser.parse();
}

class FilterParser {
  private nodeCount = 0;
  private current: Token;
  /** The token consumed last, or the first token before anything is consumed. */
  private previous: Token;

  constructor(
    private readonly text: string,
    private readonly lexer: FilterLexer,
    private readonly plusOffsets: readonly number[],
  ) {
    this.current = lexer.next();
    this.previous = this.current;
  }

  parse(): FilterNode {
    if (this.peek().kind === 'end') {
      throw this.error(0, 'expected an expression.');
    }

    const expression = this.parseExpression(0, 0);
    const next = this.peek();
    if (next.kind === 'closeParen') {
      throw this.error(next.start, "found ')' without a matching '('.");
    }
    if (next.kind !== 'end') {
      // 'Lab's-PC' reads as the literal 'Lab' followed by the name s.
      const quoteHint =
        this.previous.kind === 'string' && this.previous.end === next.start
          ? " To put a quote inside a string literal, write it twice ('')."
          : '';
      throw this.error(
        next.start,
        'expected an operator or the end of the expression, ' +
          `but found ${this.describe(next)}.${quoteHint}`,
      );
    }

    return expression;
  }

  /** Parses operators whose binding power exceeds `minPower`, left-associatively. */
  private parseExpression(minPower: number, depth: number): FilterNode {
    let left = this.parseUnary(depth);
    for (;;) {
      const operator = this.peekBinaryOperator();
      if (operator === undefined || BINARY_POWER[operator] <= minPower) {
        return left;
      }

      const operatorToken = this.next();
      if (operator === 'in') {
        left = this.parseInList(left, operatorToken, depth);
        continue;
      }

      this.expectOperand(operatorToken);
      const right = this.parseExpression(BINARY_POWER[operator], depth);
      left = this.node({
        kind: 'binary',
        operator,
        left,
        right,
        start: left.start,
        end: right.end,
      });
    }
  }

  private parseUnary(depth: number): FilterNode {
    const token = this.peek();
    if (token.kind === 'minus' || isKeyword(token, 'not')) {
      this.next();
      this.checkDepth(depth + 1, token);
      this.expectOperand(token);
      const operand = this.parseUnary(depth + 1);
      const operator = token.kind === 'minus' ? 'negate' : 'not';

      return this.node({ kind: 'unary', operator, operand, start: token.start, end: operand.end });
    }

    return this.parsePrimary(depth);
  }

  private parsePrimary(depth: number): FilterNode {
    const token = this.next();
    const span = { start: token.start, end: token.end };
    switch (token.kind) {
      case 'openParen': {
        this.checkDepth(depth + 1, token);
        this.expectOperand(token);
        const inner = this.parseExpression(0, depth + 1);
        this.expectCloseParen(token);

        return inner;
      }
      case 'string':
        return this.node({ kind: 'string', value: token.value, ...span });
      case 'number':
        return this.node({ kind: 'number', value: token.value, ...span });
      case 'guid':
        return this.node({ kind: 'guid', value: token.value, ...span });
      case 'enum':
        return this.node({ kind: 'enum', typeName: token.typeName, member: token.member, ...span });
      case 'identifier':
        return this.parseName(token, depth);
      case 'closeParen':
      case 'comma':
      case 'minus':
      case 'end':
        throw this.error(token.start, `expected a value, but found ${this.describe(token)}.`);
    }
  }

  /** Reads a keyword literal, a function call or a property reference. */
  private parseName(token: Token & { kind: 'identifier' }, depth: number): FilterNode {
    const span = { start: token.start, end: token.end };
    const lower = token.text.toLowerCase();
    if (this.peek().kind === 'openParen') {
      return this.parseCall(token, depth);
    }
    if (lower === 'true' || lower === 'false') {
      return this.node({ kind: 'boolean', value: lower === 'true', ...span });
    }
    if (token.text === 'null') {
      return this.node({ kind: 'null', ...span });
    }
    if (token.text === 'NaN' || token.text === 'INF') {
      return this.node({ kind: 'number', value: token.text === 'NaN' ? NaN : Infinity, ...span });
    }
    if (Object.hasOwn(BINARY_POWER, lower) || lower === 'not') {
      throw this.error(token.start, `expected a value, but found the operator '${token.text}'.`);
    }

    return this.node({ kind: 'property', name: token.text, ...span });
  }

  private parseCall(token: Token & { kind: 'identifier' }, depth: number): FilterNode {
    const name = FILTER_FUNCTIONS.find((candidate) => candidate === token.text.toLowerCase());
    if (name === undefined) {
      throw this.error(
        token.start,
        `unknown function '${token.text}'. Supported functions are ${FILTER_FUNCTIONS.join(', ')}.`,
      );
    }

    const open = this.next();
    this.checkDepth(depth + 1, open);
    const args = this.parseList(open, depth + 1);

    const end = this.previousEnd();

    return this.node({ kind: 'call', name, args, start: token.start, end });
  }

  private parseInList(operand: FilterNode, operatorToken: Token, depth: number): FilterNode {
    const open = this.next();
    if (open.kind !== 'openParen') {
      throw this.error(
        open.start,
        `expected '(' and a list of values after '${this.source(operatorToken)}', ` +
          `but found ${this.describe(open)}.`,
      );
    }

    this.checkDepth(depth + 1, open);
    const items = this.parseList(open, depth + 1);
    if (items.length === 0) {
      throw this.error(open.start, "expected at least one value in the list after 'in'.");
    }

    return this.node({ kind: 'in', operand, items, start: operand.start, end: this.previousEnd() });
  }

  /** Parses `expr, expr, ...)` after an opening parenthesis. The list may be empty. */
  private parseList(open: Token, depth: number): FilterNode[] {
    const items: FilterNode[] = [];
    if (this.peek().kind === 'closeParen') {
      this.next();

      return items;
    }

    for (;;) {
      this.expectOperand(items.length === 0 ? open : this.previous);
      items.push(this.parseExpression(0, depth));
      const separator = this.next();
      if (separator.kind === 'closeParen') {
        return items;
      }
      if (separator.kind !== 'comma') {
        throw this.error(
          separator.start,
          `expected ',' or ')' to continue the list opened at position ${open.start}, ` +
            `but found ${this.describe(separator)}.`,
        );
      }
    }
  }

  private expectCloseParen(open: Token): void {
    const token = this.next();
    if (token.kind !== 'closeParen') {
      throw this.error(
        token.start,
        `expected ')' to close the '(' at position ${open.start}, ` +
          `but found ${this.describe(token)}.`,
      );
    }
  }

  /** Fails with "expected a value after X" when the input ends or closes before a value. */
  private expectOperand(after: Token): void {
    const token = this.peek();
    if (token.kind === 'end' || token.kind === 'closeParen' || token.kind === 'comma') {
      throw this.error(
        token.start,
        `expected a value after '${this.source(after)}', but found ${this.describe(token)}.`,
      );
    }
  }

  private checkDepth(depth: number, token: Token): void {
    if (depth > MAX_NESTING_DEPTH) {
      throw this.error(
        token.start,
        `the expression nests deeper than the maximum of ${MAX_NESTING_DEPTH} levels ` +
          '(parentheses, function calls, not and unary minus).',
      );
    }
  }

  private node<T extends FilterNode>(node: T): T {
    this.nodeCount += 1;
    if (this.nodeCount > MAX_EXPRESSION_NODES) {
      throw this.error(
        this.previous.start,
        `the expression has more than the maximum of ${MAX_EXPRESSION_NODES} nodes ` +
          '(values, property references and operators).',
      );
    }

    return node;
  }

  private peekBinaryOperator(): BinaryOperator | 'in' | undefined {
    const token = this.peek();
    if (token.kind !== 'identifier') {
      return undefined;
    }

    const lower = token.text.toLowerCase();

    return Object.hasOwn(BINARY_POWER, lower) ? (lower as BinaryOperator | 'in') : undefined;
  }

  private peek(): Token {
    return this.current;
  }

  private next(): Token {
    const token = this.current;
    if (token.kind !== 'end') {
      this.previous = token;
      this.current = this.lexer.next();
    }

    return token;
  }

  private previousEnd(): number {
    return this.previous.end;
  }

  private source(token: Token): string {
    return this.text.slice(token.start, token.end);
  }

  private describe(token: Token): string {
    return token.kind === 'end' ? 'the end of the expression' : `'${this.source(token)}'`;
  }

  private error(position: number, detail: string): GraphException {
    return invalidOption('filter', position, detail, this.plusOffsets);
  }
}

function isKeyword(token: Token, keyword: string): boolean {
  return token.kind === 'identifier' && token.text.toLowerCase() === keyword;
}
