import { randomUUID } from 'node:crypto';

import pg from 'pg';

import type { HttpResponse } from '../support/http-client.js';
import {
  READ_WRITE,
  TEST_DATABASE_URL,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const SURFACES = ['/beta', '/v1.0', ''];
const PATH = '/deviceManagement/userExperienceAnalyticsDeviceScores';
const COLLECTION = `/beta${PATH}`;

/** The tenant whose rows the attacker tries to reach. */
const VICTIM = randomUUID();
/** The tenant of the attacker's token. */
const ATTACKER = randomUUID();
/** A tenant that no row belongs to, for the row-level security checks. */
const EMPTY_TENANT = randomUUID();

/** A device name only the victim's rows contain, to search and filter for. */
const VICTIM_MARKER = `victim-${randomUUID().slice(0, 8)}`;
const VICTIM_IDS = Array.from({ length: 5 }, () => randomUUID());
const ATTACKER_IDS = Array.from({ length: 2 }, () => randomUUID());

interface StoredRow {
  tenant_id: string;
  id: string;
  device_name: string | null;
  row_version: number;
}

function expectNotFound(response: HttpResponse): void {
  expect(response.statusCode).toBe(404);
  expect(response.json().error.code).toBe('ResourceNotFound');
}

/**
 * Checks that a response contains no victim data. An id the attacker sent in the URL may be echoed
 * by a 404 message, so only the other victim ids count.
 */
function expectNoVictimData(response: HttpResponse, requestedId?: string): void {
  for (const id of VICTIM_IDS.filter((candidate) => candidate !== requestedId)) {
    expect(response.body).not.toContain(id);
  }
  expect(response.body).not.toContain(VICTIM_MARKER);
  expect(response.body).not.toContain('Victim model');
}

describe('tenant isolation', () => {
  let service: TestApp;
  let victimToken: string;
  let attackerToken: string;
  let victimRowsBefore: StoredRow[];

  async function readVictimRows(): Promise<StoredRow[]> {
    return queryDatabase<StoredRow>(
      'SELECT tenant_id, id, device_name, row_version FROM device_scores ' +
        'WHERE tenant_id = $1 ORDER BY id',
      [VICTIM],
    );
  }

  function asAttacker(
    method: string,
    url: string,
    extra: { payload?: unknown; headers?: Record<string, string> } = {},
  ) {
    return service.request({ method, url, token: attackerToken, ...extra });
  }

  beforeAll(async () => {
    service = await startTestApp({ MAX_PAGE_SIZE: '2', THROTTLE_REQUESTS: '100000' });
    victimToken = await service.token(READ_WRITE, VICTIM);
    attackerToken = await service.token(READ_WRITE, ATTACKER);

    for (const [index, id] of VICTIM_IDS.entries()) {
      const created = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { id, deviceName: `${VICTIM_MARKER}-${index}`, model: 'Victim model' },
        token: victimToken,
      });
      expect(created.statusCode).toBe(201);
    }
    for (const [index, id] of ATTACKER_IDS.entries()) {
      const created = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { id, deviceName: `attacker-${index}` },
        token: attackerToken,
      });
      expect(created.statusCode).toBe(201);
    }
    victimRowsBefore = await readVictimRows();
    expect(victimRowsBefore).toHaveLength(VICTIM_IDS.length);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [
      [VICTIM, ATTACKER, EMPTY_TENANT],
    ]);
    await service.close();
  });

  afterEach(async () => {
    // Every attack must leave the victim's rows exactly as they were.
    expect(await readVictimRows()).toEqual(victimRowsBefore);
  });

  describe('through the service with the other tenant token', () => {
    const victimId = VICTIM_IDS[0];

    test.each(SURFACES)('GET by id on surface "%s" is 404', async (surface) => {
      const response = await asAttacker('GET', `${surface}${PATH}/${victimId}`);

      expectNotFound(response);
      expectNoVictimData(response, victimId);
    });

    test.each([
      ['quoted key', (id: string) => `${COLLECTION}('${id}')`],
      ['percent-encoded quotes', (id: string) => `${COLLECTION}(%27${id}%27)`],
      ['unquoted key', (id: string) => `${COLLECTION}(${id})`],
      ['upper-case id', (id: string) => `${COLLECTION}/${id.toUpperCase()}`],
      ['trailing slash', (id: string) => `${COLLECTION}/${id}/`],
      ['select option', (id: string) => `${COLLECTION}/${id}?$select=deviceName`],
    ])('GET with %s is 404', async (_case, url) => {
      const response = await asAttacker('GET', url(victimId));

      expect(response.statusCode).toBe(404);
      expectNoVictimData(response, victimId);
    });

    test('GET with If-None-Match of the victim ETag is 404', async () => {
      const victimRead = await service.request({
        method: 'GET',
        url: `${COLLECTION}/${victimId}`,
        token: victimToken,
      });
      const etag = victimRead.headers.etag as string;

      const response = await asAttacker('GET', `${COLLECTION}/${victimId}`, {
        headers: { 'if-none-match': etag },
      });

      expect(typeof etag).toBe('string');
      expectNotFound(response);
    });

    test.each([
      ['no condition', {}],
      ['If-Match *', { 'if-match': '*' }],
      ['representation preferred', { prefer: 'return=representation' }],
    ])('PATCH with %s is 404 and changes nothing', async (_case, headers) => {
      for (const url of [`${COLLECTION}/${victimId}`, `${COLLECTION}('${victimId}')`]) {
        const response = await asAttacker('PATCH', url, {
          payload: { deviceName: 'taken over' },
          headers,
        });

        expectNotFound(response);
        expectNoVictimData(response, victimId);
      }
    });

    test('PATCH with the victim ETag is 404', async () => {
      const victimRead = await service.request({
        method: 'GET',
        url: `${COLLECTION}/${victimId}`,
        token: victimToken,
      });

      const response = await asAttacker('PATCH', `${COLLECTION}/${victimId}`, {
        payload: { deviceName: 'taken over' },
        headers: { 'if-match': victimRead.headers.etag as string },
      });

      expectNotFound(response);
    });

    test('PATCH with an id in the body is 404', async () => {
      const response = await asAttacker('PATCH', `${COLLECTION}/${victimId}`, {
        payload: { id: victimId, deviceName: 'taken over' },
      });

      expectNotFound(response);
    });

    test.each([
      ['no condition', {}],
      ['If-Match *', { 'if-match': '*' }],
      ['a wrong If-Match', { 'if-match': 'W/"nothing"' }],
    ])('DELETE with %s is 404 and deletes nothing', async (_case, headers) => {
      for (const url of [`${COLLECTION}/${victimId}`, `${COLLECTION}('${victimId}')`]) {
        const response = await asAttacker('DELETE', url, { headers });

        expectNotFound(response);
      }
    });

    test.each([
      ['id eq', `id eq '${VICTIM_IDS[0]}'`],
      ['id in', `id in (${VICTIM_IDS.map((id) => `'${id}'`).join(',')})`],
      ['deviceName startswith', `startswith(deviceName,'${VICTIM_MARKER}')`],
      ['model eq', `model eq 'Victim model'`],
      ['an always-true condition', 'true or id eq null'],
      ['a quote-breaking literal', `deviceName eq 'x'' or ''1''=''1'`],
    ])('$filter with %s sees nothing of the victim', async (_case, filter) => {
      const response = await asAttacker(
        'GET',
        `${COLLECTION}?$count=true&$filter=${encodeURIComponent(filter)}`,
      );

      expect(response.statusCode).toBe(200);
      expectNoVictimData(response);
      const body = response.json();
      for (const row of body.value) {
        expect(ATTACKER_IDS).toContain(row.id);
      }
      expect(body['@odata.count']).toBeLessThanOrEqual(ATTACKER_IDS.length);
    });

    test.each([
      ['tenantId', `tenantId eq '${VICTIM}'`],
      ['tenant_id', `tenant_id eq '${VICTIM}'`],
    ])('$filter on hidden column %s is 400', async (_case, filter) => {
      const response = await asAttacker(
        'GET',
        `${COLLECTION}?$filter=${encodeURIComponent(filter)}`,
      );

      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('BadRequest');
    });

    test('$orderby on hidden column is 400', async () => {
      const response = await asAttacker('GET', `${COLLECTION}?$orderby=tenant_id`);

      expect(response.statusCode).toBe(400);
    });

    test.each([VICTIM_MARKER, `"${VICTIM_MARKER}-0"`, 'Victim', `${VICTIM_MARKER} OR attacker`])(
      '$search %s finds nothing of the victim',
      async (search) => {
        const response = await asAttacker(
          'GET',
          `${COLLECTION}?$count=true&$search=${encodeURIComponent(search)}`,
        );

        expect(response.statusCode).toBe(200);
        expectNoVictimData(response);
        expect(response.json()['@odata.count']).toBeLessThanOrEqual(ATTACKER_IDS.length);
      },
    );

    test('$count counts only own rows', async () => {
      const response = await asAttacker('GET', `${COLLECTION}?$count=true&$top=0`);

      expect(response.statusCode).toBe(200);
      expect(response.json()['@odata.count']).toBe(ATTACKER_IDS.length);
    });

    test.each(SURFACES)('/$count on surface "%s" counts only own rows', async (surface) => {
      const all = await asAttacker('GET', `${surface}${PATH}/$count`);
      const victimFilter = await asAttacker(
        'GET',
        `${surface}${PATH}/$count?$filter=${encodeURIComponent(`id eq '${VICTIM_IDS[0]}'`)}`,
      );
      const victimSearch = await asAttacker(
        'GET',
        `${surface}${PATH}/$count?$search=${encodeURIComponent(VICTIM_MARKER)}`,
      );

      expect(all.statusCode).toBe(200);
      expect(all.body).toBe(String(ATTACKER_IDS.length));
      expect(victimFilter.body).toBe('0');
      expect(victimSearch.body).toBe('0');
    });

    test('paging through every page returns only own rows', async () => {
      const seen: string[] = [];
      let url: string | undefined = COLLECTION;
      for (let page = 0; page < 10 && url !== undefined; page += 1) {
        const response = await asAttacker('GET', url);
        expect(response.statusCode).toBe(200);
        expectNoVictimData(response);
        const body = response.json();
        seen.push(...body.value.map((row: { id: string }) => row.id));
        const next: string | undefined = body['@odata.nextLink'];
        url = next === undefined ? undefined : new URL(next).pathname + new URL(next).search;
      }

      expect(url).toBeUndefined();
      expect(seen.sort()).toEqual([...ATTACKER_IDS].sort());
    });

    test('$skiptoken from the victim next link is 400', async () => {
      const victimPage = await service.request({
        method: 'GET',
        url: `${COLLECTION}?$orderby=deviceName`,
        token: victimToken,
      });
      const next = new URL(victimPage.json()['@odata.nextLink'] as string);
      const skiptoken = next.searchParams.get('$skiptoken') as string;

      const followed = await asAttacker('GET', next.pathname + next.search);
      const alone = await asAttacker(
        'GET',
        `${COLLECTION}?$skiptoken=${encodeURIComponent(skiptoken)}`,
      );

      expect(skiptoken.length).toBeGreaterThan(0);
      expect(followed.statusCode).toBe(400);
      expect(followed.json().error.code).toBe('BadRequest');
      expectNoVictimData(followed);
      expect(alone.statusCode).toBe(400);
      expectNoVictimData(alone);
    });

    test('$skiptoken from the victim on another surface is 400', async () => {
      const victimPage = await service.request({
        method: 'GET',
        url: COLLECTION,
        token: victimToken,
      });
      const next = new URL(victimPage.json()['@odata.nextLink'] as string);

      const response = await asAttacker('GET', `/v1.0${PATH}${next.search}`);

      expect(response.statusCode).toBe(400);
      expectNoVictimData(response);
    });

    test('POST with a victim id creates a separate row', async () => {
      const victimId = VICTIM_IDS[1];
      const created = await asAttacker('POST', COLLECTION, {
        payload: { id: victimId, deviceName: 'attacker copy' },
      });
      const attackerRead = await asAttacker('GET', `${COLLECTION}/${victimId}`);
      const victimRead = await service.request({
        method: 'GET',
        url: `${COLLECTION}/${victimId}`,
        token: victimToken,
      });
      const deleted = await asAttacker('DELETE', `${COLLECTION}/${victimId}`);
      const victimReadAfter = await service.request({
        method: 'GET',
        url: `${COLLECTION}/${victimId}`,
        token: victimToken,
      });

      expect(created.statusCode).toBe(201);
      expect(created.json().deviceName).toBe('attacker copy');
      expect(attackerRead.json().deviceName).toBe('attacker copy');
      expect(victimRead.json().deviceName).toBe(`${VICTIM_MARKER}-1`);
      expect(deleted.statusCode).toBe(204);
      expect(victimReadAfter.statusCode).toBe(200);
    });

    test('POST with a victim id twice is 409 only in own tenant', async () => {
      const victimId = VICTIM_IDS[2];
      const first = await asAttacker('POST', COLLECTION, { payload: { id: victimId } });
      const second = await asAttacker('POST', COLLECTION, { payload: { id: victimId } });
      const cleanup = await asAttacker('DELETE', `${COLLECTION}/${victimId}`);

      expect(first.statusCode).toBe(201);
      expect(second.statusCode).toBe(409);
      expect(second.json().error.code).toBe('Conflict');
      expect(cleanup.statusCode).toBe(204);
    });

    test('victim still sees every own row', async () => {
      const response = await service.request({
        method: 'GET',
        url: `/beta${PATH}/$count`,
        token: victimToken,
      });

      expect(response.body).toBe(String(VICTIM_IDS.length));
    });
  });

  describe('row-level security in the database', () => {
    let client: pg.Client;

    beforeEach(async () => {
      client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
    });

    afterEach(async () => {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    });

    async function beginAsRequest(tenantId?: string): Promise<void> {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('role', 'eas_request', true)`);
      if (tenantId !== undefined) {
        await client.query(`SELECT set_config('eas.tenant_id', $1, true)`, [tenantId]);
      }
    }

    test('request role is no superuser and cannot bypass policies', async () => {
      const roles = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
        `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'eas_request'`,
      );
      const table = await client.query<{ relrowsecurity: boolean }>(
        `SELECT relrowsecurity FROM pg_class WHERE oid = 'device_scores'::regclass`,
      );

      expect(roles.rows).toEqual([{ rolsuper: false, rolbypassrls: false }]);
      expect(table.rows).toEqual([{ relrowsecurity: true }]);
    });

    test('query without tenant condition returns only that tenant', async () => {
      await beginAsRequest(VICTIM);
      const rows = await client.query<{ tenant_id: string; id: string }>(
        'SELECT * FROM device_scores',
      );
      const current = await client.query<{ current_user: string }>('SELECT current_user');

      expect(current.rows[0].current_user).toBe('eas_request');
      expect(rows.rows.length).toBe(VICTIM_IDS.length);
      for (const row of rows.rows) {
        expect(row.tenant_id).toBe(VICTIM);
      }
      expect(rows.rows.map((row) => row.id).sort()).toEqual([...VICTIM_IDS].sort());
    });

    test('explicit condition on another tenant returns nothing', async () => {
      await beginAsRequest(VICTIM);
      const rows = await client.query('SELECT * FROM device_scores WHERE tenant_id = $1', [
        ATTACKER,
      ]);

      expect(rows.rows).toEqual([]);
    });

    test('insert of another tenant row fails', async () => {
      await beginAsRequest(VICTIM);

      await expect(
        client.query('INSERT INTO device_scores (tenant_id, id) VALUES ($1, $2)', [
          ATTACKER,
          randomUUID(),
        ]),
      ).rejects.toMatchObject({ code: '42501' });
    });

    test('update moving a row to another tenant fails', async () => {
      await beginAsRequest(VICTIM);

      await expect(
        client.query('UPDATE device_scores SET tenant_id = $1 WHERE id = $2', [
          ATTACKER,
          VICTIM_IDS[0],
        ]),
      ).rejects.toMatchObject({ code: '42501' });
    });

    test('update and delete without condition touch only that tenant', async () => {
      await beginAsRequest(ATTACKER);
      const updated = await client.query(`UPDATE device_scores SET device_name = 'overwritten'`);
      const deleted = await client.query('DELETE FROM device_scores');
      await client.query('ROLLBACK');

      expect(updated.rowCount).toBe(ATTACKER_IDS.length);
      expect(deleted.rowCount).toBe(ATTACKER_IDS.length);
    });

    test.each([
      ['no tenant setting', undefined],
      ['an empty tenant setting', ''],
      ['a tenant with no rows', EMPTY_TENANT],
    ])('%s sees no rows', async (_case, tenantId) => {
      await beginAsRequest(tenantId);
      const rows = await client.query('SELECT * FROM device_scores');
      const count = await client.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM device_scores',
      );

      expect(rows.rows).toEqual([]);
      expect(count.rows[0].count).toBe(0);
    });

    test('no tenant setting cannot insert', async () => {
      await beginAsRequest();

      await expect(
        client.query('INSERT INTO device_scores (tenant_id, id) VALUES ($1, $2)', [
          VICTIM,
          randomUUID(),
        ]),
      ).rejects.toMatchObject({ code: '42501' });
    });

    test('tenant setting is gone after the transaction', async () => {
      await beginAsRequest(VICTIM);
      await client.query('COMMIT');
      const setting = await client.query<{ tenant: string | null; role: string }>(
        `SELECT current_setting('eas.tenant_id', true) AS tenant, current_user AS role`,
      );

      expect(setting.rows[0].tenant ?? '').toBe('');
      expect(setting.rows[0].role).not.toBe('eas_request');
    });
  });
});
