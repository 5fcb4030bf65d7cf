import {
  COLLECTION,
  READ,
  T1,
  T2,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const SEED_REQUEST = {
  '@odata.type': '#microsoft.graph.userExperienceAnalyticsDeviceScores',
  deviceName: 'Device Name value',
  model: 'Model value',
  manufacturer: 'Manufacturer value',
  endpointAnalyticsScore: 7.333333333333333,
  startupPerformanceScore: 7.666666666666667,
  appReliabilityScore: 6.333333333333333,
  workFromAnywhereScore: 7.0,
  batteryHealthScore: 6.0,
  healthStatus: 'insufficientData',
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JSON_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

function withoutEtag(entity: Record<string, unknown>): Record<string, unknown> {
  const { '@odata.etag': _etag, ...rest } = entity;
  return rest;
}

describe('device scores CRUD', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
    await clearTenants(T1, T2);
  });

  afterAll(async () => {
    await clearTenants(T1, T2);
    await service.close();
  });

  async function create(body: Record<string, unknown>, path = COLLECTION) {
    return service.request({ method: 'POST', url: path, payload: body });
  }

  test('seed example request returns the seed response', async () => {
    const response = await create(SEED_REQUEST);

    expect(response.statusCode).toBe(201);
    expect(response.headers['content-type']).toBe(JSON_TYPE);
    const body = response.json();
    expect(body.id).toMatch(GUID);
    expect(body['@odata.context']).toBe(
      `${service.origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores/$entity`,
    );
    const { '@odata.context': _context, '@odata.etag': etag, id: _id, ...rest } = body;
    expect(rest).toEqual({ ...SEED_REQUEST, meanResourceSpikeTimeScore: -1 });
    expect(response.headers.etag).toBe(etag);
    expect(response.headers.location).toBe(`${service.origin}${COLLECTION}/${body.id}`);
    expect(response.headers['odata-version']).toBe('4.0');
    expect(response.headers['request-id']).toMatch(GUID);
  });

  test('seed example on the bare documented path', async () => {
    const response = await create(
      SEED_REQUEST,
      '/deviceManagement/userExperienceAnalyticsDeviceScores',
    );

    expect(response.statusCode).toBe(201);
    expect(response.json().endpointAnalyticsScore).toBe(7.333333333333333);
  });

  test('created entity reads back identically', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const read = await service.request({ method: 'GET', url: `${COLLECTION}/${created.id}` });

    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(created);
  });

  test('OData key form reads the entity', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const read = await service.request({
      method: 'GET',
      url: `${COLLECTION}('${created.id}')`,
    });

    expect(read.statusCode).toBe(200);
    expect(read.json().id).toBe(created.id);
  });

  test('omitted properties take Graph defaults', async () => {
    const response = await create({});

    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body.deviceName).toBeNull();
    expect(body.model).toBeNull();
    expect(body.manufacturer).toBeNull();
    expect(body.endpointAnalyticsScore).toBe(-1);
    expect(body.batteryHealthScore).toBe(-1);
    expect(body.healthStatus).toBe('unknown');
  });

  test('client id is kept and a duplicate is 409', async () => {
    const id = '00000000-0000-4000-8000-0000000000AA';
    const first = await create({ id, deviceName: 'first' });
    const second = await create({ id, deviceName: 'second' });

    expect(first.statusCode).toBe(201);
    expect(first.json().id).toBe(id.toLowerCase());
    expect(second.statusCode).toBe(409);
    expect(second.json().error.code).toBe('Conflict');
    expect(second.json().error.message).not.toMatch(/duplicate key|constraint/i);
    const stored = await queryDatabase<{ device_name: string }>(
      'SELECT device_name FROM device_scores WHERE tenant_id = $1 AND id = $2',
      [T1, id.toLowerCase()],
    );
    expect(stored).toEqual([{ device_name: 'first' }]);
  });

  test('same id in another tenant is independent', async () => {
    const id = '00000000-0000-4000-8000-0000000000ab';
    const t2Token = await service.token(undefined, T2);

    const first = await create({ id });
    const second = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { id },
      token: t2Token,
    });

    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
  });

  test('PATCH returns 204 and changes only named properties', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const patch = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: { model: 'M2' },
    });
    const read = await service.request({ method: 'GET', url: `${COLLECTION}/${created.id}` });

    expect(patch.statusCode).toBe(204);
    expect(patch.body).toBe('');
    expect(withoutEtag(read.json())).toEqual(withoutEtag({ ...created, model: 'M2' }));
    expect(read.json()['@odata.etag']).not.toBe(created['@odata.etag']);
  });

  test('PATCH with return=representation returns 200', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const patch = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: { batteryHealthScore: 55.5 },
      headers: { prefer: 'return=representation' },
    });

    expect(patch.statusCode).toBe(200);
    expect(patch.headers['preference-applied']).toBe('return=representation');
    expect(patch.json().batteryHealthScore).toBe(55.5);
    expect(patch.json().model).toBe('Model value');
  });

  test('empty PATCH changes nothing and succeeds', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const patch = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: {},
    });
    const read = await service.request({ method: 'GET', url: `${COLLECTION}/${created.id}` });

    expect(patch.statusCode).toBe(204);
    expect(read.json()).toEqual(created);
  });

  test('PATCH ignores unknownFutureValue and rejects it on create', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const patch = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: { healthStatus: 'unknownFutureValue' },
      headers: { prefer: 'return=representation' },
    });
    const post = await create({ healthStatus: 'unknownFutureValue' });

    expect(patch.statusCode).toBe(200);
    expect(patch.json().healthStatus).toBe('insufficientData');
    expect(post.statusCode).toBe(400);
  });

  test('PATCH id must match the URL', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const same = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: { id: created.id.toUpperCase() },
    });
    const other = await service.request({
      method: 'PATCH',
      url: `${COLLECTION}/${created.id}`,
      payload: { id: '00000000-0000-4000-8000-000000000001' },
    });

    expect(same.statusCode).toBe(204);
    expect(other.statusCode).toBe(400);
  });

  test('DELETE returns 204 with zero bytes, then 404', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const removed = await service.request({ method: 'DELETE', url: `${COLLECTION}/${created.id}` });
    const again = await service.request({ method: 'DELETE', url: `${COLLECTION}/${created.id}` });
    const read = await service.request({ method: 'GET', url: `${COLLECTION}/${created.id}` });

    expect(removed.statusCode).toBe(204);
    expect(removed.rawPayload.length).toBe(0);
    expect(again.statusCode).toBe(404);
    expect(read.statusCode).toBe(404);
    expect(read.json().error.code).toBe('ResourceNotFound');
  });

  test('other tenant cannot read, change or delete', async () => {
    const created = (await create(SEED_REQUEST)).json();
    const t2Token = await service.token(undefined, T2);
    const url = `${COLLECTION}/${created.id}`;

    const read = await service.request({ method: 'GET', url, token: t2Token });
    const patch = await service.request({
      method: 'PATCH',
      url,
      payload: { model: 'stolen' },
      token: t2Token,
    });
    const removed = await service.request({ method: 'DELETE', url, token: t2Token });
    const mine = await service.request({ method: 'GET', url });

    expect(read.statusCode).toBe(404);
    expect(patch.statusCode).toBe(404);
    expect(removed.statusCode).toBe(404);
    expect(mine.json().model).toBe('Model value');
  });

  test('v1.0 omits and rejects meanResourceSpikeTimeScore', async () => {
    const v1 = '/v1.0/deviceManagement/userExperienceAnalyticsDeviceScores';
    const created = await create({ deviceName: 'v1' }, v1);
    const rejected = await create({ meanResourceSpikeTimeScore: 5 }, v1);
    const beta = await create({ meanResourceSpikeTimeScore: 5 });

    expect(created.statusCode).toBe(201);
    expect(created.json()).not.toHaveProperty('meanResourceSpikeTimeScore');
    expect(created.json()['@odata.context']).toContain('/v1.0/$metadata#');
    expect(rejected.statusCode).toBe(400);
    expect(rejected.json().error.message).toContain('meanResourceSpikeTimeScore');
    expect(beta.json().meanResourceSpikeTimeScore).toBe(5);
  });

  test('read-only token cannot create', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: SEED_REQUEST,
      token: await service.token(READ),
    });

    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('Forbidden');
  });

  test('If-Match with a stale tag is 412 and changes nothing', async () => {
    const created = (await create(SEED_REQUEST)).json();
    const url = `${COLLECTION}/${created.id}`;
    const first = await service.request({
      method: 'PATCH',
      url,
      payload: { model: 'first' },
      headers: { 'if-match': created['@odata.etag'] },
    });

    const stale = await service.request({
      method: 'PATCH',
      url,
      payload: { model: 'second' },
      headers: { 'if-match': created['@odata.etag'] },
    });
    const staleDelete = await service.request({
      method: 'DELETE',
      url,
      headers: { 'if-match': created['@odata.etag'] },
    });
    const read = await service.request({ method: 'GET', url });

    expect(first.statusCode).toBe(204);
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error.code).toBe('PreconditionFailed');
    expect(staleDelete.statusCode).toBe(412);
    expect(read.json().model).toBe('first');
    expect(read.headers.etag).toBe(first.headers.etag);
  });

  test('If-Match star matches any existing entity', async () => {
    const created = (await create(SEED_REQUEST)).json();

    const removed = await service.request({
      method: 'DELETE',
      url: `${COLLECTION}/${created.id}`,
      headers: { 'if-match': '*' },
    });

    expect(removed.statusCode).toBe(204);
  });

  test('If-None-Match with the current tag is 304', async () => {
    const created = (await create(SEED_REQUEST)).json();
    const url = `${COLLECTION}/${created.id}`;

    const cached = await service.request({
      method: 'GET',
      url,
      headers: { 'if-none-match': created['@odata.etag'] },
    });
    const other = await service.request({
      method: 'GET',
      url,
      headers: { 'if-none-match': 'W/"0-0"' },
    });

    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
    expect(other.statusCode).toBe(200);
  });

  test('concurrent PATCHes with one If-Match let one win', async () => {
    const created = (await create(SEED_REQUEST)).json();
    const url = `${COLLECTION}/${created.id}`;

    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        service.request({
          method: 'PATCH',
          url,
          payload: { model: `writer-${index}` },
          headers: { 'if-match': created['@odata.etag'] },
        }),
      ),
    );
    const statuses = results.map((result) => result.statusCode).sort();

    expect(statuses.filter((status) => status === 204)).toHaveLength(1);
    expect(statuses.filter((status) => status === 412)).toHaveLength(7);
  });
});
