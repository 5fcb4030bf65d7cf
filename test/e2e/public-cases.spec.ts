import {
  COLLECTION,
  READ,
  READ_WRITE,
  T1,
  T2,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const ID = {
  A: '00000000-0000-4000-8000-00000000000a',
  B: '00000000-0000-4000-8000-00000000000b',
  C: '00000000-0000-4000-8000-00000000000c',
  D: '00000000-0000-4000-8000-00000000000d',
  E: '00000000-0000-4000-8000-00000000000e',
  F: '00000000-0000-4000-8000-00000000000f',
};

const SEED = [
  {
    id: ID.A,
    deviceName: 'PC-A',
    endpointAnalyticsScore: 87.5,
    batteryHealthScore: -1,
    healthStatus: 'meetingGoals',
  },
  {
    id: ID.B,
    deviceName: 'PC-B',
    endpointAnalyticsScore: 9.5,
    batteryHealthScore: 40,
    healthStatus: 'needsAttention',
  },
  {
    id: ID.C,
    deviceName: "Lab's-PC",
    endpointAnalyticsScore: 10,
    batteryHealthScore: 55,
    healthStatus: 'insufficientData',
  },
  {
    id: ID.D,
    deviceName: 'PC-D',
    endpointAnalyticsScore: -1,
    batteryHealthScore: -1,
    healthStatus: 'unknown',
  },
  {
    id: ID.E,
    deviceName: 'PC-E',
    endpointAnalyticsScore: 50,
    batteryHealthScore: 70,
    healthStatus: 'meetingGoals',
  },
];

const BODY = {
  deviceName: 'PC-NEW',
  model: 'M1',
  manufacturer: 'Contoso',
  endpointAnalyticsScore: 70,
  startupPerformanceScore: 70,
  appReliabilityScore: 70,
  workFromAnywhereScore: 70,
  batteryHealthScore: 70,
  healthStatus: 'meetingGoals',
};

function letterOf(id: string): string {
  const entry = Object.entries(ID).find(([, value]) => value === id);
  return entry ? entry[0] : id;
}

describe('public failure cases', () => {
  let service: TestApp;

  async function seed(): Promise<void> {
    await clearTenants(T1, T2);
    for (const row of SEED) {
      const response = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: {
          manufacturer: 'Contoso',
          model: 'M1',
          startupPerformanceScore: 50,
          appReliabilityScore: 50,
          workFromAnywhereScore: 50,
          ...row,
        },
      });
      expect(response.statusCode).toBe(201);
    }
    const f = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { id: ID.F, deviceName: 'PC-F' },
      token: await service.token(READ_WRITE, T2),
    });
    expect(f.statusCode).toBe(201);
  }

  /** GETs the collection with a raw (already encoded) query string and returns the letters. */
  async function list(query: string, token?: string) {
    const response = await service.request({ method: 'GET', url: `${COLLECTION}?${query}`, token });
    const letters =
      response.statusCode === 200
        ? (response.json().value as { id: string }[]).map((item) => letterOf(item.id))
        : [];
    return { response, letters };
  }

  beforeAll(async () => {
    service = await startTestApp();
  });

  afterAll(async () => {
    await clearTenants(T1, T2);
    await service.close();
  });

  describe('read-only cases', () => {
    beforeAll(seed);

    test('B01 next links page forward and stop', async () => {
      const seen: string[] = [];
      const sizes: number[] = [];
      let url: string | undefined = `${COLLECTION}?$orderby=deviceName&$top=2`;
      while (url !== undefined) {
        const response = await service.request({ method: 'GET', url });
        expect(response.statusCode).toBe(200);
        const body = response.json();
        sizes.push(body.value.length);
        seen.push(...body.value.map((item: { id: string }) => letterOf(item.id)));
        const next: string | undefined = body['@odata.nextLink'];
        if (next !== undefined) {
          expect(next).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/beta\//);
          const parsed = new URL(next);
          url = parsed.pathname + parsed.search;
        } else {
          url = undefined;
        }
        expect(sizes.length).toBeLessThan(10);
      }

      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(['C', 'A', 'B', 'D', 'E']);
    });

    test('B01 filtered next link keeps the filter', async () => {
      const first = await list("$filter=healthStatus%20eq%20'meetingGoals'&$top=1");
      const next = new URL(first.response.json()['@odata.nextLink']);
      const second = await service.request({ method: 'GET', url: next.pathname + next.search });

      expect(first.letters).toEqual(['A']);
      expect(decodeURIComponent(next.search)).toContain("healthStatus eq 'meetingGoals'");
      expect(second.json().value.map((item: { id: string }) => letterOf(item.id))).toEqual(['E']);
      expect(second.json()['@odata.nextLink']).toBeUndefined();
    });

    test('B03 orderby desc with %20 and +', async () => {
      const encoded = await list('$orderby=endpointAnalyticsScore%20desc');
      const plus = await list('$orderby=endpointAnalyticsScore+desc');
      const sideways = await list('$orderby=endpointAnalyticsScore%20sideways');

      expect(encoded.letters).toEqual(['A', 'E', 'C', 'B', 'D']);
      expect(plus.letters).toEqual(['A', 'E', 'C', 'B', 'D']);
      expect(sideways.response.statusCode).toBe(400);
      expect(sideways.response.json().error.code).toBe('BadRequest');
    });

    test('B04 healthStatus filters', async () => {
      const needs = await list("$filter=healthStatus%20eq%20'needsAttention'");
      const unknown = await list("$filter=healthStatus%20eq%20'unknown'");
      const numeric = await list('$filter=healthStatus%20eq%202');
      const invalid = await list("$filter=healthStatus%20eq%20'notAState'");

      expect(needs.letters).toEqual(['B']);
      expect(unknown.letters).toEqual(['D']);
      expect(numeric.response.statusCode).toBe(400);
      expect(invalid.response.statusCode).toBe(400);
    });

    test('B07 permission matrix', async () => {
      const read = await list('', await service.token(READ));
      const config = await list('', await service.token('DeviceManagementConfiguration.Read.All'));
      const app = await list(
        '',
        await service.issuer.mint({ roles: [READ_WRITE], scp: undefined, tid: T1 }),
      );
      const userRead = await list('', await service.token('User.Read'));
      const anonymous = await service.request({ method: 'GET', url: COLLECTION, token: null });
      const emptyTenant = await list(
        '',
        await service.token(READ, '44444444-4444-4444-4444-444444444444'),
      );

      expect(read.response.statusCode).toBe(200);
      expect(config.response.statusCode).toBe(200);
      expect(app.response.statusCode).toBe(200);
      expect(userRead.response.statusCode).toBe(403);
      expect(userRead.response.json().error.code).toBe('Forbidden');
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(emptyTenant.response.statusCode).toBe(200);
      expect(emptyTenant.response.json().value).toEqual([]);
    });

    test('B10 non-numeric paging options', async () => {
      expect((await list('$top=abc')).response.statusCode).toBe(400);
      expect((await list('$skip=1.5')).response.statusCode).toBe(400);
    });

    test('B20 unknown route and unknown id', async () => {
      const route = await service.request({
        method: 'GET',
        url: '/deviceManagement/userExperienceAnalyticsDeviceScore',
      });
      const id = await service.request({
        method: 'GET',
        url: `${COLLECTION}/00000000-0000-4000-8000-0000000000ff`,
      });

      expect(route.statusCode).toBe(404);
      expect(route.json().error.code).toBe('ResourceNotFound');
      expect(id.statusCode).toBe(404);
      expect(id.json().error.code).toBe('ResourceNotFound');
    });

    test('B22 repeated and oddly cased options', async () => {
      const repeated = await list('$top=1&$top=3');
      const filters = await list(
        "$filter=healthStatus%20eq%20'unknown'&$filter=healthStatus%20eq%20'meetingGoals'",
      );
      const upper = await list('$TOP=1');

      expect(repeated.response.statusCode).toBe(400);
      expect(filters.response.statusCode).toBe(400);
      expect(upper.response.statusCode).toBe(200);
      expect(upper.letters).toHaveLength(1);
    });

    test('B23 numbers stay numbers and sort numerically', async () => {
      const a = await service.request({ method: 'GET', url: `${COLLECTION}/${ID.A}` });
      const sorted = await list(
        '$orderby=endpointAnalyticsScore&$select=deviceName,endpointAnalyticsScore',
      );
      const filtered = await list('$filter=endpointAnalyticsScore%20gt%209.6');

      expect(a.json().endpointAnalyticsScore).toBe(87.5);
      expect(a.json().batteryHealthScore).toBe(-1);
      expect(
        sorted.response
          .json()
          .value.map((item: { endpointAnalyticsScore: number }) => item.endpointAnalyticsScore),
      ).toEqual([-1, 9.5, 10, 50, 87.5]);
      expect(filtered.letters.sort()).toEqual(['A', 'C', 'E']);
    });

    test('B24 orderby text never reaches SQL', async () => {
      const attacks = [
        'CASE WHEN (SELECT 1)=1 THEN deviceName ELSE model END',
        '(SELECT pg_sleep(5))',
        'deviceName DESC; DELETE FROM device_scores',
      ];
      for (const attack of attacks) {
        const { response } = await list(`$orderby=${encodeURIComponent(attack)}`);
        expect(response.statusCode).toBe(400);
      }
      const rows = await queryDatabase<{ count: number }>(
        'SELECT count(*)::int AS count FROM device_scores WHERE tenant_id = $1',
        [T1],
      );
      const valid = await list(`$orderby=${encodeURIComponent('deviceName asc,model desc')}`);

      expect(rows[0].count).toBe(5);
      expect(valid.response.statusCode).toBe(200);
      expect(valid.letters).toEqual(['C', 'A', 'B', 'D', 'E']);
    });

    test('B26 filter on a malformed id matches nothing', async () => {
      const { response, letters } = await list("$filter=id%20eq%20'zzz'");

      expect(response.statusCode).toBe(200);
      expect(letters).toEqual([]);
    });

    test('B33 quotes inside string literals', async () => {
      const escaped = await list(`$filter=${encodeURIComponent("deviceName eq 'Lab''s-PC'")}`);
      const inList = await list(
        `$filter=${encodeURIComponent("deviceName in ('Lab''s-PC','PC-A')")}&$orderby=deviceName`,
      );
      const broken = await list(`$filter=${encodeURIComponent("deviceName eq 'Lab's-PC'")}`);
      const injection = await list(
        `$filter=${encodeURIComponent("deviceName eq 'x'' or ''1''=''1'")}`,
      );

      expect(escaped.letters).toEqual(['C']);
      expect(inList.letters).toEqual(['C', 'A']);
      expect(broken.response.statusCode).toBe(400);
      expect(injection.response.statusCode).toBe(200);
      expect(injection.letters).toEqual([]);
    });

    test('B35 numbers with exponents', async () => {
      const plain = await list('$filter=endpointAnalyticsScore%20ge%205E1');
      const signed = await list('$filter=endpointAnalyticsScore%20ge%205.0e%2B1');
      const negative = await list('$filter=endpointAnalyticsScore%20gt%20-1E0');
      const broken = await list('$filter=endpointAnalyticsScore%20ge%205E');

      expect(plain.letters.sort()).toEqual(['A', 'E']);
      expect(signed.letters.sort()).toEqual(['A', 'E']);
      expect(negative.letters.sort()).toEqual(['A', 'B', 'C', 'E']);
      expect(broken.response.statusCode).toBe(400);
    });

    test('B36 unknown names and broken expressions', async () => {
      for (const query of [
        "$filter=colour%20eq%20'red'",
        '$orderby=colour',
        '$filter=deviceName%20eq',
        '$select=deviceName,colour',
      ]) {
        const { response } = await list(query);
        expect(response.statusCode).toBe(400);
        expect(response.json().error.code).toBe('BadRequest');
      }
      const selected = await list('$select=DeviceName,EndpointAnalyticsScore');
      const body = selected.response.json();

      expect(selected.response.statusCode).toBe(200);
      expect(body['@odata.context']).toMatch(
        /userExperienceAnalyticsDeviceScores\(deviceName,endpointAnalyticsScore\)$/,
      );
      expect(Object.keys(body.value[0]).filter((key) => !key.startsWith('@'))).toEqual([
        'deviceName',
        'endpointAnalyticsScore',
      ]);
    });

    test('B37 top and skip bounds', async () => {
      expect((await list('$top=')).response.statusCode).toBe(400);
      expect((await list('$top=-1')).response.statusCode).toBe(400);
      expect((await list('$skip=-1')).response.statusCode).toBe(400);
      expect((await list('$top=9007199254740993')).response.statusCode).toBe(400);
      const large = await list('$top=1000000');
      const skipped = await list('$skip=100000');

      expect(large.response.statusCode).toBe(200);
      expect(large.letters).toHaveLength(5);
      expect(large.response.json()['@odata.nextLink']).toBeUndefined();
      expect(skipped.response.statusCode).toBe(200);
      expect(skipped.letters).toEqual([]);
    });

    test('count segment and count option agree', async () => {
      const segment = await service.request({
        method: 'GET',
        url: `${COLLECTION}/$count?$filter=${encodeURIComponent("healthStatus eq 'meetingGoals'")}`,
      });
      const option = await list(
        `$count=true&$top=0&$filter=${encodeURIComponent("healthStatus eq 'meetingGoals'")}`,
      );

      expect(segment.statusCode).toBe(200);
      expect(segment.headers['content-type']).toMatch(/^text\/plain/);
      expect(segment.body).toBe('2');
      expect(option.response.json()['@odata.count']).toBe(2);
      expect(option.letters).toEqual([]);
      expect(option.response.json()['@odata.nextLink']).toBeUndefined();
    });

    test('other tenant sees, counts and searches nothing', async () => {
      const t2 = await service.token(READ, T2);
      const all = await list('$count=true', t2);
      const search = await list('$search=PC', t2);
      const count = await service.request({
        method: 'GET',
        url: `${COLLECTION}/$count`,
        token: t2,
      });

      expect(all.letters).toEqual(['F']);
      expect(all.response.json()['@odata.count']).toBe(1);
      expect(search.letters).toEqual(['F']);
      expect(count.body).toBe('1');
    });
  });

  describe('writing cases', () => {
    beforeEach(seed);

    test('B04 create without healthStatus defaults to unknown', async () => {
      const { healthStatus: _omitted, ...body } = BODY;

      const response = await service.request({ method: 'POST', url: COLLECTION, payload: body });

      expect(response.statusCode).toBe(201);
      expect(response.json().healthStatus).toBe('unknown');
    });

    test('B06 score -1 round-trips and filters', async () => {
      const created = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: {
          ...BODY,
          endpointAnalyticsScore: -1,
          startupPerformanceScore: -1,
          appReliabilityScore: -1,
          workFromAnywhereScore: -1,
          batteryHealthScore: -1,
          healthStatus: 'insufficientData',
        },
      });
      const newId = created.json().id;
      const battery = await list('$filter=batteryHealthScore%20eq%20-1');
      const below = await list('$filter=endpointAnalyticsScore%20lt%200');
      const tooLow = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, endpointAnalyticsScore: -2 },
      });
      const tooHigh = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, endpointAnalyticsScore: 100.5 },
      });

      expect(created.statusCode).toBe(201);
      for (const score of [
        'endpointAnalyticsScore',
        'startupPerformanceScore',
        'appReliabilityScore',
        'workFromAnywhereScore',
        'batteryHealthScore',
      ]) {
        expect(created.json()[score]).toBe(-1);
      }
      expect(battery.letters.sort()).toEqual(['A', 'D', newId].sort());
      expect(below.letters.sort()).toEqual(['D', newId].sort());
      expect(tooLow.statusCode).toBe(400);
      expect(tooHigh.statusCode).toBe(400);
    });

    test('B12 null for non-nullable properties keeps the row', async () => {
      const score = await service.request({
        method: 'PATCH',
        url: `${COLLECTION}/${ID.A}`,
        payload: { batteryHealthScore: null },
      });
      const model = await service.request({
        method: 'PATCH',
        url: `${COLLECTION}/${ID.A}`,
        payload: { model: 'M2' },
      });
      const empty = await service.request({
        method: 'PATCH',
        url: `${COLLECTION}/${ID.A}`,
        payload: {},
      });
      const a = (await service.request({ method: 'GET', url: `${COLLECTION}/${ID.A}` })).json();

      expect(score.statusCode).toBe(400);
      expect(model.statusCode).toBe(204);
      expect(empty.statusCode).toBe(204);
      expect(a.model).toBe('M2');
      expect(a.batteryHealthScore).toBe(-1);
      expect(a.deviceName).toBe('PC-A');
      expect(a.endpointAnalyticsScore).toBe(87.5);
      expect(a.healthStatus).toBe('meetingGoals');
    });

    test('B13 unknown property rejected, each writable property patched', async () => {
      const post = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, colour: 'red' },
      });
      expect(post.statusCode).toBe(400);
      expect(post.json().error.message).toContain('colour');

      const changes: Record<string, unknown> = {
        deviceName: 'Renamed',
        model: 'M9',
        manufacturer: 'Fabrikam',
        endpointAnalyticsScore: 12.25,
        startupPerformanceScore: 13,
        appReliabilityScore: 14,
        workFromAnywhereScore: 15,
        batteryHealthScore: 16,
        healthStatus: 'needsAttention',
      };
      for (const [property, value] of Object.entries(changes)) {
        const patch = await service.request({
          method: 'PATCH',
          url: `${COLLECTION}/${ID.A}`,
          payload: { [property]: value },
        });
        const read = await service.request({ method: 'GET', url: `${COLLECTION}/${ID.A}` });
        expect(patch.statusCode).toBe(204);
        expect(read.json()[property]).toBe(value);
      }
    });

    test('B15 wrong JSON shapes', async () => {
      const bodies = [
        JSON.stringify([BODY]),
        '"text"',
        'null',
        JSON.stringify({ ...BODY, deviceName: { first: 'x' } }),
        JSON.stringify({ ...BODY, model: ['M1', 'M2'] }),
      ];
      for (const payload of bodies) {
        const response = await service.request({
          method: 'POST',
          url: COLLECTION,
          payload,
          headers: { 'content-type': 'application/json' },
        });
        expect(response.statusCode).toBe(400);
        expect(response.json().error.code).toBe('BadRequest');
      }
      const rows = await queryDatabase<{ count: number }>(
        'SELECT count(*)::int AS count FROM device_scores WHERE tenant_id = $1',
        [T1],
      );
      expect(rows[0].count).toBe(5);
    });

    test('B17 empty bodies, charset and casing', async () => {
      const emptyPost = await service.request({
        method: 'POST',
        url: COLLECTION,
        headers: { 'content-type': 'application/json', 'content-length': '0' },
      });
      const bodilessDelete = await service.request({
        method: 'DELETE',
        url: `${COLLECTION}/${ID.E}`,
        headers: { 'content-type': 'application/json' },
      });
      const charset = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: JSON.stringify(BODY),
        headers: { 'content-type': 'application/json; charset=UTF-8' },
      });
      const upper = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: JSON.stringify(BODY),
        headers: { 'content-type': 'APPLICATION/JSON' },
      });
      const text = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: JSON.stringify(BODY),
        headers: { 'content-type': 'text/plain' },
      });

      expect(emptyPost.statusCode).toBe(400);
      expect(emptyPost.json().error.code).toBe('BadRequest');
      expect(bodilessDelete.statusCode).toBe(204);
      expect(charset.statusCode).toBe(201);
      expect(upper.statusCode).toBe(201);
      expect(text.statusCode).toBe(415);
      expect(text.json().error.code).toBe('UnsupportedMediaType');
    });

    test('B18 oversized body and long names', async () => {
      const huge = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, deviceName: 'A'.repeat(2_000_000) },
      });
      const long = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, deviceName: 'A'.repeat(300) },
      });
      const max = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, deviceName: 'A'.repeat(256) },
      });

      expect(huge.statusCode).toBe(413);
      expect(huge.json().error.code).toBe('RequestEntityTooLarge');
      expect(long.statusCode).toBe(400);
      expect(max.statusCode).toBe(201);
    });

    test('B25 duplicate id is 409 and A is unchanged', async () => {
      const response = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, id: ID.A },
      });
      const a = (await service.request({ method: 'GET', url: `${COLLECTION}/${ID.A}` })).json();

      expect(response.statusCode).toBe(409);
      expect(response.json().error.message).not.toMatch(/duplicate key|constraint|pkey/i);
      expect(a.deviceName).toBe('PC-A');
    });

    test('B32 application roles may create', async () => {
      const token = await service.issuer.mint({ roles: [READ_WRITE], scp: undefined, tid: T1 });

      const response = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: BODY,
        token,
      });

      expect(response.statusCode).toBe(201);
    });
  });
});
