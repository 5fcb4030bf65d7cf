import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { DataSource } from 'typeorm';

import {
  planCountQuery,
  planListQuery,
  type ListQueryOptions,
  type ListQueryPlan,
} from '../../src/odata/query/list-query.js';
import { badRequestMessage, DEVICE_SCORES } from './device-scores-fixture.js';

// Runs the compiled SQL on the local PostgreSQL through TypeORM's QueryBuilder, as the service
// does, against a scratch schema that the suite creates and drops.

const HOST = '127.0.0.1';
const DATABASE = 'test';
const SCHEMA = `odata_query_test_${randomBytes(6).toString('hex')}`;

const T1 = '11111111-1111-1111-1111-111111111111';
const T2 = '22222222-2222-2222-2222-222222222222';
/** Tenant of the rows that test null handling, string functions and paging walks. */
const T3 = '33333333-3333-3333-3333-333333333333';

const COLUMNS = [
  'id',
  'device_name',
  'model',
  'manufacturer',
  'endpoint_analytics_score',
  'startup_performance_score',
  'app_reliability_score',
  'work_from_anywhere_score',
  'battery_health_score',
  'mean_resource_spike_time_score',
  'health_status',
] as const;

type Row = Record<(typeof COLUMNS)[number], unknown>;

const HEALTH = { unknown: 0, insufficientData: 1, needsAttention: 2, meetingGoals: 3 } as const;

interface Seed {
  key: string;
  id: string;
  tenant: string;
  deviceName: string | null;
  model?: string | null;
  manufacturer?: string | null;
  endpointAnalyticsScore?: number;
  batteryHealthScore?: number;
  healthStatus?: keyof typeof HEALTH;
}

const guid = (suffix: string) => `00000000-0000-4000-8000-${suffix.padStart(12, '0')}`;

/** Rows A to E of tenant T1 and F of tenant T2, with the values the Graph acceptance cases use. */
const CASE_ROWS: Seed[] = [
  {
    key: 'A',
    id: guid('a'),
    tenant: T1,
    deviceName: 'PC-A',
    endpointAnalyticsScore: 87.5,
    batteryHealthScore: -1,
    healthStatus: 'meetingGoals',
  },
  {
    key: 'B',
    id: guid('b'),
    tenant: T1,
    deviceName: 'PC-B',
    endpointAnalyticsScore: 9.5,
    batteryHealthScore: 40,
    healthStatus: 'needsAttention',
  },
  {
    key: 'C',
    id: guid('c'),
    tenant: T1,
    deviceName: "Lab's-PC",
    endpointAnalyticsScore: 10,
    batteryHealthScore: 55,
    healthStatus: 'insufficientData',
  },
  {
    key: 'D',
    id: guid('d'),
    tenant: T1,
    deviceName: 'PC-D',
    endpointAnalyticsScore: -1,
    batteryHealthScore: -1,
    healthStatus: 'unknown',
  },
  {
    key: 'E',
    id: guid('e'),
    tenant: T1,
    deviceName: 'PC-E',
    endpointAnalyticsScore: 50,
    batteryHealthScore: 70,
    healthStatus: 'meetingGoals',
  },
  { key: 'F', id: guid('f'), tenant: T2, deviceName: 'PC-F', healthStatus: 'unknown' },
];

/** Rows of tenant T3: nulls, wildcard characters, duplicates of sort keys. */
const EDGE_ROWS: Seed[] = [
  {
    key: 'N1',
    id: guid('101'),
    tenant: T3,
    deviceName: null,
    model: null,
    endpointAnalyticsScore: 20,
  },
  {
    key: 'N2',
    id: guid('102'),
    tenant: T3,
    deviceName: null,
    model: 'M2',
    endpointAnalyticsScore: 30,
  },
  {
    key: 'X',
    id: guid('103'),
    tenant: T3,
    deviceName: 'x',
    model: 'x',
    endpointAnalyticsScore: 40,
  },
  {
    key: 'W',
    id: guid('104'),
    tenant: T3,
    deviceName: '50%_off\\now',
    model: 'M1',
    endpointAnalyticsScore: 50,
  },
  {
    key: 'P',
    id: guid('105'),
    tenant: T3,
    deviceName: '  Padded Name  ',
    model: 'M1',
    endpointAnalyticsScore: 60,
  },
  {
    key: 'U',
    id: guid('106'),
    tenant: T3,
    deviceName: 'Zürich-PC',
    model: null,
    endpointAnalyticsScore: 70,
  },
  {
    key: 'Q',
    id: guid('107'),
    tenant: T3,
    deviceName: "O'Brien",
    model: 'M3',
    manufacturer: null,
    endpointAnalyticsScore: 80,
  },
];

const SECRET = Buffer.from('integration-test-secret-0123456789');

const LIST_ACCEPTED = new Set([
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
  'skiptoken',
]);

let admin: pg.Client;
let dataSource: DataSource;
let databaseUser: string;

/** Connects as the first user that the local server accepts. */
async function connectAdmin(): Promise<pg.Client> {
  const failures: string[] = [];
  for (const user of ['postgres', 'root']) {
    const client = new pg.Client({ host: HOST, user, database: DATABASE });
    try {
      await client.connect();
      databaseUser = user;

      return client;
    } catch (error) {
      failures.push(`${user}: ${(error as Error).message}`);
      await client.end().catch(() => undefined);
    }
  }
  throw new Error(`Cannot connect to PostgreSQL at ${HOST}/${DATABASE}: ${failures.join('; ')}`);
}

/** Keys of every inserted row by id, so results read as the letters of the cases. */
const keysById = new Map<string, string>();

async function insert(rows: readonly Seed[]): Promise<void> {
  for (const row of rows) {
    keysById.set(row.id, row.key);
    await admin.query(
      `INSERT INTO ${SCHEMA}.device_scores
         (id, tenant_id, device_name, model, manufacturer, endpoint_analytics_score,
          startup_performance_score, app_reliability_score, work_from_anywhere_score,
          battery_health_score, mean_resource_spike_time_score, health_status)
       VALUES ($1, $2, $3, $4, $5, $6, 50, 50, 50, $7, 50, $8)`,
      [
        row.id,
        row.tenant,
        row.deviceName,
        row.model === undefined ? 'M1' : row.model,
        row.manufacturer === undefined ? 'Contoso' : row.manufacturer,
        row.endpointAnalyticsScore ?? 50,
        row.batteryHealthScore ?? 50,
        HEALTH[row.healthStatus ?? 'unknown'],
      ],
    );
  }
}

beforeAll(async () => {
  admin = await connectAdmin();
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.query(`
    CREATE TABLE ${SCHEMA}.device_scores (
      id uuid NOT NULL,
      tenant_id uuid NOT NULL,
      device_name text,
      model text,
      manufacturer text,
      endpoint_analytics_score double precision NOT NULL,
      startup_performance_score double precision NOT NULL,
      app_reliability_score double precision NOT NULL,
      work_from_anywhere_score double precision NOT NULL,
      battery_health_score double precision NOT NULL,
      mean_resource_spike_time_score double precision NOT NULL,
      health_status smallint NOT NULL,
      PRIMARY KEY (tenant_id, id)
    )`);
  await insert([...CASE_ROWS, ...EDGE_ROWS]);

  dataSource = new DataSource({
    type: 'postgres',
    host: HOST,
    username: databaseUser,
    database: DATABASE,
    extra: { options: `-c search_path=${SCHEMA}` },
  });
  await dataSource.initialize();
});

afterAll(async () => {
  // The schema goes first, so a failed start-up still leaves nothing behind.
  await admin?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin?.end();
  if (dataSource?.isInitialized) {
    await dataSource.destroy();
  }
});

function listOptions(overrides: Partial<ListQueryOptions> = {}): ListQueryOptions {
  return {
    surface: 'beta',
    maxPageSize: 1000,
    skiptokenSecret: SECRET,
    scope: `${overrides.scope ?? T1}|beta|userExperienceAnalyticsDeviceScores`,
    accepted: LIST_ACCEPTED,
    alias: 'ds',
    ...overrides,
  };
}

interface Page {
  rows: Row[];
  next?: string;
  count?: number;
  plan: ListQueryPlan;
}

/** Runs one page the way the service does: tenant, filter, search, keyset, order, offset, limit. */
async function readPage(
  rawQuery: string,
  tenant = T1,
  overrides: Partial<ListQueryOptions> = {},
): Promise<Page> {
  const plan = planListQuery(rawQuery, DEVICE_SCORES, listOptions({ scope: tenant, ...overrides }));
  const base = () => {
    const query = dataSource
      .createQueryBuilder()
      .from('device_scores', 'ds')
      .where('ds.tenant_id = :tenantId', { tenantId: tenant });
    for (const fragment of [plan.filter, plan.search]) {
      if (fragment !== undefined) {
        query.andWhere(fragment.sql, fragment.params);
      }
    }

    return query;
  };

  let count: number | undefined;
  if (plan.count) {
    const result = await base().select('count(*)', 'count').getRawOne<{ count: string }>();
    count = Number(result?.count);
  }

  const query = base().select(COLUMNS.map((column) => `ds.${column} AS "${column}"`));
  if (plan.after !== undefined) {
    query.andWhere(plan.after.sql, plan.after.params);
  }
  for (const order of plan.orderBy) {
    query.addOrderBy(`ds.${order.column}`, order.direction, `NULLS ${order.nulls}`);
  }
  query.limit(plan.pageSize + 1).offset(plan.skip);
  const rows = plan.pageSize === 0 ? [] : await query.getRawMany<Row>();
  const page = rows.slice(0, plan.pageSize);
  const next = rows.length > plan.pageSize ? plan.nextLinkQuery(page[page.length - 1]) : undefined;

  return { rows: page, next, count, plan };
}

/** Follows next links from the first page to the last; `between` runs after each page. */
async function readAllPages(
  rawQuery: string,
  tenant = T1,
  between?: (pageNumber: number) => Promise<void>,
  overrides: Partial<ListQueryOptions> = {},
): Promise<Row[][]> {
  const pages: Row[][] = [];
  let query: string | undefined = rawQuery;
  while (query !== undefined) {
    const page = await readPage(query, tenant, overrides);
    pages.push(page.rows);
    query = page.next;
    if (pages.length > 100) {
      throw new Error('Paging did not end after 100 pages.');
    }
    await between?.(pages.length);
  }

  return pages;
}

const keyOf = (row: Row) => keysById.get(String(row.id)) ?? String(row.id);
const keys = async (rawQuery: string, tenant = T1) =>
  (await readPage(rawQuery, tenant)).rows.map(keyOf);
const sortedKeys = async (rawQuery: string, tenant = T1) => (await keys(rawQuery, tenant)).sort();

/** Percent-encodes an option value: `%` as %25, space as %20, `+` as %2B and `&` as %26. */
function encodeValue(value: string): string {
  return value.replace(/%/g, '%25').replace(/ /g, '%20').replace(/\+/g, '%2B').replace(/&/g, '%26');
}
const filter = (expression: string) => `$filter=${encodeValue(expression)}`;

describe('list queries on PostgreSQL', () => {
  it('pages sorted by deviceName in 2, 2 and 1', async () => {
    const pages = await readAllPages('$orderby=deviceName&$top=2');

    expect(pages.map((page) => page.map(keyOf))).toEqual([['C', 'A'], ['B', 'D'], ['E']]);
  });

  it('filtered pages keep the filter', async () => {
    const first = await readPage(`${filter("healthStatus eq 'meetingGoals'")}&$top=1`);

    expect(first.rows.map(keyOf)).toEqual(['A']);
    expect(first.next).toContain("$filter=healthStatus%20eq%20'meetingGoals'");

    const pages = await readAllPages(`${filter("healthStatus eq 'meetingGoals'")}&$top=1`);

    expect(pages.map((page) => page.map(keyOf))).toEqual([['A'], ['E']]);
  });

  it('desc works with %20 and with +', async () => {
    for (const rawQuery of [
      '$orderby=endpointAnalyticsScore%20desc',
      '$orderby=endpointAnalyticsScore+desc',
    ]) {
      const { rows } = await readPage(rawQuery);

      expect(rows.map((row) => row.endpoint_analytics_score)).toEqual([87.5, 50, 10, 9.5, -1]);
    }
  });

  it('unknown sort direction is a 400', () => {
    expect(
      badRequestMessage(() =>
        planListQuery('$orderby=endpointAnalyticsScore%20sideways', DEVICE_SCORES, listOptions()),
      ),
    ).toContain('expected asc or desc');
  });

  it('healthStatus filters by member name', async () => {
    expect(await keys(filter("healthStatus eq 'needsAttention'"))).toEqual(['B']);
    expect(await keys(filter("healthStatus eq 'unknown'"))).toEqual(['D']);
    expect(
      await keys(
        filter(`healthStatus eq microsoft.graph.userExperienceAnalyticsHealthState'unknown'`),
      ),
    ).toEqual(['D']);
  });

  it('healthStatus number or unknown member is a 400', () => {
    for (const expression of ['healthStatus eq 2', "healthStatus eq 'notAState'"]) {
      expect(
        badRequestMessage(() => planListQuery(filter(expression), DEVICE_SCORES, listOptions())),
      ).toMatch(/^Invalid \$filter at position 16: /);
    }
  });

  it('score -1 filters like any number', async () => {
    const created: Seed = {
      key: 'NEW',
      id: guid('99'),
      tenant: T1,
      deviceName: 'PC-NEW',
      endpointAnalyticsScore: -1,
      batteryHealthScore: -1,
      healthStatus: 'insufficientData',
    };
    await insert([created]);
    try {
      expect(await sortedKeys(filter('batteryHealthScore eq -1'))).toEqual(['A', 'D', 'NEW']);
      expect(await sortedKeys(filter('endpointAnalyticsScore lt 0'))).toEqual(['D', 'NEW']);
    } finally {
      await admin.query(`DELETE FROM ${SCHEMA}.device_scores WHERE id = $1`, [created.id]);
    }
  });

  it('scores are numbers and sort numerically', async () => {
    const { rows, plan } = await readPage(
      '$orderby=endpointAnalyticsScore&$select=deviceName,endpointAnalyticsScore',
    );

    expect(rows.map((row) => row.endpoint_analytics_score)).toEqual([-1, 9.5, 10, 50, 87.5]);
    expect(plan.select).toEqual(['deviceName', 'endpointAnalyticsScore']);
    expect(await keys(filter('endpointAnalyticsScore gt 9.6'))).toEqual(['A', 'C', 'E']);
  });

  it('$orderby text never reaches SQL', async () => {
    for (const orderBy of [
      'CASE WHEN (SELECT 1)=1 THEN deviceName ELSE model END',
      '(SELECT pg_sleep(5))',
      'deviceName DESC; DELETE FROM device_scores',
    ]) {
      expect(
        badRequestMessage(() =>
          planListQuery(`$orderby=${encodeValue(orderBy)}`, DEVICE_SCORES, listOptions()),
        ),
      ).toMatch(/^Invalid \$orderby at position \d+: /);
    }

    expect(await keys('$orderby=deviceName%20asc,model%20desc')).toEqual(['C', 'A', 'B', 'D', 'E']);
    const remaining = await admin.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.device_scores`);
    expect(remaining.rows[0].n).toBe(CASE_ROWS.length + EDGE_ROWS.length);
  });

  it("id eq 'zzz' matches nothing", async () => {
    expect(await keys(filter("id eq 'zzz'"))).toEqual([]);
    expect(await sortedKeys(filter("id ne 'zzz'"))).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(await keys(filter("id eq '00000000-0000-4000-8000-00000000000A'"))).toEqual(['A']);
    expect(await keys(filter('id eq 00000000-0000-4000-8000-00000000000E'))).toEqual(['E']);
  });

  it('quotes and injection attempts stay literals', async () => {
    expect(await keys(filter("deviceName eq 'Lab''s-PC'"))).toEqual(['C']);
    expect(await sortedKeys(filter("deviceName in ('Lab''s-PC','PC-A')"))).toEqual(['A', 'C']);
    expect(
      badRequestMessage(() =>
        planListQuery(filter("deviceName eq 'Lab's-PC'"), DEVICE_SCORES, listOptions()),
      ),
    ).toContain('position 19');
    expect(await keys(filter("deviceName eq 'x'' or ''1''=''1'"))).toEqual([]);
  });

  it('raw & inside a literal is a 400', () => {
    expect(() =>
      planListQuery("$filter=deviceName eq 'a&b'", DEVICE_SCORES, listOptions()),
    ).toThrow(expect.objectContaining({ status: 400 }));
  });

  it('numbers with exponents', async () => {
    expect(await keys(filter('endpointAnalyticsScore ge 5E1'))).toEqual(['A', 'E']);
    expect(await keys('$filter=endpointAnalyticsScore%20ge%205.0e%2B1')).toEqual(['A', 'E']);
    expect(await keys(filter('endpointAnalyticsScore gt -1E0'))).toEqual(['A', 'B', 'C', 'E']);
    expect(
      badRequestMessage(() =>
        planListQuery(filter('endpointAnalyticsScore ge 5E'), DEVICE_SCORES, listOptions()),
      ),
    ).toContain("expected digits in the exponent of '5E'");
  });

  it('unencoded + in an exponent gets a hint', () => {
    const message = badRequestMessage(() =>
      planListQuery('$filter=endpointAnalyticsScore+ge+5.0e+1', DEVICE_SCORES, listOptions()),
    );

    expect(message).toContain('position 30');
    expect(message).toContain('must be sent as %2B');
  });

  it('unknown names and broken expressions are a 400', () => {
    for (const rawQuery of [
      filter("colour eq 'red'"),
      '$orderby=colour',
      filter('deviceName eq'),
      '$select=deviceName,colour',
    ]) {
      expect(() => planListQuery(rawQuery, DEVICE_SCORES, listOptions())).toThrow(
        expect.objectContaining({ status: 400 }),
      );
    }
  });

  it('$select names come back canonical', async () => {
    const { plan, rows } = await readPage('$select=DeviceName,EndpointAnalyticsScore');

    expect(plan.select).toEqual(['deviceName', 'endpointAnalyticsScore']);
    expect(rows).toHaveLength(5);
  });

  it('$top and $skip bounds', async () => {
    for (const rawQuery of ['$top=', '$top=-1', '$skip=-1', '$top=9007199254740993']) {
      expect(() => planListQuery(rawQuery, DEVICE_SCORES, listOptions())).toThrow(
        expect.objectContaining({ status: 400 }),
      );
    }

    const capped = await readPage('$top=1000000', T1, { maxPageSize: 2 });
    expect(capped.rows).toHaveLength(2);
    expect(capped.next).toContain('$top=1000000');
    expect(capped.plan.pageSize).toBe(2);

    expect((await readPage('$skip=100000')).rows).toEqual([]);
  });

  it('$TOP=1 returns one item', async () => {
    expect((await readPage('$TOP=1')).rows).toHaveLength(1);
  });

  it('$top=0 returns only the count', async () => {
    const page = await readPage('$top=0&$count=true');

    expect(page.rows).toEqual([]);
    expect(page.count).toBe(5);
    expect(page.next).toBeUndefined();
  });

  it('$count counts before paging', async () => {
    const page = await readPage(
      `${filter('endpointAnalyticsScore ge 0')}&$search=PC&$top=1&$skip=1&$count=true`,
    );

    expect(page.count).toBe(4);
    expect(page.rows).toHaveLength(1);
  });

  it('$skip applies to the first page only', async () => {
    const pages = await readAllPages('$orderby=deviceName&$top=2&$skip=1');

    expect(pages.map((page) => page.map(keyOf))).toEqual([
      ['A', 'B'],
      ['D', 'E'],
    ]);
  });

  it('tenants see only their own rows', async () => {
    expect(await keys('', T2)).toEqual(['F']);
  });
});

describe('filter semantics on PostgreSQL', () => {
  const t3 = (expression: string) => sortedKeys(filter(expression), T3);

  it.each([
    ["deviceName eq 'x'", ['X']],
    ["not (deviceName eq 'x')", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ["deviceName ne 'x'", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ['deviceName eq null', ['N1', 'N2']],
    ['deviceName ne null', ['P', 'Q', 'U', 'W', 'X']],
    ["not (deviceName ne 'x')", ['X']],
    ['deviceName eq model', ['N1', 'X']],
    ['deviceName ne model', ['N2', 'P', 'Q', 'U', 'W']],
    ["deviceName gt 'a'", ['X']],
    ["not (deviceName gt 'a')", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ['deviceName gt null', []],
    ['not (deviceName gt null)', ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X']],
    ["deviceName in ('x', null)", ['N1', 'N2', 'X']],
    ["not (deviceName in ('x', 'zzz'))", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ["(deviceName eq 'x') eq false", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ["not (deviceName eq 'x' or model eq 'M1')", ['N1', 'N2', 'Q', 'U']],
    ["not (deviceName eq 'x' and model eq 'x')", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ["contains(deviceName, '%')", ['W']],
    ["contains(deviceName, '_')", ['W']],
    ["contains(deviceName, '\\')", ['W']],
    ["contains(deviceName, '%_off\\n')", ['W']],
    ["contains(deviceName, 'x%')", []],
    ["startswith(deviceName, '50%')", ['W']],
    ["startswith(deviceName, '_')", []],
    ["endswith(deviceName, '\\now')", ['W']],
    ["endswith(deviceName, '_')", []],
    ["not contains(deviceName, 'x')", ['N1', 'N2', 'P', 'Q', 'U', 'W']],
    ["contains(deviceName, 'X')", []],
    ["tolower(deviceName) eq 'zürich-pc'", ['U']],
    ["toupper(deviceName) eq 'ZÜRICH-PC'", ['U']],
    ["trim(deviceName) eq 'Padded Name'", ['P']],
    ['length(deviceName) eq 9', ['U']],
    ["indexof(deviceName, 'ü') eq 1", ['U']],
    ["indexof(deviceName, 'nothere') eq -1", ['P', 'Q', 'U', 'W', 'X']],
    ["substring(deviceName, 1) eq 'ürich-PC'", ['U']],
    ["substring(deviceName, 1, 3) eq 'ürb'", []],
    ["substring(deviceName, 0, 3) eq 'Zür'", ['U']],
    ["substring(deviceName, -5, 1) eq 'Z'", ['U']],
    ["substring(deviceName, 1, -1) eq ''", ['P', 'Q', 'U', 'W', 'X']],
    ["substring(deviceName, 2147483647, 2147483647) eq ''", ['P', 'Q', 'U', 'W', 'X']],
    ["substring(deviceName, 1e300, 1e300) eq ''", ['P', 'Q', 'U', 'W', 'X']],
    [
      'substring(deviceName, -endpointAnalyticsScore) eq deviceName',
      ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X'],
    ],
    ["substring(deviceName, endpointAnalyticsScore div 0) eq ''", []],
    ["concat(deviceName, model) eq 'xx'", ['X']],
    ['concat(deviceName, null) eq null', ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X']],
    ["deviceName eq 'O''Brien'", ['Q']],
    ['manufacturer eq null', ['Q']],
    ['endpointAnalyticsScore div 0 eq 1', []],
    ['not (endpointAnalyticsScore div 0 eq 1)', ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X']],
    ['endpointAnalyticsScore mod 0 eq 0', []],
    ['endpointAnalyticsScore mod 30 eq 20', ['N1', 'Q', 'W']],
    ['-endpointAnalyticsScore mod 30 eq -20', ['N1', 'Q', 'W']],
    ['endpointAnalyticsScore mod 7.5 eq 5', ['N1', 'Q', 'W']],
    [
      'endpointAnalyticsScore add 10 eq 30 or endpointAnalyticsScore sub 10 eq 60 or endpointAnalyticsScore mul 2 eq 160',
      ['N1', 'Q', 'U'],
    ],
    ['endpointAnalyticsScore div 8 eq 10', ['Q']],
    [
      'endpointAnalyticsScore lt INF and endpointAnalyticsScore gt -INF',
      ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X'],
    ],
    ['endpointAnalyticsScore eq NaN', []],
    [
      'endpointAnalyticsScore mod INF eq endpointAnalyticsScore',
      ['N1', 'N2', 'P', 'Q', 'U', 'W', 'X'],
    ],
  ])('%s', async (expression, expected) => {
    expect(await t3(expression)).toEqual(expected);
  });

  it('runs an in list of 900 values', async () => {
    const values = Array.from({ length: 899 }, (_, index) => `'PC-${index}'`).concat("'x'");

    expect(await t3(`deviceName in (${values.join(',')})`)).toEqual(['X']);
  });

  it('runs a 1000-node arithmetic chain', async () => {
    const chain = Array.from({ length: 498 }, () => '0').join(' add ');

    expect(await t3(`endpointAnalyticsScore add ${chain} eq 40`)).toEqual(['X']);
  });

  it('runs 50 levels of nesting', async () => {
    const expression = `${'not ('.repeat(25)}deviceName eq 'x'${')'.repeat(25)}`;

    expect(await t3(expression)).toEqual(['N1', 'N2', 'P', 'Q', 'U', 'W']);
  });

  // Double precision overflow raises SQLSTATE 22003, which the service must report as a 400.
  it('reports arithmetic overflow as a class 22 error', async () => {
    await expect(
      readPage(filter('endpointAnalyticsScore mul 1e308 gt 0'), T3),
    ).rejects.toMatchObject({
      driverError: expect.objectContaining({ code: '22003' }),
    });
  });
});

describe('search on PostgreSQL', () => {
  const search = (text: string) => sortedKeys(`$search=${encodeValue(text)}`, T3);

  it.each([
    ['padded', ['P']],
    ['ZÜRICH', ['U']],
    ['%', ['W']],
    ['_', ['W']],
    ['\\', ['W']],
    ['"50%_off\\\\now"', ['W']],
    ['M1 contoso', ['P', 'W']],
    ['M2 OR M3', ['N2', 'Q']],
    ['NOT contoso', ['Q']],
    ['NOT M1', ['N1', 'N2', 'Q', 'U', 'X']],
    ['NOT (M1 OR M2) brien', ['Q']],
    ['nothing-matches', []],
  ])('%s', async (text, expected) => {
    expect(await search(text)).toEqual(expected);
  });

  it('counts with a $count plan', async () => {
    const plan = planCountQuery(
      '$search=m1&$filter=endpointAnalyticsScore%20gt%2050',
      DEVICE_SCORES,
      {
        surface: 'beta',
        accepted: new Set(['filter', 'search']),
        alias: 'ds',
      },
    );
    const query = dataSource
      .createQueryBuilder()
      .select('count(*)::int', 'count')
      .from('device_scores', 'ds')
      .where('ds.tenant_id = :tenantId', { tenantId: T3 })
      .andWhere(plan.filter!.sql, plan.filter!.params)
      .andWhere(plan.search!.sql, plan.search!.params);

    expect((await query.getRawOne<{ count: number }>())?.count).toBe(1);
  });
});

describe('keyset paging on PostgreSQL', () => {
  const WALK_TENANT = '44444444-4444-4444-4444-444444444444';
  const names = [null, 'alpha', 'beta', 'beta', null, 'gamma', 'alpha', 'delta', null, 'beta'];
  const models = [null, 'M1', 'M2', null];
  const walkRows: Seed[] = Array.from({ length: 30 }, (_, index) => ({
    key: `R${index}`,
    id: guid(`4${String(index).padStart(3, '0')}`),
    tenant: WALK_TENANT,
    deviceName: names[index % names.length],
    model: models[index % models.length],
    endpointAnalyticsScore: [10, 20, 20, -1, 87.5][index % 5],
    healthStatus: (['unknown', 'meetingGoals', 'needsAttention'] as const)[index % 3],
  }));

  beforeAll(async () => {
    await insert(walkRows);
  });

  afterEach(async () => {
    await admin.query(
      `DELETE FROM ${SCHEMA}.device_scores WHERE tenant_id = $1 AND NOT (id = ANY($2::uuid[]))`,
      [WALK_TENANT, walkRows.map((row) => row.id)],
    );
  });

  /** Returns the ids in the order of one unpaged query with the same ORDER BY. */
  async function referenceOrder(rawQuery: string): Promise<string[]> {
    const { rows } = await readPage(rawQuery, WALK_TENANT);

    return rows.map((row) => String(row.id));
  }

  const orderings = [
    '',
    '$orderby=deviceName',
    '$orderby=deviceName desc',
    '$orderby=deviceName desc,endpointAnalyticsScore',
    '$orderby=model asc,deviceName desc',
    '$orderby=healthStatus desc,deviceName asc,model desc',
    '$orderby=endpointAnalyticsScore',
    '$orderby=endpointAnalyticsScore desc,healthStatus desc',
    '$orderby=id desc',
    '$orderby=deviceName,id desc',
  ].map((orderBy) => orderBy.replace(/ /g, '%20'));

  it.each(orderings)('walks %j in pages of 4 in the unpaged order', async (orderBy) => {
    const expected = await referenceOrder(orderBy);
    const pages = await readAllPages(`${orderBy}&$top=4`, WALK_TENANT);
    const walked = pages.flat().map((row) => String(row.id));

    expect(expected).toHaveLength(walkRows.length);
    expect(walked).toEqual(expected);
    expect(pages.slice(0, -1).every((page) => page.length === 4)).toBe(true);
  });

  it.each(orderings)('walks %j exactly once while rows are inserted', async (orderBy) => {
    let inserted = 0;
    const insertBetween = async () => {
      // Rows that sort before and after any cursor, with nulls and duplicate keys.
      const extra: Seed[] = [0, 1, 2].map((offset) => {
        const index = inserted * 3 + offset;

        return {
          key: `I${index}`,
          id: guid(`9${String(index).padStart(3, '0')}`),
          tenant: WALK_TENANT,
          deviceName: [null, 'aaa', 'zzz'][offset],
          model: [null, 'M0', 'M9'][offset],
          endpointAnalyticsScore: [-1, 0, 100][offset],
          healthStatus: (['unknown', 'meetingGoals', 'insufficientData'] as const)[offset],
        };
      });
      inserted += 1;
      await insert(extra);
    };

    const pages = await readAllPages(`${orderBy}&$top=4`, WALK_TENANT, insertBetween);
    const walked = pages.flat().map((row) => String(row.id));
    const original = walkRows.map((row) => row.id);

    expect(new Set(walked).size).toBe(walked.length);
    for (const id of original) {
      expect(walked.filter((candidate) => candidate === id)).toHaveLength(1);
    }
  });

  it('walks a filtered, searched and skipped query', async () => {
    const rawQuery = `${filter("deviceName ne 'gamma'")}&$search=M&$orderby=deviceName%20desc,model&$top=3&$skip=2&$count=true`;
    const expected = (await readPage(rawQuery.replace('&$top=3', ''), WALK_TENANT)).rows.map(
      (row) => row.id,
    );
    const pages = await readAllPages(rawQuery, WALK_TENANT);

    expect(pages.flat().map((row) => row.id)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(6);
  });

  it('rejects a next link used by another tenant', async () => {
    const { next } = await readPage('$top=2', WALK_TENANT);

    expect(next).toBeDefined();
    expect(
      badRequestMessage(() => planListQuery(next!, DEVICE_SCORES, listOptions({ scope: T1 }))),
    ).toMatch(/^Invalid \$skiptoken/);
  });
});
