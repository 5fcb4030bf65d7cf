import { randomUUID } from 'node:crypto';

import fc from 'fast-check';
import type { DataSource } from 'typeorm';

import {
  deleteTenantRows,
  insertScoreRows,
  openPlanDatabase,
  type ScoreRow,
} from '../odata-conformance/plan-database.js';
import { filterArbitraries, scoreRow } from '../odata-conformance/query-arbitraries.js';
import {
  compareCodePoints,
  OutOfRangeError,
  SCORE_COLUMNS_BY_PROPERTY,
  type ScoreProperty,
} from '../odata-conformance/reference-evaluator.js';
import { COLLECTION, READ, startTestApp, type TestApp } from '../support/test-app.js';
import {
  evaluateApply,
  evaluateSetCondition,
  firstSetProperties,
  renderApply,
  renderSetCondition,
  resultKeys,
  resultProperties,
  sortResult,
  type AggregatedRow,
  type ApplyTree,
  type GroupProperty,
  type ResultSortKey,
  type RowAggregate,
  type SetAggregate,
  type SetCondition,
  type SetProperty,
} from './apply-evaluator.js';

// Differential tests of $apply: random transformation sequences over random rows, sent to the
// service over HTTP and evaluated in memory from the same syntax tree. Rows of a second tenant
// are in the table too, so a result that mixed tenants would differ. Fixed seeds keep every run
// identical.

const SEED = 20260214;
const ROW_COUNT = 120;
const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();

/** Few distinct values, so groups hold several rows, with case pairs, quotes and an empty string. */
const MANUFACTURERS = ['Contoso', 'contoso', "O'Brien", 'Zürich', 'ß', '', null];
const MODELS = ['M1', 'm1', 'M2', '50%_off', 'Ω😀', null];
const GROUP_PROPERTIES: GroupProperty[] = ['manufacturer', 'model', 'healthStatus'];
const SCORE_PROPERTIES = Object.keys(SCORE_COLUMNS_BY_PROPERTY) as ScoreProperty[];
const THRESHOLDS = [-1, 0, 1, 2, 3, 5, 10, 25, 50, 75, 99.5, 100];
const RELATIVE_TOLERANCE = 1e-9;

const groupedRow: fc.Arbitrary<ScoreRow> = fc
  .tuple(scoreRow, fc.constantFrom(...MANUFACTURERS), fc.constantFrom(...MODELS))
  .map(([row, manufacturer, model]) => ({ ...row, manufacturer, model }));

const groupKeys = fc.subarray(GROUP_PROPERTIES, { minLength: 0, maxLength: 3 });

function rowAggregate(stringOrder: boolean): fc.Arbitrary<RowAggregate> {
  const options: fc.Arbitrary<RowAggregate>[] = [
    fc.constant({ method: 'count' } as const),
    fc
      .constantFrom<GroupProperty | ScoreProperty>(...GROUP_PROPERTIES, ...SCORE_PROPERTIES)
      .map((property) => ({ method: 'countdistinct', property }) as const),
    fc
      .tuple(fc.constantFrom('sum', 'average', 'min', 'max'), fc.constantFrom(...SCORE_PROPERTIES))
      .map(([method, property]) => ({ method, property })),
  ];
  const ordered: GroupProperty[] = stringOrder ? GROUP_PROPERTIES : ['healthStatus'];
  options.push(
    fc
      .tuple(fc.constantFrom('min', 'max'), fc.constantFrom(...ordered))
      .map(([method, property]) => ({ method, property })),
  );

  return fc.oneof(...options);
}

/** Generates conditions over a set's properties. Numbers are compared only where exact. */
function setCondition(properties: readonly SetProperty[]): fc.Arbitrary<SetCondition> {
  const leaves: fc.Arbitrary<SetCondition>[] = [
    fc
      .tuple(fc.constantFrom(...properties), fc.boolean())
      .map(([property, negated]) => ({ kind: 'nullCheck', property: property.name, negated })),
  ];
  const exactNumbers = properties.filter(
    (property) => property.kind === 'number' && property.exact,
  );
  if (exactNumbers.length > 0) {
    leaves.push(
      fc
        .tuple(
          fc.constantFrom(...exactNumbers),
          fc.constantFrom('eq', 'ne', 'gt', 'ge', 'lt', 'le'),
          fc.constantFrom(...THRESHOLDS),
        )
        .map(([property, operator, value]) => ({
          kind: 'compareNumber',
          property: property.name,
          operator,
          value,
        })),
    );
  }
  const strings = properties.filter((property) => property.kind === 'string');
  if (strings.length > 0) {
    leaves.push(
      fc
        .tuple(
          fc.constantFrom(...strings),
          fc.constantFrom('eq', 'ne'),
          fc.constantFrom(...MANUFACTURERS, ...MODELS).filter((value) => value !== null),
        )
        .map(([property, operator, value]) => ({
          kind: 'compareString',
          property: property.name,
          operator,
          value,
        })),
    );
  }

  const { condition } = fc.letrec<{ condition: SetCondition }>((tie) => ({
    condition: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      ...leaves,
      fc
        .tuple(fc.constantFrom('and', 'or'), tie('condition'), tie('condition'))
        .map(([operator, left, right]): SetCondition => ({
          kind: 'logical',
          operator,
          left,
          right,
        })),
      tie('condition').map((operand): SetCondition => ({ kind: 'not', operand })),
    ),
  }));

  return condition;
}

function setAggregate(properties: readonly SetProperty[]): fc.Arbitrary<SetAggregate> {
  const options: fc.Arbitrary<SetAggregate>[] = [fc.constant({ method: 'count' } as const)];
  const numbers = properties.filter((property) => property.kind === 'number');
  if (numbers.length > 0) {
    options.push(
      fc
        .tuple(fc.constantFrom('sum', 'average', 'min', 'max'), fc.constantFrom(...numbers))
        .map(([method, property]) => ({ method, property: property.name })),
    );
  }
  const exact = properties.filter((property) => property.exact);
  if (exact.length > 0) {
    options.push(
      fc
        .constantFrom(...exact)
        .map((property) => ({ method: 'countdistinct', property: property.name }) as const),
    );
  }

  return fc.oneof(...options);
}

/** Trees of the supported shapes, each part optional except the first aggregation. */
function applyTree(
  rowCondition: fc.Arbitrary<ApplyTree['rowFilters'][number]>,
  stringOrder: boolean,
): fc.Arbitrary<ApplyTree> {
  return fc
    .record({
      rowFilters: fc.array(rowCondition, { maxLength: 2 }),
      keys: groupKeys,
      aggregates: fc.array(rowAggregate(stringOrder), { maxLength: 4 }),
      includeUnavailable: fc.boolean(),
    })
    .filter((tree) => tree.keys.length > 0 || tree.aggregates.length > 0)
    .chain((base) => {
      const first = firstSetProperties({ ...base, rowFilters: [] });
      const firstKeys = first.filter((property) => base.keys.includes(property.name as never));

      return fc.record({
        rowFilters: fc.constant(base.rowFilters),
        keys: fc.constant(base.keys),
        aggregates: fc.constant(base.aggregates),
        includeUnavailable: fc.constant(base.includeUnavailable),
        setFilter: fc.option(setCondition(first), { freq: 3, nil: undefined }),
        regroup: fc.option(
          fc.record({
            keys: fc.subarray(
              firstKeys.map((key) => key.name as GroupProperty),
              {
                minLength: 0,
              },
            ),
            aggregates: fc.array(setAggregate(first), { minLength: 1, maxLength: 3 }),
          }),
          { freq: 3, nil: undefined },
        ),
      });
    });
}

/** Options after $apply: a filter, an order over exact properties, and a page. */
interface ResultOptions {
  filter?: SetCondition;
  orderBy: ResultSortKey[];
  top?: number;
  skip: number;
  count: boolean;
}

function resultOptions(properties: readonly SetProperty[]): fc.Arbitrary<ResultOptions> {
  const sortable = properties.filter((property) => property.exact);

  return fc.record({
    filter: fc.option(setCondition(properties), { freq: 3, nil: undefined }),
    orderBy:
      sortable.length === 0
        ? fc.constant([])
        : fc
            .uniqueArray(fc.constantFrom(...sortable), { maxLength: 2, selector: (p) => p.name })
            .chain((chosen) =>
              fc.tuple(
                ...chosen.map((property) =>
                  fc
                    .constantFrom<'asc' | 'desc'>('asc', 'desc')
                    .map((direction) => ({ property, direction })),
                ),
              ),
            ),
    top: fc.option(fc.integer({ min: 1, max: 7 }), { freq: 2, nil: undefined }),
    skip: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 5 })),
    count: fc.boolean(),
  });
}

function encodeOptions(options: Record<string, string>): string {
  return Object.entries(options)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&');
}

function matchesNumber(actual: unknown, expected: number): boolean {
  if (typeof actual !== 'number') {
    return false;
  }
  const scale = Math.max(1, Math.abs(expected));

  return Math.abs(actual - expected) <= RELATIVE_TOLERANCE * scale;
}

/** Compares result rows: exact for strings, nulls and counts, with a tolerance for sums. */
function sameRows(
  actual: readonly Record<string, unknown>[],
  expected: readonly AggregatedRow[],
): boolean {
  if (actual.length !== expected.length) {
    return false;
  }

  return expected.every((row, index) => {
    const found = actual[index];
    const names = Object.keys(found).filter((name) => !name.includes('@'));
    if (names.length !== Object.keys(row).length) {
      return false;
    }

    return Object.entries(row).every(([name, value]) =>
      typeof value === 'number' ? matchesNumber(found[name], value) : found[name] === value,
    );
  });
}

/** Returns a total order for comparing unordered results, by the result keys as JSON. */
function byKeys(keys: readonly string[]) {
  return (left: Record<string, unknown>, right: Record<string, unknown>) =>
    compareCodePoints(
      JSON.stringify(keys.map((key) => left[key])),
      JSON.stringify(keys.map((key) => right[key])),
    );
}

/** Probes whether the database sorts text by code point, as the C and C.UTF-8 collations do. */
async function sortsByCodePoint(dataSource: DataSource): Promise<boolean> {
  const probe = ['a', 'B', 'é', 'z', '😀', 'ß', 'Ω', "'", '%', 'Z', ''];
  const result: { sorted: string[] }[] = await dataSource.query(
    'SELECT array_agg(value ORDER BY value) AS sorted FROM unnest($1::text[]) AS value',
    [probe],
  );

  return JSON.stringify(result[0].sorted) === JSON.stringify([...probe].sort(compareCodePoints));
}

describe('$apply differential tests', () => {
  let service: TestApp;
  let dataSource: DataSource;
  let token: string;
  let rows: ScoreRow[];
  let trees: fc.Arbitrary<ApplyTree>;

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '1000000' });
    dataSource = await openPlanDatabase();
    token = await service.token(READ, TENANT);
    [rows] = fc.sample(
      fc.uniqueArray(groupedRow, {
        minLength: ROW_COUNT,
        maxLength: ROW_COUNT,
        selector: (row) => row.id,
      }),
      { seed: SEED, numRuns: 1 },
    );
    const [others] = fc.sample(fc.array(groupedRow, { minLength: 40, maxLength: 40 }), {
      seed: SEED + 100,
      numRuns: 1,
    });
    await insertScoreRows(dataSource, TENANT, rows);
    await insertScoreRows(
      dataSource,
      OTHER_TENANT,
      others.map((row) => ({ ...row, id: randomUUID() })),
    );
    const stringOrder = await sortsByCodePoint(dataSource);
    const filters = filterArbitraries(
      rows.map((row) => row.id),
      stringOrder,
    );
    trees = applyTree(filters.condition(2), stringOrder);
  });

  afterAll(async () => {
    await deleteTenantRows(dataSource, TENANT);
    await deleteTenantRows(dataSource, OTHER_TENANT);
    await dataSource.destroy();
    await service.close();
  });

  async function fetchResult(query: string) {
    const response = await service.request({ method: 'GET', url: `${COLLECTION}?${query}`, token });

    return { status: response.statusCode, body: response.json() };
  }

  /** Returns the evaluator's result, or undefined when a row filter overflows a double. */
  function expectedResult(tree: ApplyTree): AggregatedRow[] | undefined {
    try {
      return evaluateApply(tree, rows);
    } catch (error) {
      if (error instanceof OutOfRangeError) {
        return undefined;
      }
      throw error;
    }
  }

  it('aggregated results match the evaluator', async () => {
    await fc.assert(
      fc.asyncProperty(trees, async (tree) => {
        const apply = renderApply(tree);
        const expected = expectedResult(tree);
        if (expected === undefined) {
          return;
        }
        const options: Record<string, string> = { $apply: apply };
        if (tree.includeUnavailable) {
          options.includeUnavailableScores = 'true';
        }
        const { status, body } = await fetchResult(encodeOptions(options));

        expect({ apply, status }).toEqual({ apply, status: 200 });
        const keys = resultKeys(tree);
        const actual = [...(body.value as Record<string, unknown>[])].sort(byKeys(keys));
        const sorted = [...expected].sort(byKeys(keys));
        if (!sameRows(actual, sorted)) {
          expect({ apply, rows: actual }).toEqual({ apply, rows: sorted });
        }
      }),
      { seed: SEED + 1, numRuns: 250 },
    );
  });

  it('options after $apply match the evaluator', async () => {
    const cases = trees.chain((tree) =>
      fc.record({ tree: fc.constant(tree), options: resultOptions(resultProperties(tree)) }),
    );

    await fc.assert(
      fc.asyncProperty(cases, async ({ tree, options }) => {
        const evaluated = expectedResult(tree);
        if (evaluated === undefined) {
          return;
        }
        const filter = options.filter;
        const matching =
          filter === undefined
            ? evaluated
            : evaluated.filter((row) => evaluateSetCondition(filter, row));
        const properties = resultProperties(tree);
        const groupKeys = properties.filter((property) => resultKeys(tree).includes(property.name));
        const ordered = sortResult(matching, options.orderBy, groupKeys);

        const query: Record<string, string> = { $apply: renderApply(tree) };
        if (tree.includeUnavailable) {
          query.includeUnavailableScores = 'true';
        }
        if (filter !== undefined) {
          query.$filter = renderSetCondition(filter);
        }
        if (options.orderBy.length > 0) {
          query.$orderby = options.orderBy
            .map((key) => `${key.property.name} ${key.direction}`)
            .join(',');
        }
        if (options.top !== undefined) {
          query.$top = String(options.top);
        }
        if (options.skip > 0) {
          query.$skip = String(options.skip);
        }
        if (options.count) {
          query.$count = 'true';
        }

        const walked: Record<string, unknown>[] = [];
        let next: string | undefined = encodeOptions(query);
        let pages = 0;
        while (next !== undefined) {
          const { status, body } = await fetchResult(next);
          expect({ query, status }).toEqual({ query, status: 200 });
          if (options.count) {
            expect({ query, count: body['@odata.count'] }).toEqual({
              query,
              count: matching.length,
            });
          }
          walked.push(...(body.value as Record<string, unknown>[]));
          const link: string | undefined = body['@odata.nextLink'];
          next = link === undefined ? undefined : link.slice(link.indexOf('?') + 1);
          pages += 1;
          expect(pages).toBeLessThanOrEqual(ROW_COUNT + 1);
        }

        const expected = ordered.slice(options.skip);
        if (!sameRows(walked, expected)) {
          expect({ query, rows: walked }).toEqual({ query, rows: expected });
        }
      }),
      { seed: SEED + 2, numRuns: 150 },
    );
  });
});
