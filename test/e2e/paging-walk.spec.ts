import { randomUUID } from 'node:crypto';

import { createRandom } from '../../src/tools/seed-data.js';
import {
  COLLECTION,
  READ,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// Walks @odata.nextLink over 2,500 rows with non-unique sort keys while rows are inserted
// between pages, and checks that every row is returned exactly once and in order. Then checks
// that a changed, foreign or reused skiptoken is a 400.

const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();
const ORIGINAL_COUNT = 2500;
const PAGE_SIZE = 100;
const INSERTED_PER_PAGE = 100;
const HEALTH_MEMBERS = ['unknown', 'insufficientData', 'needsAttention', 'meetingGoals'];
/** Scores with many ties, so most ORDER BY positions are decided by the id tie-breaker. */
const SCORES = [-1, 0, 12.5, 50, 50.5, 87.5, 99];

interface SeedRow {
  id: string;
  deviceName: string | null;
  endpointAnalyticsScore: number;
  healthStatus: number;
}

/** The properties a walk reads back from the wire. */
interface WireRow {
  id: string;
  deviceName: string | null;
  endpointAnalyticsScore: number;
  healthStatus: string;
}

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)];
}

function seededGuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');

  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/**
 * Device names are lower-case letters and digits of one width, so every collation sorts them
 * the same way, and about one in six is null.
 */
function randomRow(random: () => number): SeedRow {
  return {
    id: seededGuid(random),
    deviceName:
      random() < 0.16 ? null : `dev${String(Math.floor(random() * 400)).padStart(4, '0')}`,
    endpointAnalyticsScore: pick(random, SCORES),
    healthStatus: Math.floor(random() * 4),
  };
}

/** Inserts rows with one statement, as the table owner. */
async function insertRows(tenantId: string, rows: readonly SeedRow[]): Promise<void> {
  await queryDatabase(
    `INSERT INTO device_scores (tenant_id, id, device_name, endpoint_analytics_score, health_status)
     SELECT $1::uuid, * FROM unnest($2::uuid[], $3::text[], $4::float8[], $5::int2[])`,
    [
      tenantId,
      rows.map((row) => row.id),
      rows.map((row) => row.deviceName),
      rows.map((row) => row.endpointAnalyticsScore),
      rows.map((row) => row.healthStatus),
    ],
  );
}

type SortKey = (string | number | null)[];

/** Compares sort keys the way the service orders them, with nulls first ascending. */
function compareKeys(
  left: SortKey,
  right: SortKey,
  directions: readonly ('asc' | 'desc')[],
): number {
  for (let index = 0; index < left.length; index += 1) {
    const a = left[index];
    const b = right[index];
    let difference = 0;
    if (a === null && b === null) {
      difference = 0;
    } else if (a === null) {
      difference = -1;
    } else if (b === null) {
      difference = 1;
    } else if (a < b) {
      difference = -1;
    } else if (a > b) {
      difference = 1;
    }
    if (difference !== 0) {
      return directions[index] === 'asc' ? difference : -difference;
    }
  }

  return 0;
}

interface Ordering {
  orderBy: string;
  directions: ('asc' | 'desc')[];
  keyOf: (row: SeedRow) => SortKey;
}

const BY_HEALTH_THEN_SCORE: Ordering = {
  orderBy: 'healthStatus desc,endpointAnalyticsScore',
  directions: ['desc', 'asc', 'asc'],
  keyOf: (row) => [row.healthStatus, row.endpointAnalyticsScore, row.id],
};

const BY_NAME_THEN_SCORE: Ordering = {
  orderBy: 'deviceName,endpointAnalyticsScore desc',
  directions: ['asc', 'desc', 'asc'],
  keyOf: (row) => [row.deviceName, row.endpointAnalyticsScore, row.id],
};

function fromWire(row: WireRow): SeedRow {
  return {
    id: row.id,
    deviceName: row.deviceName,
    endpointAnalyticsScore: row.endpointAnalyticsScore,
    healthStatus: HEALTH_MEMBERS.indexOf(row.healthStatus),
  };
}

describe('next link walks', () => {
  let service: TestApp;
  let token: string;
  const random = createRandom(0x5eed);
  const originals: SeedRow[] = Array.from({ length: ORIGINAL_COUNT }, () => randomRow(random));

  /** GETs a path and query, or an absolute next link, and returns the parsed page. */
  async function getPage(target: string, bearer = token) {
    const url = target.startsWith('http') ? new URL(target) : undefined;
    if (url !== undefined) {
      expect(url.origin).toBe(service.origin);
      expect(url.pathname).toBe(COLLECTION);
    }
    const response = await service.request({
      method: 'GET',
      url: url === undefined ? target : url.pathname + url.search,
      token: bearer,
    });

    return response;
  }

  /**
   * Follows next links from `firstQuery` to the end and calls `between` after each page with
   * the last row read. Returns the rows and the `@odata.count` of each page.
   */
  async function walk(
    firstQuery: string,
    between?: (lastRow: SeedRow) => Promise<void>,
  ): Promise<{ rows: SeedRow[]; counts: unknown[]; pages: number }> {
    const rows: SeedRow[] = [];
    const counts: unknown[] = [];
    let next: string | undefined = `${COLLECTION}?${firstQuery}`;
    let pages = 0;
    while (next !== undefined) {
      const response = await getPage(next);
      expect(response.statusCode).toBe(200);

      const body = response.json();
      const page = (body.value as WireRow[]).map(fromWire);
      expect(page.length).toBeLessThanOrEqual(PAGE_SIZE);
      rows.push(...page);
      counts.push(body['@odata.count']);
      next = body['@odata.nextLink'];
      pages += 1;
      expect(pages).toBeLessThan(200);
      if (next !== undefined && between !== undefined) {
        await between(page[page.length - 1]);
      }
    }

    return { rows, counts, pages };
  }

  beforeAll(async () => {
    service = await startTestApp();
    token = await service.token(READ, TENANT);
    await clearTenants(TENANT, OTHER_TENANT);
    await insertRows(TENANT, originals);
  });

  afterAll(async () => {
    await clearTenants(TENANT, OTHER_TENANT);
    await service.close();
  });

  afterEach(async () => {
    // Each walk starts from the original rows only.
    await queryDatabase(
      'DELETE FROM device_scores WHERE tenant_id = $1 AND NOT (id = ANY($2::uuid[]))',
      [TENANT, originals.map((row) => row.id)],
    );
  });

  it.each([
    ['health desc, score', BY_HEALTH_THEN_SCORE],
    ['deviceName with nulls, score desc', BY_NAME_THEN_SCORE],
  ])('walks %s once each while rows are inserted', async (_name, ordering) => {
    const inserted: { row: SeedRow; afterCursor: boolean }[] = [];
    const insertBetween = async (lastRow: SeedRow) => {
      const cursor = ordering.keyOf(lastRow);
      const batch = Array.from({ length: INSERTED_PER_PAGE }, () => randomRow(random));
      for (const row of batch) {
        const position = compareKeys(ordering.keyOf(row), cursor, ordering.directions);
        inserted.push({ row, afterCursor: position > 0 });
      }
      await insertRows(TENANT, batch);
    };

    const { rows, pages } = await walk(
      `$orderby=${encodeURIComponent(ordering.orderBy)}&$top=${PAGE_SIZE}`,
      insertBetween,
    );
    const seen = rows.map((row) => row.id);
    const expected = new Set([
      ...originals.map((row) => row.id),
      ...inserted.filter((entry) => entry.afterCursor).map((entry) => entry.row.id),
    ]);

    expect(new Set(seen).size).toBe(seen.length);
    expect(originals.filter((row) => !seen.includes(row.id))).toEqual([]);
    expect(seen.filter((id) => !expected.has(id))).toEqual([]);
    expect(seen.length).toBe(expected.size);
    expect(inserted.some((entry) => entry.afterCursor)).toBe(true);
    expect(inserted.some((entry) => !entry.afterCursor)).toBe(true);
    expect(pages).toBeGreaterThanOrEqual(ORIGINAL_COUNT / PAGE_SIZE);
    for (let index = 1; index < rows.length; index += 1) {
      const order = compareKeys(
        ordering.keyOf(rows[index - 1]),
        ordering.keyOf(rows[index]),
        ordering.directions,
      );
      expect(order).toBeLessThan(0);
    }
  });

  it('walks a filter with a stable count', async () => {
    const matching = originals.filter((row) => row.healthStatus === 3);
    const filter = encodeURIComponent("healthStatus eq 'meetingGoals'");
    // Rows of other health states change nothing the filter matches.
    const insertNonMatching = async () => {
      const batch = Array.from({ length: INSERTED_PER_PAGE }, () => ({
        ...randomRow(random),
        healthStatus: Math.floor(random() * 3),
      }));
      await insertRows(TENANT, batch);
    };

    const { rows, counts, pages } = await walk(
      `$filter=${filter}&$count=true&$top=${PAGE_SIZE}&$select=id,healthStatus,deviceName,endpointAnalyticsScore`,
      insertNonMatching,
    );

    expect(pages).toBe(Math.ceil(matching.length / PAGE_SIZE));
    expect(counts).toEqual(Array.from({ length: pages }, () => matching.length));
    expect(rows.map((row) => row.id)).toEqual(matching.map((row) => row.id).sort());
  });

  describe('skiptoken misuse', () => {
    async function firstNextLink(query: string, bearer = token): Promise<URL> {
      const response = await getPage(`${COLLECTION}?${query}`, bearer);
      expect(response.statusCode).toBe(200);
      const next: string | undefined = response.json()['@odata.nextLink'];
      expect(next).toBeDefined();

      return new URL(next as string);
    }

    function expectBadSkiptoken(response: Awaited<ReturnType<typeof getPage>>) {
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('BadRequest');
      expect(response.json().error.message).toContain('$skiptoken');
    }

    it('rejects a skiptoken with one character changed', async () => {
      const next = await firstNextLink(`$orderby=deviceName&$top=${PAGE_SIZE}`);
      const skiptoken = next.searchParams.get('$skiptoken') as string;
      const responses = [];
      // One position in the MAC and one in the JSON payload.
      for (const position of [5, skiptoken.length - 3]) {
        const original = skiptoken[position];
        const flipped = original === 'A' ? 'B' : 'A';
        const tampered = skiptoken.slice(0, position) + flipped + skiptoken.slice(position + 1);
        const url = new URL(next);
        url.searchParams.set('$skiptoken', tampered);
        responses.push(await getPage(url.toString()));
      }

      for (const response of responses) {
        expectBadSkiptoken(response);
      }
      expect((await getPage(next.toString())).statusCode).toBe(200);
    });

    it("rejects another tenant's next link", async () => {
      const otherToken = await service.token(READ, OTHER_TENANT);
      await insertRows(
        OTHER_TENANT,
        Array.from({ length: 3 }, () => randomRow(random)),
      );
      const foreign = await firstNextLink('$top=1', otherToken);

      expectBadSkiptoken(await getPage(foreign.toString()));
      expect((await getPage(foreign.toString(), otherToken)).statusCode).toBe(200);
    });

    it('rejects a skiptoken reused with changed options', async () => {
      const next = await firstNextLink(
        `$filter=${encodeURIComponent('endpointAnalyticsScore ge 0')}&$top=${PAGE_SIZE}`,
      );
      const changes: [string, string][] = [
        ['$filter', 'endpointAnalyticsScore ge 1'],
        ['$top', '99'],
        ['$orderby', 'deviceName'],
      ];

      for (const [option, value] of changes) {
        const url = new URL(next);
        url.searchParams.set(option, value);
        expectBadSkiptoken(await getPage(url.toString()));
      }
    });
  });
});
