import fc from 'fast-check';

import type { ScoreRow } from './plan-database.js';
import {
  HEALTH_MEMBERS,
  SCORE_COLUMNS_BY_PROPERTY,
  STRING_COLUMNS,
  type ComparisonOperator,
  type Condition,
  type NumberExpression,
  type ScoreProperty,
  type SearchExpression,
  type SortKey,
  type StringExpression,
  type StringProperty,
} from './reference-evaluator.js';

// fast-check generators for device score rows, typed `$filter` trees, `$search` trees, sort
// keys, and broken query text.

/**
 * Characters of generated strings: SQL and LIKE specials, quotes, URL delimiters, whitespace
 * that `trim` handles, letters whose case maps differ between languages, and code points
 * outside the Basic Multilingual Plane.
 */
export const ALPHABET = [
  'a', 'b', 'A', 'B', 'z', 'Z', '0', '9', ' ', '%', '_', '\\', "'", '"', '-', '.', 'é', 'É',
  'ü', 'Ü', 'ß', 'ø', 'Ω', 'ω', 'Σ', 'ı', 'ﬁ', '😀', '中', '\t', '\u00a0', '(', ')', '&', '+',
  '#', ',', '*', '/', '?', '=',
]; // prettier-ignore

/** Hand-picked values that repeat across rows, so filters and sorts meet ties and near misses. */
export const TRICKY_STRINGS = [
  'PC-A',
  'pc-a',
  'PC_%',
  '50%_off\\now',
  "O'Brien",
  'Zürich',
  'ZÜRICH',
  '  padded  ',
  '\ttabbed\u00a0',
  '',
  'ß',
  'Ω😀',
  '中文',
  'a\\_b',
  '"quoted"',
  'a',
  'A',
  'b',
  'é',
  'a+b&c=d',
];

const STRING_PROPERTIES = Object.keys(STRING_COLUMNS) as StringProperty[];
const SCORE_PROPERTIES = Object.keys(SCORE_COLUMNS_BY_PROPERTY) as ScoreProperty[];
const ALL_OPERATORS: ComparisonOperator[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];

const randomString = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 8 });

export const stringValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY_STRINGS) },
  { weight: 2, arbitrary: randomString },
);

/** Scores as stored: -1, whole numbers, quarters, and doubles with 16 or 17 digits. */
const scoreValue = fc.oneof(
  { weight: 2, arbitrary: fc.constant(-1) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 100 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 400 }).map((quarter) => quarter / 4) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(7.333333333333333, 33.33333333333333, 0.1, 99.99999999999999),
  },
  {
    weight: 1,
    // Values below 1e-3 are left out: products of them underflow, which PostgreSQL rejects.
    arbitrary: fc
      .double({ min: 0, max: 100, noNaN: true })
      .filter((value) => value === 0 || value >= 1e-3),
  },
);

export const scoreRow: fc.Arbitrary<ScoreRow> = fc.record({
  id: fc.uuid(),
  device_name: fc.option(stringValue, { freq: 5, nil: null }),
  model: fc.option(stringValue, { freq: 3, nil: null }),
  manufacturer: fc.option(stringValue, { freq: 4, nil: null }),
  endpoint_analytics_score: scoreValue,
  startup_performance_score: scoreValue,
  app_reliability_score: scoreValue,
  work_from_anywhere_score: scoreValue,
  battery_health_score: scoreValue,
  mean_resource_spike_time_score: scoreValue,
  health_status: fc.integer({ min: 0, max: 3 }),
});

/** Rows with distinct ids. */
export const scoreRows = (count: number) =>
  fc.uniqueArray(scoreRow, { minLength: count, maxLength: count, selector: (row) => row.id });

const numberValue = fc.oneof(
  fc.constantFrom(-1, 0, 1, 2, 3, 9.5, 10, 50, 87.5, 100, 0.5, 7.333333333333333, 0.1, 0.3),
  fc.integer({ min: -10, max: 120 }),
  fc.integer({ min: -400, max: 400 }).map((quarter) => quarter / 4),
  fc.double({ min: -1000, max: 1000, noNaN: true }).filter((value) => Math.abs(value) >= 1e-3),
);

/** A number literal in plain or exponent form, with either case of `e`. */
const numberLiteral: fc.Arbitrary<NumberExpression> = fc
  .tuple(numberValue, fc.constantFrom('plain', 'plain', 'exponent', 'EXPONENT'))
  .map(([value, form]) => {
    let text = String(value);
    if (form === 'exponent') {
      text = value.toExponential();
    } else if (form === 'EXPONENT') {
      text = value.toExponential().toUpperCase();
    }

    return { kind: 'number', text };
  });

const wholeNumberLiteral: fc.Arbitrary<NumberExpression> = fc
  .integer({ min: -3, max: 20 })
  .map((value) => ({ kind: 'number', text: String(value) }));

const scoreReference: fc.Arbitrary<NumberExpression> = fc
  .constantFrom(...SCORE_PROPERTIES)
  .map((name) => ({ kind: 'score', name }));

const textReference: fc.Arbitrary<StringExpression> = fc
  .constantFrom(...STRING_PROPERTIES)
  .map((name) => ({ kind: 'text', name }));

/** Substrings of the tricky values, so `contains` and `startswith` often match. */
const fragment = fc
  .tuple(fc.constantFrom(...TRICKY_STRINGS), fc.nat(), fc.nat())
  .map(([value, from, to]) => {
    const chars = Array.from(value);
    const start = chars.length === 0 ? 0 : from % chars.length;

    return chars.slice(start, start + (to % 4) + 1).join('');
  });

const stringLiteral: fc.Arbitrary<StringExpression> = fc
  .oneof(stringValue, fragment)
  .map((value) => ({ kind: 'string', value }));

export interface FilterArbitraries {
  condition: (depth: number) => fc.Arbitrary<Condition>;
  search: fc.Arbitrary<SearchExpression>;
  sortKeys: fc.Arbitrary<SortKey[]>;
}

/**
 * Builds the generators for a data set. `ids` are the row ids, so id comparisons hit rows.
 * Without `codePointOrder`, string ordering comparisons and string sort keys are left out,
 * because the database collation would then decide an order the evaluator does not model.
 */
export function filterArbitraries(
  ids: readonly string[],
  codePointOrder: boolean,
): FilterArbitraries {
  const stringOperators: ComparisonOperator[] = codePointOrder ? ALL_OPERATORS : ['eq', 'ne'];

  const numberExpression = (depth: number): fc.Arbitrary<NumberExpression> => {
    const leaves = [
      { weight: 4, arbitrary: scoreReference },
      { weight: 3, arbitrary: numberLiteral },
      {
        weight: 1,
        arbitrary: textReference.map((operand): NumberExpression => ({ kind: 'length', operand })),
      },
    ];
    if (depth <= 0) {
      return fc.oneof(...leaves);
    }

    const smaller = numberExpression(depth - 1);
    const strings = stringExpression(depth - 1);

    return fc.oneof(
      ...leaves,
      {
        weight: 4,
        arbitrary: fc
          .tuple(fc.constantFrom('add', 'sub', 'mul', 'div', 'mod' as const), smaller, smaller)
          .map(([operator, left, right]): NumberExpression => ({
            kind: 'arithmetic',
            operator,
            left,
            right,
          })),
      },
      {
        weight: 1,
        arbitrary: smaller.map((operand): NumberExpression => ({ kind: 'negate', operand })),
      },
      {
        weight: 1,
        arbitrary: strings.map((operand): NumberExpression => ({ kind: 'length', operand })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(strings, fc.oneof(stringLiteral, strings))
          .map(([text, search]): NumberExpression => ({ kind: 'indexof', text, search })),
      },
    );
  };

  const stringExpression = (depth: number): fc.Arbitrary<StringExpression> => {
    const leaves = [
      { weight: 3, arbitrary: textReference },
      { weight: 2, arbitrary: stringLiteral },
    ];
    if (depth <= 0) {
      return fc.oneof(...leaves);
    }

    const smaller = stringExpression(depth - 1);
    // A literal offset must be a whole number, while any other number expression is truncated.
    const offset = fc.oneof(
      { weight: 3, arbitrary: wholeNumberLiteral },
      {
        weight: 1,
        arbitrary: numberExpression(depth - 1).filter((expression) => expression.kind !== 'number'),
      },
    );

    return fc.oneof(
      ...leaves,
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom('tolower', 'toupper', 'trim' as const), smaller)
          .map(([name, operand]): StringExpression => ({ kind: 'map', function: name, operand })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(smaller, offset, fc.option(offset, { nil: undefined }))
          .map(([operand, start, length]): StringExpression => ({
            kind: 'substring',
            operand,
            start,
            length,
          })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(smaller, smaller)
          .map(([left, right]): StringExpression => ({ kind: 'concat', left, right })),
      },
    );
  };

  const idValue = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ids).map((id) => ({ value: id, quoted: false })) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...ids).map((id) => ({ value: id.toUpperCase(), quoted: true })),
    },
    { weight: 1, arbitrary: fc.uuid().map((id) => ({ value: id, quoted: false })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('zzz', '', 'not-a-guid').map((value) => ({ value, quoted: true })),
    },
  );

  const leafCondition: fc.Arbitrary<Condition> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...ALL_OPERATORS), numberExpression(1), numberExpression(1))
        .map(([operator, left, right]): Condition => ({
          kind: 'compareNumbers',
          operator,
          left,
          right,
        })),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...stringOperators), stringExpression(1), stringExpression(1))
        .map(([operator, left, right]): Condition => ({
          kind: 'compareStrings',
          operator,
          left,
          right,
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.oneof(stringExpression(1), numberExpression(1)), fc.boolean(), fc.boolean())
        .map(([operand, negated, nullFirst]): Condition => ({
          kind: 'nullCheck',
          operand,
          negated,
          nullFirst,
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...ALL_OPERATORS),
          fc.constantFrom(...HEALTH_MEMBERS),
          fc.constantFrom('plain', 'upper', 'qualified' as const),
          fc.boolean(),
        )
        .map(([operator, member, spelling, reversed]): Condition => ({
          kind: 'compareHealth',
          operator,
          member,
          spelling,
          reversed,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.constantFrom(...HEALTH_MEMBERS), { minLength: 1, maxLength: 3 })
        .map((members): Condition => ({ kind: 'healthIn', members })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          stringExpression(1),
          fc.array(
            fc.oneof(
              { weight: 4, arbitrary: stringLiteral },
              { weight: 1, arbitrary: fc.constant(null) },
              { weight: 1, arbitrary: stringExpression(0) },
            ),
            { minLength: 1, maxLength: 4 },
          ),
        )
        .map(([operand, items]): Condition => ({ kind: 'stringIn', operand, items })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          numberExpression(1),
          fc.array(fc.oneof(numberLiteral, numberExpression(0)), { minLength: 1, maxLength: 4 }),
        )
        .map(([operand, items]): Condition => ({ kind: 'numberIn', operand, items })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...ALL_OPERATORS), idValue)
        .map(([operator, { value, quoted }]): Condition => ({
          kind: 'compareId',
          operator,
          value,
          quoted,
        })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom('contains', 'startswith', 'endswith' as const),
          stringExpression(1),
          fc.oneof(stringLiteral, stringExpression(1)),
        )
        .map(([name, text, search]): Condition => ({
          kind: 'match',
          function: name,
          text,
          search,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('true', 'false', 'TRUE', 'False')
        .map((text): Condition => ({ kind: 'boolean', text })),
    },
  );

  const condition = (depth: number): fc.Arbitrary<Condition> => {
    if (depth <= 0) {
      return leafCondition;
    }

    const smaller = condition(depth - 1);

    return fc.oneof(
      { weight: 3, arbitrary: leafCondition },
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.constantFrom('and', 'or' as const), smaller, smaller)
          .map(([operator, left, right]): Condition => ({
            kind: 'logical',
            operator,
            left,
            right,
          })),
      },
      {
        weight: 2,
        arbitrary: smaller.map((operand): Condition => ({ kind: 'not', operand })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom('eq', 'ne' as const), smaller, smaller)
          .map(([operator, left, right]): Condition => ({
            kind: 'compareConditions',
            operator,
            left,
            right,
          })),
      },
    );
  };

  const sortable: Omit<SortKey, 'direction'>[] = [
    { property: 'id', column: 'id' },
    { property: 'healthStatus', column: 'health_status' },
    ...SCORE_PROPERTIES.map((property) => ({
      property,
      column: SCORE_COLUMNS_BY_PROPERTY[property],
    })),
    ...(codePointOrder
      ? STRING_PROPERTIES.map((property) => ({ property, column: STRING_COLUMNS[property] }))
      : []),
  ];
  const sortKeys = fc.uniqueArray(
    fc
      .tuple(fc.constantFrom(...sortable), fc.constantFrom('asc', 'desc' as const))
      .map(([key, direction]): SortKey => ({ ...key, direction })),
    { maxLength: 3, selector: (key) => key.property },
  );

  return { condition, search: searchExpression, sortKeys };
}

const searchWord = fc
  .string({
    unit: fc.constantFrom(...ALPHABET.filter((char) => !/[\s"()\u00a0]/.test(char))),
    minLength: 1,
    maxLength: 4,
  })
  .filter((word) => !['AND', 'OR', 'NOT'].includes(word));

const searchTerm: fc.Arbitrary<SearchExpression> = fc.oneof(
  { weight: 3, arbitrary: searchWord.map((text): SearchExpression => ({ kind: 'word', text })) },
  {
    weight: 2,
    arbitrary: fragment
      .filter(
        (text) => /\S/.test(text) && !/[\s()"]/.test(text) && !['AND', 'OR', 'NOT'].includes(text),
      )
      .map((text): SearchExpression => ({ kind: 'word', text })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom(...TRICKY_STRINGS), randomString)
      .filter((text) => text.length > 0)
      .map((text): SearchExpression => ({ kind: 'phrase', text })),
  },
);

const searchExpression: fc.Arbitrary<SearchExpression> = fc.letrec<{
  node: SearchExpression;
}>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: searchTerm },
    {
      weight: 2,
      arbitrary: fc
        .tuple(tie('node'), tie('node'), fc.boolean())
        .map(([left, right, explicit]): SearchExpression => ({
          kind: 'and',
          left,
          right,
          explicit,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(tie('node'), tie('node'))
        .map(([left, right]): SearchExpression => ({ kind: 'or', left, right })),
    },
    {
      weight: 1,
      arbitrary: tie('node').map((operand): SearchExpression => ({ kind: 'not', operand })),
    },
  ),
})).node;

/** Pieces of filter syntax, valid and not, for token soups. */
const FILTER_TOKENS = [
  'deviceName', 'model', 'endpointAnalyticsScore', 'healthStatus', 'id', 'unknownName',
  'eq', 'ne', 'gt', 'le', 'and', 'or', 'not', 'in', 'add', 'mul', 'div', 'mod', 'has',
  'null', 'true', 'NaN', 'INF', '-INF', '1', '-1', '1.5e3', '1e999', "'x'", "''", "'",
  "'meetingGoals'", "microsoft.graph.userExperienceAnalyticsHealthState'unknown'",
  '00000000-0000-4000-8000-00000000000a', '(', ')', ',', '-', '/', '$it', '@p', '"',
  'contains(', 'substring(', 'length(', 'concat(', 'round(', 'any(', ' ', '  ', '\t', '&',
  '=', '%', '+', ';', '\u0000', '😀', '\\',
]; // prettier-ignore

export const filterTokenSoup = fc
  .array(fc.constantFrom(...FILTER_TOKENS), { maxLength: 30 })
  .map((tokens) => tokens.join(' '));

/** Characters that mutations insert: delimiters of the filter and query string grammars. */
const MUTATION_CHARACTERS = [
  "'", '(', ')', ',', ' ', '-', '.', 'e', 'E', '%', '&', '=', '+', '#', '?', '$', '/', '"',
  '\\', '\u0000', '\u00ff', '😀', '\ud800', ':', '@', '*', '0', '9',
]; // prettier-ignore

const MUTATION_WORDS = [
  'and',
  'or',
  'not',
  'eq',
  'null',
  'INF',
  'NaN',
  'in',
  '()',
  "''",
  '%2',
  '%zz',
  '%C3',
  '%00',
];

type Mutation =
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'swap'; at: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom(...MUTATION_CHARACTERS), fc.constantFrom(...MUTATION_WORDS)),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 12 }),
  }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyMutation(text: string, change: Mutation): string {
  const at = text.length === 0 ? 0 : change.at % (text.length + 1);
  switch (change.kind) {
    case 'insert':
      return text.slice(0, at) + change.text + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + change.length);
    case 'duplicate':
      return text.slice(0, at + change.length) + text.slice(at);
    case 'swap':
      return at + 1 < text.length
        ? text.slice(0, at) + text[at + 1] + text[at] + text.slice(at + 2)
        : text;
    case 'truncate':
      return text.slice(0, at);
  }
}

/** Applies one to four random edits to each value of `valid`. */
export function mutated(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([text, changes]) => changes.reduce(applyMutation, text));
}
