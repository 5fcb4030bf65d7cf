import {
  COLLECTION,
  T1,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

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

const A = '00000000-0000-4000-8000-00000000000a';

describe('device scores input validation', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
    await clearTenants(T1);
    const seeded = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { ...BODY, id: A, deviceName: 'PC-A' },
    });
    expect(seeded.statusCode).toBe(201);
  });

  afterAll(async () => {
    await clearTenants(T1);
    await service.close();
  });

  async function rowCount(): Promise<number> {
    const rows = await queryDatabase<{ count: number }>(
      'SELECT count(*)::int AS count FROM device_scores WHERE tenant_id = $1',
      [T1],
    );
    return rows[0].count;
  }

  const invalidBodies: [string, unknown][] = [
    ['score as text', { ...BODY, endpointAnalyticsScore: '87.5' }],
    ['score as non-numeric text', { ...BODY, endpointAnalyticsScore: 'abc' }],
    ['score below -1', { ...BODY, endpointAnalyticsScore: -2 }],
    ['score between -1 and 0', { ...BODY, endpointAnalyticsScore: -0.5 }],
    ['score above 100', { ...BODY, endpointAnalyticsScore: 100.5 }],
    ['score null', { ...BODY, batteryHealthScore: null }],
    ['score boolean', { ...BODY, batteryHealthScore: true }],
    ['score array', { ...BODY, batteryHealthScore: [50] }],
    ['unknown health status', { ...BODY, healthStatus: 'notAState' }],
    ['health status as number', { ...BODY, healthStatus: 2 }],
    ['health status null', { ...BODY, healthStatus: null }],
    ['health status wrong case', { ...BODY, healthStatus: 'MeetingGoals' }],
    ['name too long', { ...BODY, deviceName: 'x'.repeat(257) }],
    ['name with NUL', { ...BODY, deviceName: 'a\u0000b' }],
    ['name with lone surrogate', { ...BODY, deviceName: 'a\ud800b' }],
    ['name as number', { ...BODY, deviceName: 5 }],
    ['unknown property', { ...BODY, colour: 'red' }],
    ['wrong odata type', { ...BODY, '@odata.type': '#microsoft.graph.user' }],
    ['id not a GUID', { ...BODY, id: 'not-a-guid' }],
    ['array body', [BODY]],
    ['null body', null],
    ['string body', 'text'],
    ['prototype key', JSON.parse('{"__proto__": {"polluted": true}}')],
  ];

  test.each(invalidBodies)('POST rejects %s with 400', async (_name, payload) => {
    const before = await rowCount();

    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: JSON.stringify(payload),
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json().error.code).toBe('BadRequest');
    expect(response.json().error.innerError['request-id']).toBe(response.headers['request-id']);
    expect(await rowCount()).toBe(before);
  });

  test('unknown property is named in the message', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { ...BODY, colour: 'red' },
    });

    expect(response.json().error.message).toContain("'colour'");
  });

  test('256 characters including astral ones are accepted', async () => {
    const name = '😀'.repeat(256);

    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { ...BODY, deviceName: name },
    });

    expect(response.statusCode).toBe(201);
    expect(response.json().deviceName).toBe(name);
  });

  test('echoed control information is ignored', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { ...BODY, '@odata.context': 'x', '@odata.etag': 'W/"1"', '@odata.id': 'y' },
    });

    expect(response.statusCode).toBe(201);
  });

  test('scores -1 round-trip as numbers', async () => {
    const response = await service.request({
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

    expect(response.statusCode).toBe(201);
    expect(response.json().endpointAnalyticsScore).toBe(-1);
    expect(response.json().batteryHealthScore).toBe(-1);
  });

  const invalidPatches: [string, unknown][] = [
    ['score null', { batteryHealthScore: null }],
    ['health status null', { healthStatus: null }],
    ['score as text', { endpointAnalyticsScore: '50' }],
    ['unknown property', { colour: 'red' }],
  ];

  test.each(invalidPatches)('PATCH rejects %s and keeps the row', async (_name, payload) => {
    const response = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${A}`,
      payload: payload,
    });
    const read = await service.request({ method: 'GET', url: `${COLLECTION}/${A}` });

    expect(response.statusCode).toBe(400);
    expect(read.json().batteryHealthScore).toBe(70);
    expect(read.json().healthStatus).toBe('meetingGoals');
  });

  test('PATCH deviceName null clears the nullable name', async () => {
    const id = (await service.request({ method: 'POST', url: COLLECTION, payload: BODY })).json()
      .id;

    const response = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${id}`,
      payload: { deviceName: null },
      headers: { prefer: 'return=representation' },
    });

    expect(response.statusCode).toBe(200);
    expect(response.json().deviceName).toBeNull();
  });

  test.each(['not-a-uuid', "x'--", '1', `${A}x`])('id %s is not found', async (id) => {
    const read = await service.request({
      method: 'GET',
      url: `${COLLECTION}/${encodeURIComponent(id)}`,
    });
    const patch = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${encodeURIComponent(id)}`,
      payload: { model: 'X' },
    });
    const removed = await service.request({
      method: 'DELETE',
      url: `${COLLECTION}/${encodeURIComponent(id)}`,
    });

    expect(read.statusCode).toBe(404);
    expect(patch.statusCode).toBe(404);
    expect(removed.statusCode).toBe(404);
    expect(read.json().error.code).toBe('ResourceNotFound');
  });
});
