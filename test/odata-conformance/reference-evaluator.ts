import type { ScoreRow } from './plan-database.js';

// An in-memory model of the service's query semantics, written independently of the engine: a
// typed syntax tree that the differential tests generate, renders as `$filter` and `$search`
// text, and evaluates per row.
//
// Rules it follows: `eq null` matches nulls, `ne null` matches non-nulls, and any other
// comparison with a null operand is false. `eq` between two nulls is true, `ne` between a null
// and a value is true. `not` of a comparison that is false because of a null is true. String
// functions of a null argument are null, and a condition on a null is false. Strings compare by
// Unicode code point, and lengths and offsets count code points. `div` and `mod` by zero are
// null. `mod` works on the shortest decimal text of each double, and its result has the sign of
// the dividend.

export type StringProperty = 'deviceName' | 'model' | 'manufacturer';
export type ScoreProperty =
  | 'endpointAnalyticsScore'
  | 'startupPerformanceScore'
  | 'appReliabilityScore'
  | 'workFromAnywhereScore'
  | 'batteryHealthScore'
  | 'meanResourceSpikeTimeScore';
export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type ArithmeticOperator = 'add' | 'sub' | 'mul' | 'div' | 'mod';

export const STRING_COLUMNS: Readonly<
  Record<StringProperty, 'device_name' | 'model' | 'manufacturer'>
> = { deviceName: 'device_name', model: 'model', manufacturer: 'manufacturer' };

export const SCORE_COLUMNS_BY_PROPERTY: Readonly<Record<ScoreProperty, keyof ScoreRow>> = {
  endpointAnalyticsScore: 'endpoint_analytics_score',
  startupPerformanceScore: 'startup_performance_score',
  appReliabilityScore: 'app_reliability_score',
  workFromAnywhereScore: 'work_from_anywhere_score',
  batteryHealthScore: 'battery_health_score',
  meanResourceSpikeTimeScore: 'mean_resource_spike_time_score',
};

export const HEALTH_MEMBERS = ['unknown', 'insufficientData', 'needsAttention', 'meetingGoals'];
export const HEALTH_TYPE = 'microsoft.graph.userExperienceAnalyticsHealthState';

export type NumberExpression =
  | { kind: 'score'; name: ScoreProperty }
  | { kind: 'number'; text: string }
  | { kind: 'length'; operand: StringExpression }
  | { kind: 'indexof'; text: StringExpression; search: StringExpression }
  | {
      kind: 'arithmetic';
      operator: ArithmeticOperator;
      left: NumberExpression;
      right: NumberExpression;
    }
  | { kind: 'negate'; operand: NumberExpression };

export type StringExpression =
  | { kind: 'text'; name: StringProperty }
  | { kind: 'string'; value: string }
  | { kind: 'map'; function: 'tolower' | 'toupper' | 'trim'; operand: StringExpression }
  | {
      kind: 'substring';
      operand: StringExpression;
      start: NumberExpression;
      length?: NumberExpression;
    }
  | { kind: 'concat'; left: StringExpression; right: StringExpression };

export type Condition =
  | {
      kind: 'compareNumbers';
      operator: ComparisonOperator;
      left: NumberExpression;
      right: NumberExpression;
    }
  | {
      kind: 'compareStrings';
      operator: ComparisonOperator;
      left: StringExpression;
      right: StringExpression;
    }
  | { kind: 'compareConditions'; operator: 'eq' | 'ne'; left: Condition; right: Condition }
  | {
      kind: 'nullCheck';
      operand: StringExpression | NumberExpression;
      negated: boolean;
      nullFirst: boolean;
    }
  | {
      kind: 'compareHealth';
      operator: ComparisonOperator;
      member: string;
      spelling: 'plain' | 'upper' | 'qualified';
      reversed: boolean;
    }
  | { kind: 'healthIn'; members: string[] }
  | { kind: 'stringIn'; operand: StringExpression; items: (StringExpression | null)[] }
  | { kind: 'numberIn'; operand: NumberExpression; items: NumberExpression[] }
  | { kind: 'compareId'; operator: ComparisonOperator; value: string; quoted: boolean }
  | {
      kind: 'match';
      function: 'contains' | 'startswith' | 'endswith';
      text: StringExpression;
      search: StringExpression;
    }
  | { kind: 'logical'; operator: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; operand: Condition }
  | { kind: 'boolean'; text: string };

export type SearchExpression =
  | { kind: 'word'; text: string }
  | { kind: 'phrase'; text: string }
  | { kind: 'and'; left: SearchExpression; right: SearchExpression; explicit: boolean }
  | { kind: 'or'; left: SearchExpression; right: SearchExpression }
  | { kind: 'not'; operand: SearchExpression };

/** Raised when PostgreSQL would reject a double precision result as out of range. */
export class OutOfRangeError extends Error {
  constructor(operation: string) {
    super(`${operation} is out of the range of double precision`);
    this.name = 'OutOfRangeError';
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering as OData text, with parentheses only where the OData precedence needs them.

/** Binding power of each construct: higher binds tighter. */
const POWER = {
  or: 1,
  and: 2,
  comparison: 3,
  additive: 4,
  multiplicative: 5,
  unary: 6,
  primary: 7,
} as const;

interface Rendered {
  text: string;
  power: number;
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
const primary = (text: string): Rendered => ({ text, power: POWER.primary });
const atLeast = (rendered: Rendered, power: number) =>
  rendered.power >= power ? rendered.text : `(${rendered.text})`;

function binary(operator: string, power: number, left: Rendered, right: Rendered): Rendered {
  return { text: `${atLeast(left, power)} ${operator} ${atLeast(right, power + 1)}`, power };
}

function renderNumber(expression: NumberExpression): Rendered {
  switch (expression.kind) {
    case 'score':
      return primary(expression.name);
    case 'number':
      // A negative literal is one token, so it binds like a primary.
      return primary(expression.text);
    case 'length':
      return primary(`length(${renderString(expression.operand).text})`);
    case 'indexof':
      return primary(
        `indexof(${renderString(expression.text).text}, ${renderString(expression.search).text})`,
      );
    case 'arithmetic': {
      const power =
        expression.operator === 'add' || expression.operator === 'sub'
          ? POWER.additive
          : POWER.multiplicative;

      return binary(
        expression.operator,
        power,
        renderNumber(expression.left),
        renderNumber(expression.right),
      );
    }
    case 'negate': {
      const operand = renderNumber(expression.operand);
      // `-5` would read as a negative literal and `--x` as two minus signs, so a literal
      // operand gets parentheses.
      const text =
        expression.operand.kind === 'number' ? `(${operand.text})` : atLeast(operand, POWER.unary);

      return { text: `-${text}`, power: POWER.unary };
    }
  }
}

function renderString(expression: StringExpression): Rendered {
  switch (expression.kind) {
    case 'text':
      return primary(expression.name);
    case 'string':
      return primary(quote(expression.value));
    case 'map':
      return primary(`${expression.function}(${renderString(expression.operand).text})`);
    case 'substring': {
      const args = [
        renderString(expression.operand).text,
        renderNumber(expression.start).text,
        ...(expression.length === undefined ? [] : [renderNumber(expression.length).text]),
      ];

      return primary(`substring(${args.join(', ')})`);
    }
    case 'concat':
      return primary(
        `concat(${renderString(expression.left).text}, ${renderString(expression.right).text})`,
      );
  }
}

function renderHealthMember(member: string, spelling: 'plain' | 'upper' | 'qualified'): string {
  switch (spelling) {
    case 'plain':
      return quote(member);
    case 'upper':
      return quote(member.toUpperCase());
    case 'qualified':
      return `${HEALTH_TYPE}${quote(member)}`;
  }
}

function renderCondition(condition: Condition): Rendered {
  switch (condition.kind) {
    case 'compareNumbers':
      return binary(
        condition.operator,
        POWER.comparison,
        renderNumber(condition.left),
        renderNumber(condition.right),
      );
    case 'compareStrings':
      return binary(
        condition.operator,
        POWER.comparison,
        renderString(condition.left),
        renderString(condition.right),
      );
    case 'compareConditions':
      return binary(
        condition.operator,
        POWER.comparison,
        renderCondition(condition.left),
        renderCondition(condition.right),
      );
    case 'nullCheck': {
      const operand = renderAny(condition.operand);
      const operator = condition.negated ? 'ne' : 'eq';
      const nullLiteral = primary('null');

      return condition.nullFirst
        ? binary(operator, POWER.comparison, nullLiteral, operand)
        : binary(operator, POWER.comparison, operand, nullLiteral);
    }
    case 'compareHealth': {
      const member = primary(renderHealthMember(condition.member, condition.spelling));
      const property = primary('healthStatus');

      return condition.reversed
        ? binary(condition.operator, POWER.comparison, member, property)
        : binary(condition.operator, POWER.comparison, property, member);
    }
    case 'healthIn':
      return {
        text: `healthStatus in (${condition.members.map((member) => quote(member)).join(', ')})`,
        power: POWER.comparison,
      };
    case 'stringIn': {
      const items = condition.items.map((item) =>
        item === null ? 'null' : renderString(item).text,
      );

      return {
        text: `${atLeast(renderString(condition.operand), POWER.additive)} in (${items.join(', ')})`,
        power: POWER.comparison,
      };
    }
    case 'numberIn': {
      const items = condition.items.map((item) => renderNumber(item).text);

      return {
        text: `${atLeast(renderNumber(condition.operand), POWER.additive)} in (${items.join(', ')})`,
        power: POWER.comparison,
      };
    }
    case 'compareId':
      return binary(
        condition.operator,
        POWER.comparison,
        primary('id'),
        primary(condition.quoted ? quote(condition.value) : condition.value),
      );
    case 'match':
      return primary(
        `${condition.function}(${renderString(condition.text).text}, ` +
          `${renderString(condition.search).text})`,
      );
    case 'logical':
      return binary(
        condition.operator,
        condition.operator === 'and' ? POWER.and : POWER.or,
        renderCondition(condition.left),
        renderCondition(condition.right),
      );
    case 'not':
      return {
        text: `not ${atLeast(renderCondition(condition.operand), POWER.unary)}`,
        power: POWER.unary,
      };
    case 'boolean':
      return primary(condition.text);
  }
}

function isStringExpression(
  expression: StringExpression | NumberExpression,
): expression is StringExpression {
  return ['text', 'string', 'map', 'substring', 'concat'].includes(expression.kind);
}

function renderAny(expression: StringExpression | NumberExpression): Rendered {
  return isStringExpression(expression) ? renderString(expression) : renderNumber(expression);
}

/** Renders a condition as the decoded text of a `$filter`. */
export function renderFilter(condition: Condition): string {
  return renderCondition(condition).text;
}

const SEARCH_POWER = { or: 1, and: 2, not: 3, primary: 4 } as const;

function renderSearchNode(expression: SearchExpression): Rendered {
  const wrap = (child: SearchExpression, power: number) => {
    const rendered = renderSearchNode(child);

    return rendered.power >= power ? rendered.text : `(${rendered.text})`;
  };

  switch (expression.kind) {
    case 'word':
      return { text: expression.text, power: SEARCH_POWER.primary };
    case 'phrase':
      return {
        text: `"${expression.text.replace(/[\\"]/g, (char) => `\\${char}`)}"`,
        power: SEARCH_POWER.primary,
      };
    case 'and': {
      const joiner = expression.explicit ? ' AND ' : ' ';

      return {
        text: `${wrap(expression.left, SEARCH_POWER.and)}${joiner}${wrap(expression.right, SEARCH_POWER.and + 1)}`,
        power: SEARCH_POWER.and,
      };
    }
    case 'or':
      return {
        text: `${wrap(expression.left, SEARCH_POWER.or)} OR ${wrap(expression.right, SEARCH_POWER.or + 1)}`,
        power: SEARCH_POWER.or,
      };
    case 'not':
      return { text: `NOT ${wrap(expression.operand, SEARCH_POWER.not)}`, power: SEARCH_POWER.not };
  }
}

/** Renders a search expression as the decoded text of a `$search`. */
export function renderSearch(expression: SearchExpression): string {
  return renderSearchNode(expression).text;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

const MAX_INTEGER = 2147483647;

export function codePoints(text: string): string[] {
  return Array.from(text);
}

/** Compares by Unicode code point, which is the order of the C.UTF-8 collation. */
export function compareCodePoints(left: string, right: string): number {
  const a = codePoints(left);
  const b = codePoints(right);
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) {
    const difference = (a[index].codePointAt(0) ?? 0) - (b[index].codePointAt(0) ?? 0);
    if (difference !== 0) {
      return difference;
    }
  }

  return a.length - b.length;
}

/**
 * Maps case one code point at a time, keeping a code point whose mapping is longer than one
 * (`ß` to `SS`), as PostgreSQL's lower and upper do under a libc locale.
 */
export function mapCase(text: string, direction: 'lower' | 'upper'): string {
  return codePoints(text)
    .map((char) => {
      const mapped = direction === 'lower' ? char.toLowerCase() : char.toUpperCase();

      return codePoints(mapped).length === 1 ? mapped : char;
    })
    .join('');
}

/** Removes leading and trailing code points with the Unicode White_Space property. */
function trimWhitespace(text: string): string {
  return text.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '');
}

function indexOfCodePoints(text: string, search: string): number {
  const index = text.indexOf(search);

  return index === -1 ? -1 : codePoints(text.slice(0, index)).length;
}

function clampToInteger(value: number, max: number): number {
  if (Number.isNaN(value)) {
    return max;
  }

  return Math.min(Math.max(Math.trunc(value), 0), max);
}

/** A decimal number `digits * 10^exponent`, exact. */
interface Decimal {
  digits: bigint;
  exponent: number;
}

function toDecimal(value: number): Decimal {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value));
  if (match === null) {
    throw new Error(`Cannot read ${value} as a decimal.`);
  }

  const [, sign, whole, fraction = '', exponent = '0'] = match;
  const digits = BigInt(`${sign}${whole}${fraction}`);

  return { digits, exponent: Number(exponent) - fraction.length };
}

/** Remainder of the decimal texts of two doubles, truncated toward zero like SQL's mod. */
export function decimalModulo(dividend: number, divisor: number): number {
  const a = toDecimal(dividend);
  const b = toDecimal(divisor);
  const exponent = Math.min(a.exponent, b.exponent);
  const scale = (decimal: Decimal) => decimal.digits * 10n ** BigInt(decimal.exponent - exponent);
  const remainder = scale(a) % scale(b);

  return Number(`${remainder}e${exponent}`);
}

function checkRange(
  operator: ArithmeticOperator,
  result: number,
  left: number,
  right: number,
): number {
  const overflow = !Number.isFinite(result) && Number.isFinite(left) && Number.isFinite(right);
  // PostgreSQL also rejects a product or quotient that rounds to zero from non-zero operands.
  const underflow =
    (operator === 'mul' || operator === 'div') &&
    result === 0 &&
    left !== 0 &&
    (operator === 'mul' ? right !== 0 : Number.isFinite(right));
  if (overflow || underflow) {
    throw new OutOfRangeError(operator);
  }

  return result;
}

function arithmetic(operator: ArithmeticOperator, left: number, right: number): number | null {
  switch (operator) {
    case 'add':
      return checkRange(operator, left + right, left, right);
    case 'sub':
      return checkRange(operator, left - right, left, right);
    case 'mul':
      return checkRange(operator, left * right, left, right);
    case 'div':
      return right === 0 ? null : checkRange(operator, left / right, left, right);
    case 'mod':
      return right === 0 ? null : decimalModulo(left, right);
  }
}

export function evaluateNumber(expression: NumberExpression, row: ScoreRow): number | null {
  switch (expression.kind) {
    case 'score':
      return row[SCORE_COLUMNS_BY_PROPERTY[expression.name]] as number;
    case 'number':
      return Number(expression.text);
    case 'length': {
      const text = evaluateString(expression.operand, row);

      return text === null ? null : codePoints(text).length;
    }
    case 'indexof': {
      const text = evaluateString(expression.text, row);
      const search = evaluateString(expression.search, row);

      return text === null || search === null ? null : indexOfCodePoints(text, search);
    }
    case 'arithmetic': {
      const left = evaluateNumber(expression.left, row);
      const right = evaluateNumber(expression.right, row);

      return left === null || right === null ? null : arithmetic(expression.operator, left, right);
    }
    case 'negate': {
      const operand = evaluateNumber(expression.operand, row);

      return operand === null ? null : -operand;
    }
  }
}

export function evaluateString(expression: StringExpression, row: ScoreRow): string | null {
  switch (expression.kind) {
    case 'text':
      return row[STRING_COLUMNS[expression.name]];
    case 'string':
      return expression.value;
    case 'map': {
      const operand = evaluateString(expression.operand, row);
      if (operand === null) {
        return null;
      }
      if (expression.function === 'trim') {
        return trimWhitespace(operand);
      }

      return mapCase(operand, expression.function === 'tolower' ? 'lower' : 'upper');
    }
    case 'substring': {
      const operand = evaluateString(expression.operand, row);
      const start = evaluateNumber(expression.start, row);
      const length =
        expression.length === undefined ? undefined : evaluateNumber(expression.length, row);
      if (operand === null || start === null || length === null) {
        return null;
      }

      const from = clampToInteger(start, MAX_INTEGER - 1);
      const count = length === undefined ? MAX_INTEGER : clampToInteger(length, MAX_INTEGER);

      return codePoints(operand)
        .slice(from, from + count)
        .join('');
    }
    case 'concat': {
      const left = evaluateString(expression.left, row);
      const right = evaluateString(expression.right, row);

      return left === null || right === null ? null : left + right;
    }
  }
}

function compareValues<T>(
  operator: ComparisonOperator,
  left: T | null,
  right: T | null,
  order: (a: T, b: T) => number,
): boolean {
  if (left === null || right === null) {
    const bothNull = left === null && right === null;
    if (operator === 'eq') {
      return bothNull;
    }

    return operator === 'ne' ? !bothNull : false;
  }

  const difference = order(left, right);
  switch (operator) {
    case 'eq':
      return difference === 0;
    case 'ne':
      return difference !== 0;
    case 'gt':
      return difference > 0;
    case 'ge':
      return difference >= 0;
    case 'lt':
      return difference < 0;
    case 'le':
      return difference <= 0;
  }
}

const numberOrder = (a: number, b: number) => Math.sign(a - b);
const textOrder = (a: string, b: string) => Math.sign(compareCodePoints(a, b));
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function evaluateCondition(condition: Condition, row: ScoreRow): boolean {
  switch (condition.kind) {
    case 'compareNumbers':
      return compareValues(
        condition.operator,
        evaluateNumber(condition.left, row),
        evaluateNumber(condition.right, row),
        numberOrder,
      );
    case 'compareStrings':
      return compareValues(
        condition.operator,
        evaluateString(condition.left, row),
        evaluateString(condition.right, row),
        textOrder,
      );
    case 'compareConditions': {
      const equal =
        evaluateCondition(condition.left, row) === evaluateCondition(condition.right, row);

      return condition.operator === 'eq' ? equal : !equal;
    }
    case 'nullCheck': {
      const value = isStringExpression(condition.operand)
        ? evaluateString(condition.operand, row)
        : evaluateNumber(condition.operand, row);

      return condition.negated ? value !== null : value === null;
    }
    case 'compareHealth': {
      const member = HEALTH_MEMBERS.indexOf(condition.member);
      const [left, right] = condition.reversed
        ? [member, row.health_status]
        : [row.health_status, member];

      return compareValues(condition.operator, left, right, numberOrder);
    }
    case 'healthIn':
      return condition.members.some(
        (member) => HEALTH_MEMBERS.indexOf(member) === row.health_status,
      );
    case 'stringIn': {
      const operand = evaluateString(condition.operand, row);

      return condition.items.some((item) =>
        item === null
          ? operand === null
          : compareValues('eq', operand, evaluateString(item, row), textOrder),
      );
    }
    case 'numberIn': {
      const operand = evaluateNumber(condition.operand, row);

      return condition.items.some((item) =>
        compareValues('eq', operand, evaluateNumber(item, row), numberOrder),
      );
    }
    case 'compareId':
      if (!GUID.test(condition.value)) {
        return condition.operator === 'ne';
      }

      return compareValues(condition.operator, row.id, condition.value.toLowerCase(), textOrder);
    case 'match':
      return matchStrings(
        condition.function,
        evaluateString(condition.text, row),
        evaluateString(condition.search, row),
      );
    case 'logical': {
      const left = evaluateCondition(condition.left, row);
      const right = evaluateCondition(condition.right, row);

      return condition.operator === 'and' ? left && right : left || right;
    }
    case 'not':
      return !evaluateCondition(condition.operand, row);
    case 'boolean':
      return condition.text.toLowerCase() === 'true';
  }
}

function matchStrings(
  name: 'contains' | 'startswith' | 'endswith',
  text: string | null,
  search: string | null,
): boolean {
  if (text === null || search === null) {
    return false;
  }
  switch (name) {
    case 'contains':
      return text.includes(search);
    case 'startswith':
      return text.startsWith(search);
    case 'endswith':
      return text.endsWith(search);
  }
}

/** Case-insensitive substring match of one search term against the searchable properties. */
function searchTermMatches(term: string, row: ScoreRow): boolean {
  const needle = mapCase(term, 'lower');

  return [row.device_name, row.model, row.manufacturer].some(
    (value) => value !== null && mapCase(value, 'lower').includes(needle),
  );
}

export function evaluateSearch(expression: SearchExpression, row: ScoreRow): boolean {
  switch (expression.kind) {
    case 'word':
    case 'phrase':
      return searchTermMatches(expression.text, row);
    case 'and':
      return evaluateSearch(expression.left, row) && evaluateSearch(expression.right, row);
    case 'or':
      return evaluateSearch(expression.left, row) || evaluateSearch(expression.right, row);
    case 'not':
      return !evaluateSearch(expression.operand, row);
  }
}

/** One `$orderby` item over a column of the row. */
export interface SortKey {
  property: string;
  column: keyof ScoreRow;
  direction: 'asc' | 'desc';
}

/**
 * Sorts rows as the service orders them: by each key with nulls first ascending and last
 * descending, then by id ascending unless a key already sorts by id.
 */
export function sortRows(rows: readonly ScoreRow[], keys: readonly SortKey[]): ScoreRow[] {
  const allKeys: SortKey[] = keys.some((key) => key.column === 'id')
    ? [...keys]
    : [...keys, { property: 'id', column: 'id', direction: 'asc' }];

  return [...rows].sort((a, b) => {
    for (const key of allKeys) {
      const left = a[key.column];
      const right = b[key.column];
      let difference: number;
      if (left === null && right === null) {
        difference = 0;
      } else if (left === null) {
        difference = -1;
      } else if (right === null) {
        difference = 1;
      } else if (typeof left === 'string' && typeof right === 'string') {
        difference = compareCodePoints(left, right);
      } else {
        difference = numberOrder(left as number, right as number);
      }
      if (difference !== 0) {
        return key.direction === 'asc' ? difference : -difference;
      }
    }

    return 0;
  });
}
