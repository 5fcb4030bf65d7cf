import fc from 'fast-check';
import type { DataSource } from 'typeorm';

import { DEVICE_SCORES_MODEL } from '../../src/device-scores/device-scores.model.js';
import { GraphException } from '../../src/odata/http/graph-error.js';
import { planListQuery, type ListQueryPlan } from '../../src/odata/query/list-query.js';
import { MAX_OPTION_BYTES } from '../../src/odata/query/query-limits.js';
import { COLLECTION, READ, startTestApp, type TestApp } from '../support/test-app.js';
import {
  buildQuery,
  deleteTenantRows,
  insertScoreRows,
  LIST_ACCEPTED,
  newTenantId,
  openPlanDatabase,
  readPlanPage,
  type ScoreRow,
} from './plan-database.js';
import {
  filterArbitraries,
  filterTokenSoup,
  mutated,
  scoreRows,
  type FilterArbitraries,
} from './query-arbitraries.js';
import {
  compareCodePoints,
  evaluateCondition,
  evaluateSearch,
  OutOfRangeError,
  renderFilter,
  renderSearch,
  sortRows,
  type Condition,
  type SortKey,
} from './reference-evaluator.js';

// Differential tests: random filters, searches and orderings run through planListQuery and the
// real PostgreSQL, compared with an in-memory evaluator of the same semantics. Then random and
// mutated query text, which must give a plan or a 400, never another exception, locally and
// over HTTP. Fixed seeds keep every run identical.

const SEED = 20260131;
const ROW_COUNT = 80;
const TENANT = newTenantId();
const SECRET = Buffer.from('differential-skiptoken-secret-0123456789');
const SCOPE = `${TENANT}|beta|deviceManagement/userExperienceAnalyticsDeviceScores`;

function plan(rawQuery: string, maxPageSize = 1000): ListQueryPlan {
  return planListQuery(rawQuery, DEVICE_SCORES_MODEL, {
    surface: 'beta',
    maxPageSize,
    skiptokenSecret: SECRET,
    scope: SCOPE,
    accepted: LIST_ACCEPTED,
    alias: 'ds',
  });
}

/**
 * Returns the ids the evaluator expects for a condition, or undefined when some row makes
 * PostgreSQL raise an out-of-range error, which the evaluator cannot place in SQL's order of
 * evaluation.
 */
function expectedIds(rows: readonly ScoreRow[], condition: Condition): string[] | undefined {
  try {
    return rows
      .filter((row) => evaluateCondition(condition, row))
      .map((row) => row.id)
      .sort();
  } catch (error) {
    if (error instanceof OutOfRangeError) {
      return undefined;
    }
    throw error;
  }
}

function renderOrderBy(keys: readonly SortKey[], spellings: readonly string[]): string {
  return keys
    .map((key, index) => {
      const spelling = spellings[index % spellings.length];
      if (key.direction === 'desc') {
        return `${key.property} ${spelling === 'upper' ? 'DESC' : 'desc'}`;
      }

      return spelling === 'bare' ? key.property : `${key.property} asc`;
    })
    .join(',');
}

/** Checks that the planner returns a plan or throws a 400 GraphException, and nothing else. */
function planOrBadRequest(rawQuery: string): ListQueryPlan | undefined {
  try {
    return plan(rawQuery);
  } catch (error) {
    if (!(error instanceof GraphException) || error.status !== 400) {
      throw new Error(
        `planListQuery threw ${String(error)} for ${JSON.stringify(rawQuery.slice(0, 300))}`,
      );
    }

    return undefined;
  }
}

/** Probes whether the database sorts text by code point, as the C and C.UTF-8 collations do. */
async function sortsByCodePoint(dataSource: DataSource): Promise<boolean> {
  const probe = ['a', 'B', 'é', 'z', '😀', '\ufffd', 'ﬁ', ' ', '_', 'Z', 'ß'];
  const result: { sorted: string[] }[] = await dataSource.query(
    'SELECT array_agg(value ORDER BY value) AS sorted FROM unnest($1::text[]) AS value',
    [probe],
  );

  return JSON.stringify(result[0].sorted) === JSON.stringify([...probe].sort(compareCodePoints));
}

describe('differential tests against PostgreSQL', () => {
  let dataSource: DataSource;
  let rows: ScoreRow[];
  let arbitraries: FilterArbitraries;

  beforeAll(async () => {
    dataSource = await openPlanDatabase();
    [rows] = fc.sample(scoreRows(ROW_COUNT), { seed: SEED, numRuns: 1 });
    await insertScoreRows(dataSource, TENANT, rows);
    const codePointOrder = await sortsByCodePoint(dataSource);
    arbitraries = filterArbitraries(
      rows.map((row) => row.id),
      codePointOrder,
    );
  });

  afterAll(async () => {
    await deleteTenantRows(dataSource, TENANT);
    await dataSource.destroy();
  });

  it('filters match the evaluator', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraries.condition(3), async (condition) => {
        const filter = renderFilter(condition);
        const expected = expectedIds(rows, condition);
        const compiled = plan(buildQuery({ $filter: filter }));

        if (expected === undefined) {
          return;
        }
        const { rows: found } = await readPlanPage(dataSource, TENANT, compiled);
        const ids = found.map((row) => row.id).sort();

        expect({ filter, ids }).toEqual({ filter, ids: expected });
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  it('searches match the evaluator', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraries.search, async (search) => {
        const text = renderSearch(search);
        const expected = rows
          .filter((row) => evaluateSearch(search, row))
          .map((row) => row.id)
          .sort();
        const { rows: found } = await readPlanPage(
          dataSource,
          TENANT,
          plan(buildQuery({ $search: text })),
        );
        const ids = found.map((row) => row.id).sort();

        expect({ search: text, ids }).toEqual({ search: text, ids: expected });
      }),
      { seed: SEED + 1, numRuns: 200 },
    );
  });

  it('paged walks match the evaluator order', async () => {
    const walk = fc.record({
      keys: arbitraries.sortKeys,
      spellings: fc.array(fc.constantFrom('bare', 'lower', 'upper'), { minLength: 1 }),
      top: fc.integer({ min: 1, max: 17 }),
      skip: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 9 })),
      count: fc.boolean(),
      condition: fc.option(arbitraries.condition(1), { nil: undefined }),
      search: fc.option(arbitraries.search, { freq: 4, nil: undefined }),
    });

    await fc.assert(
      fc.asyncProperty(walk, async (parameters) => {
        const options: Record<string, string | number | boolean> = {
          $top: parameters.top,
          $count: parameters.count,
        };
        if (parameters.keys.length > 0) {
          options.$orderby = renderOrderBy(parameters.keys, parameters.spellings);
        }
        if (parameters.skip > 0) {
          options.$skip = parameters.skip;
        }
        if (parameters.condition !== undefined) {
          options.$filter = renderFilter(parameters.condition);
        }
        if (parameters.search !== undefined) {
          options.$search = renderSearch(parameters.search);
        }

        let matching: ScoreRow[];
        try {
          matching = rows.filter(
            (row) =>
              (parameters.condition === undefined ||
                evaluateCondition(parameters.condition, row)) &&
              (parameters.search === undefined || evaluateSearch(parameters.search, row)),
          );
        } catch (error) {
          if (error instanceof OutOfRangeError) {
            return;
          }
          throw error;
        }
        const expected = sortRows(matching, parameters.keys)
          .slice(parameters.skip)
          .map((row) => row.id);

        const query = buildQuery(options);
        const walked: string[] = [];
        const pageSizes: number[] = [];
        let next: string | undefined = query;
        while (next !== undefined) {
          const page = await readPlanPage(dataSource, TENANT, plan(next));
          walked.push(...page.rows.map((row) => row.id));
          pageSizes.push(page.rows.length);
          if (parameters.count) {
            expect({ query, count: page.count }).toEqual({ query, count: matching.length });
          }
          next = page.next;
          expect(pageSizes.length).toBeLessThanOrEqual(ROW_COUNT + 1);
        }

        expect({ query, walked }).toEqual({ query, walked: expected });
        expect(pageSizes.slice(0, -1).every((size) => size === parameters.top)).toBe(true);
      }),
      { seed: SEED + 2, numRuns: 150 },
    );
  });

  describe('broken query text', () => {
    it('random query strings give a plan or a 400', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (rawQuery) => {
          planOrBadRequest(rawQuery);
          planOrBadRequest(`$filter=${rawQuery}`);
          planOrBadRequest(
            `$filter=${encodeURIComponent(rawQuery.replace(/[\ud800-\udfff]/g, ''))}`,
          );
          planOrBadRequest(
            `$search=${encodeURIComponent(rawQuery.replace(/[\ud800-\udfff]/g, ''))}`,
          );
          planOrBadRequest(`$orderby=${rawQuery}&$select=${rawQuery}&$top=${rawQuery}`);
        }),
        { seed: SEED + 3, numRuns: 1500 },
      );
    });

    it('token soups give a plan or a 400', () => {
      fc.assert(
        fc.property(filterTokenSoup, (filter) => {
          planOrBadRequest(buildQuery({ $filter: filter }));
        }),
        { seed: SEED + 4, numRuns: 1500 },
      );
    });

    it('mutated filters give a plan that runs, or a 400', async () => {
      const mutatedFilters = mutated(arbitraries.condition(3).map(renderFilter));

      await fc.assert(
        fc.asyncProperty(mutatedFilters, async (filter) => {
          const compiled = planOrBadRequest(buildQuery({ $filter: filter }));
          if (compiled === undefined) {
            return;
          }

          try {
            await readPlanPage(dataSource, TENANT, compiled);
          } catch (error) {
            // Out-of-range arithmetic is class 22, which the service reports as a 400.
            const code = (error as { driverError?: { code?: string } }).driverError?.code;
            expect({ filter, code }).toEqual({ filter, code: expect.stringMatching(/^22/) });
          }
        }),
        { seed: SEED + 5, numRuns: 400 },
      );
    });

    it('mutated raw queries give a plan or a 400', () => {
      const validQuery = fc
        .tuple(arbitraries.condition(2), arbitraries.sortKeys, arbitraries.search)
        .map(([condition, keys, search]) =>
          buildQuery({
            $filter: renderFilter(condition),
            $orderby: renderOrderBy(
              keys.length === 0 ? [{ property: 'id', column: 'id', direction: 'asc' }] : keys,
              ['bare'],
            ),
            $search: renderSearch(search),
            $top: 5,
          }),
        );

      fc.assert(
        fc.property(mutated(validQuery), (rawQuery) => {
          planOrBadRequest(rawQuery);
        }),
        { seed: SEED + 6, numRuns: 1000 },
      );
    });

    it('inputs near the size limit give a plan or a 400', () => {
      // A long literal meets the byte limit, and repeated clauses meet the node limit first.
      const longLiteral = fc.integer({ min: -8, max: 8 }).map((offset) => {
        const prefix = "deviceName eq '";
        const fillBytes = MAX_OPTION_BYTES + offset - Buffer.byteLength(`${prefix}'`);
        const fill = 'é'.repeat(Math.floor(fillBytes / 2)) + 'x'.repeat(fillBytes % 2);

        return `${prefix}${fill}'`;
      });
      const repeatedClauses = fc
        .tuple(
          fc.integer({ min: -40, max: 40 }),
          fc.constantFrom("deviceName eq 'Zürich 😀' or ", 'endpointAnalyticsScore add '),
        )
        .map(([offset, unit]) => {
          const repeats = Math.floor((MAX_OPTION_BYTES + offset) / Buffer.byteLength(unit));
          const tail = unit.startsWith('deviceName') ? 'true' : '0 eq 1';

          return unit.repeat(repeats) + tail;
        });
      const nearLimit = fc.oneof(longLiteral, repeatedClauses);

      fc.assert(
        fc.property(nearLimit, fc.boolean(), (filter, useSearch) => {
          const option = useSearch ? '$search' : '$filter';
          planOrBadRequest(buildQuery({ [option]: filter }));
        }),
        { seed: SEED + 7, numRuns: 40 },
      );
      fc.assert(
        fc.property(mutated(nearLimit), fc.boolean(), (filter, useSearch) => {
          const option = useSearch ? '$search' : '$filter';
          planOrBadRequest(buildQuery({ [option]: filter }));
        }),
        { seed: SEED + 8, numRuns: 60 },
      );
    });

    it('a literal of exactly the maximum size is accepted', () => {
      const prefix = "deviceName eq '";
      const fillBytes = MAX_OPTION_BYTES - Buffer.byteLength(`${prefix}'`);
      const atLimit = `${prefix}${'é'.repeat(Math.floor(fillBytes / 2))}${'x'.repeat(fillBytes % 2)}'`;

      expect(Buffer.byteLength(atLimit)).toBe(MAX_OPTION_BYTES);
      expect(planOrBadRequest(buildQuery({ $filter: atLimit }))).toBeDefined();
      expect(planOrBadRequest(buildQuery({ $filter: `${atLimit} ` }))).toBeUndefined();
    });
  });

  describe('over HTTP', () => {
    let service: TestApp;

    beforeAll(async () => {
      service = await startTestApp();
    });

    afterAll(async () => {
      await service.close();
    });

    /** Percent-encodes what an HTTP client cannot put in a request target as is. */
    function toRequestTarget(rawQuery: string): string {
      return Array.from(rawQuery.replace(/[\ud800-\udfff]/g, '\ufffd'))
        .map((char) => (/[\x21-\x7e]/.test(char) ? char : encodeURIComponent(char)))
        .join('');
    }

    it('mutated queries never get a 500', async () => {
      const token = await service.token(READ, TENANT);
      const validQuery = fc
        .tuple(arbitraries.condition(2), arbitraries.sortKeys, fc.integer({ min: 0, max: 50 }))
        .map(([condition, keys, top]) => {
          const options: Record<string, string | number | boolean> = {
            $filter: renderFilter(condition),
            $top: top,
            $count: true,
          };
          if (keys.length > 0) {
            options.$orderby = renderOrderBy(keys, ['lower']);
          }

          return buildQuery(options);
        });
      const queries = fc.sample(mutated(validQuery), { seed: SEED + 9, numRuns: 300 });
      const failures: string[] = [];

      for (const rawQuery of queries) {
        const response = await service.request({
          method: 'GET',
          url: `${COLLECTION}?${toRequestTarget(rawQuery)}`,
          token,
        });
        const body = response.json();
        const wellFormed =
          response.statusCode === 200
            ? Array.isArray(body.value)
            : response.statusCode === 400 && body.error?.code === 'BadRequest';
        if (!wellFormed) {
          failures.push(`${response.statusCode} for ${rawQuery}: ${response.body.slice(0, 200)}`);
        }
      }

      expect(failures).toEqual([]);
    });
  });
});
