import { randomUUID } from 'node:crypto';

import pg from 'pg';
import { DataSource } from 'typeorm';

import { createRandom } from '../../src/tools/seed-data.js';
import {
  queryDatabase,
  READ,
  READ_WRITE,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// userExperienceAnalyticsModelScores over HTTP: values checked against aggregates computed here
// from the seeded devices, kept current through creates, updates and deletes of device scores,
// every collection query option, read-only writes, $metadata, and tenants that never mix.

const TENANT = randomUUID();
const OTHER_TENANT = randomUUID();
const MODEL_SCORES = '/beta/deviceManagement/userExperienceAnalyticsModelScores';
const DEVICE_SCORES = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
const SCORE_NAMES = [
  'endpointAnalyticsScore',
  'startupPerformanceScore',
  'appReliabilityScore',
  'workFromAnywhereScore',
  'batteryHealthScore',
  'meanResourceSpikeTimeScore',
] as const;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type ScoreName = (typeof SCORE_NAMES)[number];

interface Device {
  manufacturer: string | null;
  model: string | null;
  scores: Record<ScoreName, number>;
  health: number;
}

const HARDWARE: readonly (readonly [string | null, string | null])[] = [
  ['Contoso', 'Laptop 1'],
  ['Contoso', 'Laptop 2'],
  ['Contoso', null],
  ['Fabrikam', 'Laptop 1'],
  ['Fabrikam', "O'Brien 7"],
  [null, null],
  ['', ''],
];

function makeDevices(count: number, seed: number): Device[] {
  const random = createRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const score = () => (random() < 0.2 ? -1 : pick([0, 12.5, 50, 7.333333333333333, 99.99, 100]));

  return Array.from({ length: count }, () => {
    const [manufacturer, model] = pick(HARDWARE);
    const scores = Object.fromEntries(SCORE_NAMES.map((name) => [name, score()])) as Record<
      ScoreName,
      number
    >;
    return { manufacturer, model, scores, health: Math.floor(random() * 4) };
  });
}

/** The model scores these devices must produce, computed without the service. */
function expectedModels(devices: readonly Device[]): Map<string, Record<string, unknown>> {
  const groups = new Map<string, Device[]>();
  for (const device of devices) {
    const key = JSON.stringify([device.manufacturer, device.model]);
    groups.set(key, [...(groups.get(key) ?? []), device]);
  }

  const models = new Map<string, Record<string, unknown>>();
  for (const [key, members] of groups) {
    const entity: Record<string, unknown> = {
      manufacturer: members[0].manufacturer,
      model: members[0].model,
      modelDeviceCount: members.length,
    };
    for (const name of SCORE_NAMES) {
      const available = members
        .map((member) => member.scores[name])
        .filter((value) => value !== -1);
      entity[name] =
        available.length === 0
          ? -1
          : available.reduce((sum, value) => sum + value, 0) / available.length;
    }
    entity.healthStatus = modelHealth(members.map((member) => member.health));
    models.set(key, entity);
  }
  return models;
}

/** Returns the most common known state, ties going to the worse one, else unknown. */
function modelHealth(states: readonly number[]): string {
  const count = (state: number) => states.filter((value) => value === state).length;
  const [insufficient, needs, meeting] = [count(1), count(2), count(3)];
  if (insufficient + needs + meeting === 0) {
    return 'unknown';
  }
  if (needs >= insufficient && needs >= meeting) {
    return 'needsAttention';
  }
  return insufficient >= meeting ? 'insufficientData' : 'meetingGoals';
}

function keyOf(entity: Record<string, unknown>): string {
  return JSON.stringify([entity.manufacturer, entity.model]);
}

async function insertDevices(tenantId: string, devices: readonly Device[]): Promise<void> {
  const columns = [
    'endpoint_analytics_score',
    'startup_performance_score',
    'app_reliability_score',
    'work_from_anywhere_score',
    'battery_health_score',
    'mean_resource_spike_time_score',
  ];
  await queryDatabase(
    `INSERT INTO device_scores (tenant_id, id, manufacturer, model, ${columns.join(', ')}, health_status)
     SELECT $1::uuid, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::float8[],
       $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::int2[])`,
    [
      tenantId,
      devices.map(() => randomUUID()),
      devices.map((device) => device.manufacturer),
      devices.map((device) => device.model),
      ...SCORE_NAMES.map((name) => devices.map((device) => device.scores[name])),
      devices.map((device) => device.health),
    ],
  );
}

function expectEntity(actual: Record<string, unknown>, expected: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(expected)) {
    if (typeof value === 'number') {
      expect({ name, value: actual[name] }).toEqual({ name, value: expect.closeTo(value, 9) });
    } else {
      expect({ name, value: actual[name] }).toEqual({ name, value });
    }
  }
}

describe('userExperienceAnalyticsModelScores', () => {
  let service: TestApp;
  let readToken: string;
  let writeToken: string;
  let devices: Device[];

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '100000', THROTTLE_WRITES: '100000' });
    readToken = await service.token(READ, TENANT);
    writeToken = await service.token(READ_WRITE, TENANT);
    devices = makeDevices(300, 7);
    await insertDevices(TENANT, devices.slice(0, 200));
    await insertDevices(TENANT, devices.slice(200));
    await insertDevices(OTHER_TENANT, [
      ...makeDevices(50, 8),
      {
        manufacturer: 'Other',
        model: 'Only there',
        scores: makeDevices(1, 9)[0].scores,
        health: 3,
      },
    ]);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [
      [TENANT, OTHER_TENANT],
    ]);
    await service.close();
  });

  /** The URL of the database the service runs on, PostgreSQL or the embedded one. */
  function databaseUrl(): string {
    return (service.app.get(DataSource).options as { url: string }).url;
  }

  function get(url: string, token = readToken) {
    return service.request({ method: 'GET', url, token });
  }

  async function listAll(query = ''): Promise<Record<string, unknown>[]> {
    const response = await get(`${MODEL_SCORES}${query}`);
    expect(response.statusCode).toBe(200);
    return response.json().value as Record<string, unknown>[];
  }

  test('models agree with aggregates computed from the devices', async () => {
    const expected = expectedModels(devices);
    const models = await listAll();

    expect(models.map(keyOf).sort()).toEqual([...expected.keys()].sort());
    for (const model of models) {
      expect(model['@odata.type']).toBe('#microsoft.graph.userExperienceAnalyticsModelScores');
      expect(model.id).toMatch(GUID);
      expectEntity(model, expected.get(keyOf(model)) as Record<string, unknown>);
    }
  });

  test('response has the collection envelope', async () => {
    const response = await get(MODEL_SCORES);

    expect(response.headers['content-type']).toMatch(/^application\/json;odata.metadata=minimal/);
    expect(response.json()['@odata.context']).toBe(
      `${service.origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsModelScores`,
    );
  });

  test('tenants never mix', async () => {
    const other = await service.token(READ, OTHER_TENANT);
    const mine = await listAll();
    const theirs = (await get(MODEL_SCORES, other)).json().value as Record<string, unknown>[];

    expect(mine.some((model) => model.model === 'Only there')).toBe(false);
    expect(theirs.some((model) => model.model === 'Only there')).toBe(true);
    const foreign = theirs.find((model) => model.model === 'Only there') as { id: string };
    expect((await get(`${MODEL_SCORES}/${foreign.id}`)).statusCode).toBe(404);
    const total = (await get(`${MODEL_SCORES}/$count`, other)).body;
    expect(Number(total)).toBe(new Set(theirs.map(keyOf)).size);
  });

  test('row-level security hides other tenants in the summary', async () => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `SELECT set_config('role', 'eas_request', true), set_config('eas.tenant_id', $1, true)`,
        [OTHER_TENANT],
      );
      const view = await client.query('SELECT DISTINCT tenant_id FROM model_scores');
      const table = await client.query('SELECT DISTINCT tenant_id FROM model_scores_summary');
      await client.query(`SELECT set_config('eas.tenant_id', '', true)`);
      const unset = await client.query('SELECT count(*)::int AS n FROM model_scores_summary');
      await client.query('ROLLBACK');

      expect(view.rows).toEqual([{ tenant_id: OTHER_TENANT }]);
      expect(table.rows).toEqual([{ tenant_id: OTHER_TENANT }]);
      expect(unset.rows).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
  });

  test('request role cannot write the summary', async () => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `SELECT set_config('role', 'eas_request', true), set_config('eas.tenant_id', $1, true)`,
        [TENANT],
      );
      await expect(
        client.query('UPDATE model_scores_summary SET device_count = 0'),
      ).rejects.toMatchObject({ code: '42501' });
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
  });

  test('writes through the API keep models current', async () => {
    const scores = { endpointAnalyticsScore: 10, batteryHealthScore: 20 };
    const created = await service.request({
      method: 'POST',
      url: DEVICE_SCORES,
      token: writeToken,
      payload: {
        manufacturer: 'Northwind',
        model: 'N1',
        healthStatus: 'needsAttention',
        ...scores,
      },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const second = await service.request({
      method: 'POST',
      url: DEVICE_SCORES,
      token: writeToken,
      payload: { manufacturer: 'Northwind', model: 'N1', endpointAnalyticsScore: 30 },
    });
    expect(second.statusCode).toBe(201);

    let northwind = (
      await listAll("?$filter=manufacturer eq 'Northwind'".replaceAll(' ', '%20'))
    )[0];
    expect(northwind).toMatchObject({
      modelDeviceCount: 2,
      endpointAnalyticsScore: 20,
      batteryHealthScore: 20,
      startupPerformanceScore: -1,
      healthStatus: 'needsAttention',
    });

    const patched = await service.request({
      method: 'PATCH',
      url: `${DEVICE_SCORES}/${id}`,
      token: writeToken,
      payload: { model: 'N2' },
    });
    expect(patched.statusCode).toBe(204);
    const both = await listAll(
      `?$filter=${encodeURIComponent("manufacturer eq 'Northwind'")}&$orderby=model`,
    );
    expect(
      both.map((model) => [model.model, model.modelDeviceCount, model.endpointAnalyticsScore]),
    ).toEqual([
      ['N1', 1, 30],
      ['N2', 1, 10],
    ]);

    const deleted = await service.request({
      method: 'DELETE',
      url: `${DEVICE_SCORES}/${second.json().id}`,
      token: writeToken,
    });
    expect(deleted.statusCode).toBe(204);
    northwind = (await listAll(`?$filter=${encodeURIComponent("manufacturer eq 'Northwind'")}`))[0];
    expect(northwind).toMatchObject({ model: 'N2', modelDeviceCount: 1 });

    await service.request({ method: 'DELETE', url: `${DEVICE_SCORES}/${id}`, token: writeToken });
    expect(await listAll(`?$filter=${encodeURIComponent("manufacturer eq 'Northwind'")}`)).toEqual(
      [],
    );
  });

  test('get by id returns one model', async () => {
    const [first] = await listAll('?$top=1');
    const response = await get(
      `${MODEL_SCORES}/${String(first.id).toUpperCase()}?$select=model,healthStatus`,
    );

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      '@odata.context': `${service.origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsModelScores(model,healthStatus)/$entity`,
      '@odata.type': '#microsoft.graph.userExperienceAnalyticsModelScores',
      model: first.model,
      healthStatus: first.healthStatus,
    });
    expect((await get(`${MODEL_SCORES}('${String(first.id)}')`)).statusCode).toBe(200);
  });

  test.each(['not-a-guid', randomUUID()])('unknown id %s is 404', async (id) => {
    const response = await get(`${MODEL_SCORES}/${id}`);

    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('ResourceNotFound');
  });

  test('filter, orderby, select and count work together', async () => {
    const expected = [...expectedModels(devices).values()]
      .filter((model) => (model.modelDeviceCount as number) > 40)
      .sort((a, b) => (a.endpointAnalyticsScore as number) - (b.endpointAnalyticsScore as number));
    const response = await get(
      `${MODEL_SCORES}?$filter=modelDeviceCount%20gt%2040&$orderby=endpointAnalyticsScore` +
        '&$select=model,manufacturer,endpointAnalyticsScore&$count=true',
    );

    const body = response.json();
    expect(body['@odata.count']).toBe(expected.length);
    expect(body['@odata.context']).toMatch(
      /userExperienceAnalyticsModelScores\(model,manufacturer,endpointAnalyticsScore\)$/,
    );
    expect(body.value.map(keyOf)).toEqual(expected.map(keyOf));
    expect(Object.keys(body.value[0]).sort()).toEqual(
      ['@odata.type', 'endpointAnalyticsScore', 'manufacturer', 'model'].sort(),
    );
  });

  test('health status filters by member name', async () => {
    const expected = [...expectedModels(devices).values()].filter(
      (model) => model.healthStatus === 'needsAttention',
    );
    const models = await listAll(
      `?$filter=${encodeURIComponent("healthStatus eq 'needsAttention'")}`,
    );

    expect(models.map(keyOf).sort()).toEqual(expected.map(keyOf).sort());
  });

  test('search matches model and manufacturer', async () => {
    const models = await listAll('?$search=brien');

    expect(models.map((model) => model.model)).toEqual(["O'Brien 7"]);
  });

  test('next links walk every model once', async () => {
    const all = await listAll('?$orderby=modelDeviceCount%20desc');
    const walked: Record<string, unknown>[] = [];
    let url: string | undefined = `${MODEL_SCORES}?$orderby=modelDeviceCount%20desc&$top=2`;
    while (url !== undefined) {
      const body = (await get(url)).json();
      walked.push(...body.value);
      const next: string | undefined = body['@odata.nextLink'];
      url = next === undefined ? undefined : next.slice(service.origin.length);
    }

    expect(walked.map((model) => model.id)).toEqual(all.map((model) => model.id));
  });

  test('skip and top page the collection', async () => {
    const all = await listAll('?$orderby=model,manufacturer');
    const page = await listAll('?$orderby=model,manufacturer&$skip=2&$top=3');

    expect(page.map((model) => model.id)).toEqual(all.slice(2, 5).map((model) => model.id));
  });

  test('apply aggregates model scores', async () => {
    const response = await get(
      `${MODEL_SCORES}?$apply=${encodeURIComponent(
        'groupby((healthStatus),aggregate(modelDeviceCount with sum as devices,$count as models))',
      )}`,
    );

    const expected = new Map<string, { devices: number; models: number }>();
    for (const model of expectedModels(devices).values()) {
      const entry = expected.get(model.healthStatus as string) ?? { devices: 0, models: 0 };
      entry.devices += model.modelDeviceCount as number;
      entry.models += 1;
      expected.set(model.healthStatus as string, entry);
    }
    const rows = response.json().value as {
      healthStatus: string;
      devices: number;
      models: number;
    }[];
    expect(
      new Map(rows.map((row) => [row.healthStatus, { devices: row.devices, models: row.models }])),
    ).toEqual(expected);
  });

  test('v1.0 omits the beta-only score', async () => {
    const response = await get('/v1.0/deviceManagement/userExperienceAnalyticsModelScores?$top=1');

    expect(response.json().value[0]).not.toHaveProperty('meanResourceSpikeTimeScore');
    expect(response.json().value[0]).toHaveProperty('batteryHealthScore');
  });

  test('bare path serves the beta surface', async () => {
    const response = await get('/deviceManagement/userExperienceAnalyticsModelScores?$top=1');

    expect(response.statusCode).toBe(200);
    expect(response.json().value[0]).toHaveProperty('meanResourceSpikeTimeScore');
  });

  test.each([
    ['POST', MODEL_SCORES],
    ['PATCH', `${MODEL_SCORES}/${randomUUID()}`],
    ['PUT', `${MODEL_SCORES}/${randomUUID()}`],
    ['DELETE', `${MODEL_SCORES}/${randomUUID()}`],
  ])('%s is 405 and says why', async (method, url) => {
    const response = await service.request({
      method,
      url,
      token: writeToken,
      ...(method === 'DELETE' ? {} : { payload: { model: 'x' } }),
    });

    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
    expect(response.json().error.code).toBe('MethodNotAllowed');
    expect(response.json().error.message).toContain('read-only');
    expect(response.json().error.message).toContain('computes each model from the device scores');
  });

  test('invalid options are 400', async () => {
    const response = await get(`${MODEL_SCORES}?$filter=deviceName%20eq%20'x'`);

    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain(
      "'deviceName' is not a property of microsoft.graph.userExperienceAnalyticsModelScores",
    );
  });

  test('metadata describes the model scores type', async () => {
    const beta = (await service.request({ method: 'GET', url: '/beta/$metadata', token: null }))
      .body;
    const v1 = (await service.request({ method: 'GET', url: '/v1.0/$metadata', token: null })).body;

    expect(beta).toContain(
      '<EntityType Name="userExperienceAnalyticsModelScores" BaseType="graph.entity">',
    );
    expect(beta).toContain('<Property Name="modelDeviceCount" Type="Edm.Int64" Nullable="false"/>');
    expect(beta).toContain(
      '<NavigationProperty Name="userExperienceAnalyticsModelScores" ' +
        'Type="Collection(graph.userExperienceAnalyticsModelScores)" ContainsTarget="true"/>',
    );
    expect(beta).toMatch(
      /Target="microsoft\.graph\.GraphService\/deviceManagement\/userExperienceAnalyticsModelScores">.*?<PropertyValue Property="Insertable" Bool="false"\/>/s,
    );
    expect(v1).toContain('<EntityType Name="userExperienceAnalyticsModelScores"');
    expect(v1.match(/meanResourceSpikeTimeScore/g)).toBeNull();
  });
});
