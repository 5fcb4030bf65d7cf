import { badRequest, GraphException } from '../http/graph-error.js';
import { type FilterNode, operandsOf } from './filter-ast.js';
import { checkOptionValue, invalidOption } from './option-error.js';
import { parseFilter } from './parser.js';
import { MAX_EXPRESSION_NODES, MAX_NESTING_DEPTH } from './query-limits.js';

// Syntax tree and parser of `$apply`, the transformation sequence of the OData Data Aggregation
// extension (version 4.0). The supported transformations are aggregate, groupby (with an
// optional aggregate as its second parameter), filter and identity, chained with `/`.

/** The standard aggregation methods of the extension. */
export const AGGREGATION_METHODS = ['sum', 'min', 'max', 'average', 'countdistinct'] as const;

export type AggregationMethod = (typeof AGGREGATION_METHODS)[number];

/** Offsets in the decoded `$apply` text: `start` inclusive, `end` exclusive. */
interface Span {
  start: number;
  end: number;
}

/** A property name or an alias as written, before case-insensitive lookup. */
export interface ApplyName extends Span {
  name: string;
}

/** `property with method as alias`. */
export interface MethodAggregate extends Span {
  kind: 'method';
  property: ApplyName;
  method: AggregationMethod;
  alias: ApplyName;
}

/** `$count as alias`, the number of input instances. */
export interface CountAggregate extends Span {
  kind: 'count';
  alias: ApplyName;
}

export type AggregateExpression = MethodAggregate | CountAggregate;

export interface AggregateTransformation extends Span {
  kind: 'aggregate';
  expressions: AggregateExpression[];
}

export interface GroupByTransformation extends Span {
  kind: 'groupby';
  properties: ApplyName[];
  /** Aggregates computed per group; without it the output holds only the grouping properties. */
  aggregate?: AggregateTransformation;
}

export interface FilterTransformation extends Span {
  kind: 'filter';
  /** The condition, with offsets into the `$apply` text. */
  condition: FilterNode;
}

export interface IdentityTransformation extends Span {
  kind: 'identity';
}

export type Transformation =
  AggregateTransformation | GroupByTransformation | FilterTransformation | IdentityTransformation;

const NAME = /[\p{L}_][\p{L}\p{Nd}_]*/uy;
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const TRANSFORMATIONS = ['aggregate', 'groupby', 'filter', 'identity'];

/**
 * Parses a decoded `$apply` into its transformation sequence.
 *
 * The whole value is limited like `$filter`: MAX_OPTION_BYTES before parsing starts, and
 * MAX_NESTING_DEPTH and MAX_EXPRESSION_NODES over the transformations. Each filter condition is
 * parsed by the `$filter` parser with its own depth limit, and its nodes count towards the node
 * limit of the whole value. Throws a 400 GraphException with the 0-based position.
 */
export function parseApply(text: string, plusOffsets: readonly number[] = []): Transformation[] {
  checkOptionValue('apply', text);
  const parser = new ApplyParser(text, plusOffsets);
  const sequence = parser.parseSequence(0);
  parser.expectEnd();

  return sequence;
}

class ApplyParser {
  private index = 0;
  private nodeCount = 0;

  constructor(
    private readonly text: string,
    private readonly plusOffsets: readonly number[],
  ) {}

  /** Parses `transformation *( "/" transformation )`. */
  parseSequence(depth: number): Transformation[] {
    const sequence = [this.parseTransformation(depth)];
    while (this.peekChar() === '/') {
      this.index += 1;
      sequence.push(this.parseTransformation(depth));
    }

    return sequence;
  }

  expectEnd(): void {
    this.skipWhitespace();
    if (this.index < this.text.length) {
      const found = this.text[this.index];
      const hint =
        found === ')' ? " found ')' without a matching '('." : ` found ${this.describe()}.`;
      throw this.error(
        this.index,
        `expected '/' and another transformation or the end of the value, but${hint}`,
      );
    }
  }

  private parseTransformation(depth: number): Transformation {
    this.skipWhitespace();
    const start = this.index;
    const word = this.readName();
    if (word === undefined) {
      throw this.error(
        start,
        `expected a transformation (${TRANSFORMATIONS.join(', ')}), but found ${this.describe()}.`,
      );
    }

    const keyword = word.name.toLowerCase();
    this.countNode(start);
    switch (keyword) {
      case 'aggregate':
        return this.parseAggregate(start, depth + 1);
      case 'groupby':
        return this.parseGroupBy(start, depth + 1);
      case 'filter':
        return this.parseFilterTransformation(start, depth + 1);
      case 'identity':
        return { kind: 'identity', start, end: this.index };
      default:
        throw this.error(
          start,
          `'${word.name}' is not a supported transformation. ` +
            `Supported transformations are ${TRANSFORMATIONS.join(', ')}.`,
        );
    }
  }

  private parseAggregate(start: number, depth: number): AggregateTransformation {
    this.checkDepth(depth, start);
    this.expectChar('(', `after 'aggregate'`);
    const expressions = [this.parseAggregateExpression()];
    while (this.peekChar() === ',') {
      this.index += 1;
      expressions.push(this.parseAggregateExpression());
    }
    this.expectChar(')', 'to close aggregate(');

    return { kind: 'aggregate', expressions, start, end: this.index };
  }

  /** Parses `$count as alias` or `property with method as alias`. */
  private parseAggregateExpression(): AggregateExpression {
    this.skipWhitespace();
    const start = this.index;
    this.countNode(start);
    if (this.text.startsWith('$count', start)) {
      this.index += '$count'.length;
      if (this.isNameChar(this.text[this.index]) || this.peekChar() === '(') {
        throw this.error(start, "expected '$count as' followed by an alias.");
      }
      if (this.peekWord()?.toLowerCase() === 'with') {
        throw this.error(
          this.index,
          '$count takes no aggregation method; write $count as followed by an alias.',
        );
      }
      const alias = this.parseAlias('$count');

      return { kind: 'count', alias, start, end: alias.end };
    }

    const property = this.readName();
    if (property === undefined) {
      throw this.error(start, `expected a property name or $count, but found ${this.describe()}.`);
    }
    this.expectKeyword('with', `after '${property.name}'`);
    this.skipWhitespace();
    const methodStart = this.index;
    const methodName = this.readName();
    const method = AGGREGATION_METHODS.find(
      (candidate) => candidate === methodName?.name.toLowerCase(),
    );
    if (method === undefined) {
      const found = methodName === undefined ? this.describe() : `'${methodName.name}'`;
      throw this.error(
        methodStart,
        `expected an aggregation method (${AGGREGATION_METHODS.join(', ')}), but found ${found}.`,
      );
    }
    const alias = this.parseAlias(method);

    return { kind: 'method', property, method, alias, start, end: alias.end };
  }

  private parseAlias(after: string): ApplyName {
    this.expectKeyword('as', `after '${after}'`);
    this.skipWhitespace();
    const alias = this.readName();
    if (alias === undefined) {
      throw this.error(this.index, `expected an alias after 'as', but found ${this.describe()}.`);
    }
    this.countNode(alias.start);

    return alias;
  }

  /** Parses `groupby((p1, p2, ...))` or `groupby((p1, p2, ...), aggregate(...))`. */
  private parseGroupBy(start: number, depth: number): GroupByTransformation {
    this.checkDepth(depth, start);
    this.expectChar('(', `after 'groupby'`);
    this.expectChar('(', 'to open the list of grouping properties');
    const properties: ApplyName[] = [];
    for (;;) {
      this.skipWhitespace();
      const property = this.readName();
      if (property === undefined) {
        throw this.error(this.index, `expected a property name, but found ${this.describe()}.`);
      }
      this.countNode(property.start);
      properties.push(property);
      if (this.peekChar() !== ',') {
        break;
      }
      this.index += 1;
    }
    this.expectChar(')', 'to close the list of grouping properties');

    let aggregate: AggregateTransformation | undefined;
    if (this.peekChar() === ',') {
      this.index += 1;
      const sequence = this.parseSequence(depth);
      if (sequence.length !== 1 || sequence[0].kind !== 'aggregate') {
        throw this.error(
          sequence[0].start,
          'the second parameter of groupby must be one aggregate(...) transformation; ' +
            'other transformations per group are not supported.',
        );
      }
      aggregate = sequence[0];
    }
    this.expectChar(')', 'to close groupby(');

    return { kind: 'groupby', properties, aggregate, start, end: this.index };
  }

  /**
   * Parses `filter(condition)`. The condition is found by matching parentheses outside string
   * literals, then parsed by the `$filter` parser. Spaces stand in for the text before it, so
   * positions in its errors and nodes are positions in `$apply`.
   */
  private parseFilterTransformation(start: number, depth: number): FilterTransformation {
    this.checkDepth(depth, start);
    this.expectChar('(', `after 'filter'`);
    const conditionStart = this.index;
    const conditionEnd = this.findClosingParenthesis(conditionStart - 1);
    if (this.text.slice(conditionStart, conditionEnd).trim() === '') {
      throw this.error(conditionStart, 'expected a condition inside filter().');
    }
    const padded = ' '.repeat(conditionStart) + this.text.slice(conditionStart, conditionEnd);

    let condition: FilterNode;
    try {
      condition = parseFilter(padded, this.plusOffsets);
    } catch (error) {
      throw asApplyError(error);
    }
    this.nodeCount += countFilterNodes(condition);
    this.countNode(conditionStart);
    this.index = conditionEnd + 1;

    return { kind: 'filter', condition, start, end: this.index };
  }

  /** Returns the offset of the `)` that closes the `(` at `open`, skipping string literals. */
  private findClosingParenthesis(open: number): number {
    const { text } = this;
    let depth = 0;
    let index = open;
    while (index < text.length) {
      const char = text[index];
      if (char === "'") {
        const close = this.findStringEnd(index);
        index = close + 1;
        continue;
      }
      if (char === '(') {
        depth += 1;
      } else if (char === ')') {
        depth -= 1;
        if (depth === 0) {
          return index;
        }
      }
      index += 1;
    }

    throw this.error(open, "expected ')' to close filter(, but found the end of the value.");
  }

  /** Returns the offset of the quote that ends the string literal opened at `open`. */
  private findStringEnd(open: number): number {
    let index = open + 1;
    for (;;) {
      const quote = this.text.indexOf("'", index);
      if (quote === -1) {
        throw this.error(
          open,
          "the string literal is not closed; end it with ' and write a quote inside it as ''.",
        );
      }
      if (this.text[quote + 1] !== "'") {
        return quote;
      }
      index = quote + 2;
    }
  }

  private expectKeyword(keyword: string, context: string): void {
    this.skipWhitespace();
    const word = this.readName();
    const spaced = word !== undefined && WHITESPACE.has(this.text[word.start - 1] ?? '');
    if (word === undefined || word.name.toLowerCase() !== keyword || !spaced) {
      const position = word?.start ?? this.index;
      const found = word === undefined ? this.describeAt(position) : `'${word.name}'`;
      throw this.error(position, `expected '${keyword}' ${context}, but found ${found}.`);
    }
  }

  private expectChar(char: string, context: string): void {
    this.skipWhitespace();
    if (this.text[this.index] !== char) {
      throw this.error(this.index, `expected '${char}' ${context}, but found ${this.describe()}.`);
    }
    this.index += 1;
  }

  private readName(): ApplyName | undefined {
    NAME.lastIndex = this.index;
    const match = NAME.exec(this.text);
    if (match === null) {
      return undefined;
    }
    const start = this.index;
    this.index += match[0].length;

    return { name: match[0], start, end: this.index };
  }

  private peekWord(): string | undefined {
    const saved = this.index;
    this.skipWhitespace();
    const word = this.readName();
    this.index = saved;

    return word?.name;
  }

  /** Returns the next character after white space, which stays unconsumed. */
  private peekChar(): string | undefined {
    this.skipWhitespace();

    return this.text[this.index];
  }

  private skipWhitespace(): void {
    while (WHITESPACE.has(this.text[this.index] ?? '')) {
      this.index += 1;
    }
  }

  private isNameChar(char: string | undefined): boolean {
    return char !== undefined && /[\p{L}\p{Nd}_]/u.test(char);
  }

  private checkDepth(depth: number, position: number): void {
    if (depth > MAX_NESTING_DEPTH) {
      throw this.error(
        position,
        `the transformations nest deeper than the maximum of ${MAX_NESTING_DEPTH} levels.`,
      );
    }
  }

  private countNode(position: number): void {
    this.nodeCount += 1;
    if (this.nodeCount > MAX_EXPRESSION_NODES) {
      throw this.error(
        position,
        `the value has more than the maximum of ${MAX_EXPRESSION_NODES} nodes ` +
          '(transformations, properties, aliases and the nodes of filter conditions).',
      );
    }
  }

  private describe(): string {
    return this.describeAt(this.index);
  }

  private describeAt(position: number): string {
    const char = this.text[position];
    if (char === undefined) {
      return 'the end of the value';
    }
    NAME.lastIndex = position;
    const word = NAME.exec(this.text)?.[0];

    return `'${word ?? char}'`;
  }

  private error(position: number, detail: string): GraphException {
    return invalidOption('apply', position, detail, this.plusOffsets);
  }
}

/**
 * Turns an "Invalid $filter" error from a filter transformation into an "Invalid $apply" one.
 * The positions already count from the start of `$apply`.
 */
export function asApplyError(error: unknown): unknown {
  const prefix = 'Invalid $filter';
  if (error instanceof GraphException && error.message.startsWith(prefix)) {
    return badRequest(`Invalid $apply${error.message.slice(prefix.length)}`);
  }

  return error;
}

/** Counts the nodes of a filter syntax tree without recursion. */
function countFilterNodes(root: FilterNode): number {
  let count = 0;
  const pending: FilterNode[] = [root];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    count += 1;
    pending.push(...operandsOf(node));
  }

  return count;
}
