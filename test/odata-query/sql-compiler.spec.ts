import { bindFilter } from '../../src/odata/query/binder.js';
import { parseFilter } from '../../src/odata/query/parser.js';
import { parseSearch } from '../../src/odata/query/search-parser.js';
import {
  compileFilter,
  compileOrderBy,
  compileSearch,
  escapeLikePattern,
} from '../../src/odata/query/sql-compiler.js';
import type { SqlFragment, SqlTarget } from '../../src/odata/query/sql-fragment.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

const TARGET: SqlTarget = { alias: 'ds', paramPrefix: 'f' };

function compile(text: string, target: SqlTarget = TARGET): SqlFragment {
  return compileFilter(bindFilter(parseFilter(text), DEVICE_SCORES, 'beta', text), target);
}

describe('compileFilter', () => {
  it.each([
    ["deviceName eq 'x'", '(ds.device_name = CAST(:f_0 AS text))', { f_0: 'x' }],
    ["deviceName ne 'x'", '(ds.device_name IS DISTINCT FROM CAST(:f_0 AS text))', { f_0: 'x' }],
    ['deviceName eq model', '(ds.device_name IS NOT DISTINCT FROM ds.model)', {}],
    ['deviceName ne model', '(ds.device_name IS DISTINCT FROM ds.model)', {}],
    [
      'endpointAnalyticsScore ne 1',
      '(ds.endpoint_analytics_score <> CAST(:f_0 AS double precision))',
      { f_0: 1 },
    ],
    ["deviceName gt 'x'", '(ds.device_name > CAST(:f_0 AS text))', { f_0: 'x' }],
    ['deviceName eq null', '(ds.device_name IS NULL)', {}],
    ['null ne deviceName', '(ds.device_name IS NOT NULL)', {}],
    [
      "not (deviceName eq 'x')",
      '(NOT COALESCE((ds.device_name = CAST(:f_0 AS text)), FALSE))',
      { f_0: 'x' },
    ],
    [
      'not (endpointAnalyticsScore gt 5)',
      '(NOT (ds.endpoint_analytics_score > CAST(:f_0 AS double precision)))',
      { f_0: 5 },
    ],
    [
      "(deviceName eq 'x') eq false",
      '(COALESCE((ds.device_name = CAST(:f_0 AS text)), FALSE) = FALSE)',
      { f_0: 'x' },
    ],
    ["healthStatus eq 'meetingGoals'", '(ds.health_status = CAST(:f_0 AS smallint))', { f_0: 3 }],
    [
      'id eq 00000000-0000-4000-8000-00000000000A',
      '(ds.id = CAST(:f_0 AS uuid))',
      { f_0: '00000000-0000-4000-8000-00000000000a' },
    ],
    ["id eq 'zzz'", 'FALSE', {}],
    ['true', 'TRUE', {}],
    [
      'endpointAnalyticsScore eq NaN',
      '(ds.endpoint_analytics_score = CAST(:f_0 AS double precision))',
      { f_0: NaN },
    ],
    ["deviceName in ('a')", '(ds.device_name = CAST(:f_0 AS text))', { f_0: 'a' }],
    [
      "deviceName in ('a', 'b', null)",
      '((ds.device_name = ANY(CAST(:f_0 AS text[]))) OR (ds.device_name IS NULL))',
      { f_0: ['a', 'b'] },
    ],
    [
      "healthStatus in ('unknown', 'meetingGoals')",
      '(ds.health_status = ANY(CAST(:f_0 AS smallint[])))',
      { f_0: [0, 3] },
    ],
    [
      "deviceName in (model, 'a')",
      '((ds.device_name = CAST(:f_0 AS text)) OR (ds.device_name IS NOT DISTINCT FROM ds.model))',
      { f_0: 'a' },
    ],
    [
      'endpointAnalyticsScore div 0 gt 1',
      '((ds.endpoint_analytics_score / NULLIF(CAST(:f_0 AS double precision), 0)) > CAST(:f_1 AS double precision))',
      { f_0: 0, f_1: 1 },
    ],
    [
      'endpointAnalyticsScore mod 3 eq 1',
      '(CAST(mod(CAST(CAST(ds.endpoint_analytics_score AS text) AS numeric), NULLIF(CAST(CAST(CAST(:f_0 AS double precision) AS text) AS numeric), 0)) AS double precision) = CAST(:f_1 AS double precision))',
      { f_0: 3, f_1: 1 },
    ],
    [
      '-endpointAnalyticsScore lt 0',
      '((- ds.endpoint_analytics_score) < CAST(:f_0 AS double precision))',
      { f_0: 0 },
    ],
    [
      "contains(deviceName, '%_\\')",
      '(strpos(ds.device_name, CAST(:f_0 AS text)) > 0)',
      { f_0: '%_\\' },
    ],
    [
      "startswith(deviceName, 'P')",
      'starts_with(ds.device_name, CAST(:f_0 AS text))',
      { f_0: 'P' },
    ],
    [
      "endswith(deviceName, 'A')",
      'starts_with(reverse(ds.device_name), reverse(CAST(:f_0 AS text)))',
      { f_0: 'A' },
    ],
    [
      'indexof(deviceName, model) eq -1',
      '(CAST(strpos(ds.device_name, ds.model) - 1 AS double precision) = CAST(:f_0 AS double precision))',
      { f_0: -1 },
    ],
    [
      'substring(deviceName, 1) eq model',
      '(substr(ds.device_name, CAST(LEAST(GREATEST(trunc(CAST(:f_0 AS double precision)), 0), 2147483646) AS integer) + 1) IS NOT DISTINCT FROM ds.model)',
      { f_0: 1 },
    ],
  ])('compiles %j', (text, sql, params) => {
    expect(compile(text)).toEqual({ sql, params });
  });

  it('flattens long or chains instead of nesting them', () => {
    const text = Array.from(
      { length: 200 },
      (_, index) => `endpointAnalyticsScore eq ${index}`,
    ).join(' or ');
    const { sql, params } = compile(text);

    expect(
      sql.startsWith('((ds.endpoint_analytics_score = CAST(:f_0 AS double precision)) OR '),
    ).toBe(true);
    expect(sql.split(' OR ')).toHaveLength(200);
    expect(Object.keys(params)).toHaveLength(200);
  });

  it('writes unqualified columns without an alias', () => {
    expect(compile("deviceName eq 'x'", { paramPrefix: 'p' })).toEqual({
      sql: '(device_name = CAST(:p_0 AS text))',
      params: { p_0: 'x' },
    });
  });

  it('never copies request text into SQL', () => {
    const hostile = [
      "deviceName eq 'x'' or ''1''=''1'",
      "deviceName eq 'a'';DROP TABLE device_scores;--'",
      "contains(deviceName, ':f_0 $1 \\\\ %')",
      "deviceName in ('\"x\"', ')) OR TRUE --')",
    ];
    for (const text of hostile) {
      const { sql, params } = compile(text);

      expect(sql).not.toMatch(/'|;|--|DROP|\$/);
      expect(Object.values(params).length).toBeGreaterThan(0);
    }
  });

  it('rejects an unsafe alias or parameter prefix', () => {
    expect(() => compile("deviceName eq 'x'", { alias: 'ds; DROP', paramPrefix: 'f' })).toThrow(
      'must be a lower-case SQL identifier',
    );
    expect(() => compile("deviceName eq 'x'", { alias: 'ds', paramPrefix: 'f-1' })).toThrow(
      'must be a plain identifier',
    );
  });
});

describe('compileSearch', () => {
  const search = (text: string) =>
    compileSearch(parseSearch(text), DEVICE_SCORES, 'beta', { alias: 'ds', paramPrefix: 's' });
  const match = (param: string) =>
    `(ds.device_name ILIKE :${param} ESCAPE '\\' OR ds.model ILIKE :${param} ESCAPE '\\' OR ` +
    `ds.manufacturer ILIKE :${param} ESCAPE '\\')`;

  it('matches a term as a substring of any searchable property', () => {
    const { sql, params } = search('pc-a');

    expect(sql).toBe(match('s_0').replaceAll(':s_0', 'CAST(:s_0 AS text)'));
    expect(params).toEqual({ s_0: '%pc-a%' });
  });

  it('escapes LIKE wildcards in terms', () => {
    expect(search('"50%_off\\\\"').params).toEqual({ s_0: '%50\\%\\_off\\\\%' });
    expect(escapeLikePattern('a%b_c\\d')).toBe('a\\%b\\_c\\\\d');
  });

  it('compiles NOT so rows with null properties can match', () => {
    const { sql } = search('a NOT b');

    expect(sql).toMatch(/^\(\(.*\) AND \(NOT COALESCE\(\(.*\), FALSE\)\)\)$/);
  });

  it('rejects $search on a model without searchable properties', () => {
    const model = {
      ...DEVICE_SCORES,
      properties: DEVICE_SCORES.properties.map((p) => ({ ...p, searchable: false })),
    };

    expect(
      badRequestMessage(() => compileSearch(parseSearch('x'), model, 'beta', { paramPrefix: 's' })),
    ).toBe('$search is not supported on userExperienceAnalyticsDeviceScores.');
  });
});

describe('compileOrderBy', () => {
  it('adds the key ascending as the last tie-breaker', () => {
    const columns = compileOrderBy(
      [
        { property: 'deviceName', direction: 'DESC' },
        { property: 'endpointAnalyticsScore', direction: 'ASC' },
      ],
      DEVICE_SCORES,
    );

    expect(columns).toEqual([
      {
        property: 'deviceName',
        column: 'device_name',
        kind: 'string',
        nullable: true,
        direction: 'DESC',
        nulls: 'LAST',
      },
      {
        property: 'endpointAnalyticsScore',
        column: 'endpoint_analytics_score',
        kind: 'double',
        nullable: false,
        direction: 'ASC',
        nulls: 'LAST',
      },
      {
        property: 'id',
        column: 'id',
        kind: 'guid',
        nullable: false,
        direction: 'ASC',
        nulls: 'LAST',
      },
    ]);
  });

  it('does not repeat a key the request already sorts by', () => {
    const columns = compileOrderBy([{ property: 'id', direction: 'DESC' }], DEVICE_SCORES);

    expect(columns.map((column) => `${column.column} ${column.direction}`)).toEqual(['id DESC']);
  });

  it('sorts by the key alone without $orderby', () => {
    expect(compileOrderBy([], DEVICE_SCORES).map((column) => column.column)).toEqual(['id']);
  });
});
