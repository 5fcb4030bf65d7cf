import fc from 'fast-check';

import { GraphException } from '../../src/odata/http/graph-error.js';
import { parseApply } from '../../src/odata/query/apply-parser.js';
import { planCollectionQuery } from '../../src/odata/query/list-query.js';
import { badRequestMessage, DEVICE_SCORES } from '../odata-query/device-scores-fixture.js';

const ACCEPTED = new Set([
  'apply',
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
]);

function plan(rawQuery: string) {
  return planCollectionQuery(rawQuery, DEVICE_SCORES, {
    surface: 'beta',
    maxPageSize: 100,
    skiptokenSecret: Buffer.from('apply-parser-skiptoken-secret-0123'),
    scope: 'tenant|beta|set',
    accepted: ACCEPTED,
    alias: 'ds',
    apply: {
      unavailable: { value: -1, properties: ['endpointAnalyticsScore', 'batteryHealthScore'] },
      includeUnavailableOption: 'includeUnavailableScores',
    },
  });
}

/** Returns the plan, or undefined for a 400; any other failure fails the test. */
function planOrBadRequest(rawQuery: string) {
  try {
    return plan(rawQuery);
  } catch (error) {
    if (!(error instanceof GraphException) || error.status !== 400) {
      throw new Error(`planCollectionQuery threw ${String(error)} for ${JSON.stringify(rawQuery)}`);
    }

    return undefined;
  }
}

describe('parseApply', () => {
  it('parses the documented example', () => {
    const sequence = parseApply(
      'groupby((manufacturer,model),aggregate(endpointAnalyticsScore with average as ' +
        'averageScore,$count as deviceCount))',
    );

    expect(sequence).toHaveLength(1);
    expect(sequence[0]).toMatchObject({
      kind: 'groupby',
      properties: [{ name: 'manufacturer' }, { name: 'model' }],
      aggregate: {
        kind: 'aggregate',
        expressions: [
          {
            kind: 'method',
            property: { name: 'endpointAnalyticsScore' },
            method: 'average',
            alias: { name: 'averageScore' },
          },
          { kind: 'count', alias: { name: 'deviceCount' } },
        ],
      },
    });
  });

  it('parses a chain with white space and upper-case keywords', () => {
    const sequence = parseApply(
      " FILTER( model eq 'a/b' ) / GroupBy( ( model ) , Aggregate( $count AS n ) ) / identity ",
    );

    expect(sequence.map((transformation) => transformation.kind)).toEqual([
      'filter',
      'groupby',
      'identity',
    ]);
  });

  it('keeps filter positions relative to $apply', () => {
    const [filter] = parseApply("filter(deviceName eq 'x')");

    expect(filter).toMatchObject({
      kind: 'filter',
      condition: { kind: 'binary', start: 7, end: 24, left: { kind: 'property', start: 7 } },
    });
  });

  it('finds the closing parenthesis past quoted parentheses', () => {
    const [filter] = parseApply("filter(deviceName eq ')(''')");

    expect(filter).toMatchObject({ kind: 'filter', condition: { right: { value: ")('" } } });
  });

  it.each([
    ['', 'Invalid $apply at position 0: expected a transformation'],
    ['groupby(model)', "Invalid $apply at position 8: expected '(' to open the list"],
    ['groupby(())', 'Invalid $apply at position 9: expected a property name'],
    ['aggregate()', 'Invalid $apply at position 10: expected a property name or $count'],
    ['aggregate($count)', "Invalid $apply at position 16: expected 'as' after '$count'"],
    ['aggregate($count as)', "Invalid $apply at position 19: expected an alias after 'as'"],
    ['aggregate($count with sum as n)', '$count takes no aggregation method'],
    ['aggregate(x with as n)', 'expected an aggregation method'],
    ['aggregate(x average as n)', "expected 'with' after 'x', but found 'average'"],
    ['aggregate(x with averageas n)', "but found 'averageas'"],
    ['filter()', 'Invalid $apply at position 7: expected a condition inside filter().'],
    ["filter(deviceName eq 'x)", 'Invalid $apply at position 21: the string literal is not closed'],
    ['filter(deviceName eq)', 'Invalid $apply at position 20: expected a value after'],
    ['groupby((a)))', "Invalid $apply at position 12: expected '/' and another transformation"],
    ['groupby((a)) x', "but found 'x'"],
    ['compute(1 as x)', "'compute' is not a supported transformation"],
    ['groupby((a),groupby((b)))', 'must be one aggregate(...) transformation'],
    ['groupby((a),aggregate($count as n)/filter(n gt 1))', 'must be one aggregate(...)'],
  ])('rejects %j', (text, message) => {
    expect(badRequestMessage(() => parseApply(text))).toContain(message);
  });

  it('hints at a plus sign that became a space', () => {
    const text = 'filter(endpointAnalyticsScore gt 1.5E 1)';

    expect(badRequestMessage(() => parseApply(text, [text.indexOf(' 1)')]))).toContain(
      'a literal plus sign must be sent as %2B',
    );
  });

  it('rejects a value over the size limit', () => {
    const text = `filter(deviceName eq '${'x'.repeat(16384)}')`;

    expect(badRequestMessage(() => parseApply(text))).toContain(
      'more than the maximum of 16384 bytes',
    );
  });

  it('rejects a filter nested deeper than the limit', () => {
    const nested = `${'('.repeat(51)}deviceName eq 'a'${')'.repeat(51)}`;

    expect(badRequestMessage(() => parseApply(`filter(${nested})`))).toContain(
      'maximum of 50 levels',
    );
    expect(() => parseApply(`filter(${nested.slice(1, -1)})`)).not.toThrow();
  });

  it('counts filter nodes towards the node limit', () => {
    const list = (count: number) =>
      `deviceName in (${Array.from({ length: count }, (_, index) => `'n${index}'`).join(',')})`;
    const half = list(498);

    expect(() => parseApply(`filter(${half})`)).not.toThrow();
    expect(badRequestMessage(() => parseApply(`filter(${half})/filter(${half})`))).toContain(
      'more than the maximum of 1000 nodes',
    );
  });

  it('rejects more aggregates than the node limit', () => {
    const items = Array.from({ length: 501 }, (_, index) => `$count as n${index}`).join(',');

    expect(badRequestMessage(() => parseApply(`aggregate(${items})`))).toContain(
      'more than the maximum of 1000 nodes',
    );
  });

  it('parses a long chain in linear time without deep recursion', () => {
    const chain = Array.from({ length: 300 }, () => 'identity').join('/');

    expect(parseApply(chain)).toHaveLength(300);
  });
});

describe('planCollectionQuery with $apply', () => {
  it('compiles the example to one GROUP BY with parameters', () => {
    const collection = plan(
      '$apply=groupby((manufacturer,model),aggregate(endpointAnalyticsScore%20with%20average' +
        '%20as%20averageScore,$count%20as%20deviceCount))&$orderby=averageScore&$top=10',
    );

    expect(collection.kind).toBe('aggregate');
    if (collection.kind !== 'aggregate') {
      return;
    }
    const relation = collection.plan.relation({
      from: 'device_scores ds',
      alias: 'ds',
      condition: { sql: 'ds.tenant_id = :tenantId', params: { tenantId: 't' } },
    });
    expect(relation.sql).toBe(
      'SELECT ds.manufacturer AS c0, ds.model AS c1, avg(ds.endpoint_analytics_score) ' +
        'FILTER (WHERE ds.endpoint_analytics_score <> CAST(:odata_a_0_0 AS double precision)) ' +
        'AS c2, CAST(count(*) AS double precision) AS c3 FROM device_scores ds ' +
        'WHERE (ds.tenant_id = :tenantId) GROUP BY ds.manufacturer, ds.model',
    );
    expect(relation.params).toEqual({ tenantId: 't', odata_a_0_0: -1 });
    expect(
      collection.plan.orderBy.map((column) => [column.column, column.direction, column.nulls]),
    ).toEqual([
      ['c2', 'ASC', 'FIRST'],
      ['c0', 'ASC', 'FIRST'],
      ['c1', 'ASC', 'FIRST'],
    ]);
    expect(collection.plan.pageSize).toBe(10);
    expect(collection.plan.contextSelect).toEqual([
      'manufacturer',
      'model',
      'averageScore',
      'deviceCount',
    ]);
  });

  it('keeps request values out of the SQL text', () => {
    const collection = plan(
      "$apply=filter(deviceName%20eq%20'x'';%20DROP%20TABLE%20t;--')/aggregate($count%20as%20n)" +
        '&$filter=n%20gt%205',
    );
    if (collection.kind !== 'aggregate') {
      throw new Error('expected an aggregate plan');
    }
    const relation = collection.plan.relation({ from: 'device_scores ds', alias: 'ds' });

    expect(relation.sql).not.toContain('DROP');
    expect(Object.values(relation.params)).toContain("x'; DROP TABLE t;--");
    expect(collection.plan.filter?.params).toEqual({ odata_f_0: 5 });
  });

  it('returns an entity plan for filters only', () => {
    const collection = plan("$apply=filter(model%20eq%20'a')/identity&$filter=model%20ne%20null");

    expect(collection.kind).toBe('entities');
    if (collection.kind === 'entities') {
      expect(collection.plan.filter?.sql).toBe(
        '((ds.model = CAST(:odata_a0_0 AS text)) AND (ds.model IS NOT NULL))',
      );
      expect(collection.plan.filter?.params).toEqual({ odata_a0_0: 'a' });
    }
  });

  it('gives a plan or a 400 for random $apply text', () => {
    const words = fc.constantFrom(
      'groupby',
      'aggregate',
      'filter',
      'identity',
      '(',
      ')',
      ',',
      '/',
      ' ',
      '$count',
      'as',
      'with',
      'sum',
      'average',
      'countdistinct',
      'model',
      'manufacturer',
      'endpointAnalyticsScore',
      'healthStatus',
      'eq',
      "'a'",
      "'",
      '1',
      'null',
      'n',
    );
    const soup = fc.array(words, { maxLength: 40 }).map((parts) => parts.join(''));

    fc.assert(
      fc.property(soup, (text) => {
        planOrBadRequest(`$apply=${encodeURIComponent(text)}`);
        planOrBadRequest(`$apply=${encodeURIComponent(text)}&$filter=n%20gt%201&$orderby=n`);
      }),
      { seed: 20260215, numRuns: 3000 },
    );
  });
});
