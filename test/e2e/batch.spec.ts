import { randomUUID } from 'node:crypto';

import {
  READ,
  READ_WRITE,
  clearTenants,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

const SET = '/deviceManagement/userExperienceAnalyticsDeviceScores';
const JSON_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

interface BatchEntry {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: any;
}

/** Maps the responses array of a batch response by request id. */
function entriesOf(body: { responses: BatchEntry[] }): Map<string, BatchEntry> {
  return new Map(body.responses.map((entry) => [entry.id, entry]));
}

describe('JSON batching', () => {
  const tenant = randomUUID();
  const otherTenant = randomUUID();
  let service: TestApp;
  let writer: string;
  let reader: string;

  beforeAll(async () => {
    service = await startTestApp();
    writer = await service.token(READ_WRITE, tenant);
    reader = await service.token(READ, tenant);
  });

  afterAll(async () => {
    await clearTenants(tenant, otherTenant);
    await service.close();
  });

  function sendBatch(
    requests: unknown[],
    options: { token?: string | null; url?: string; headers?: Record<string, string> } = {},
  ) {
    return service.request({
      method: 'POST',
      url: options.url ?? '/beta/$batch',
      payload: { requests },
      token: options.token === undefined ? writer : options.token,
      headers: options.headers,
    });
  }

  async function createRows(count: number): Promise<void> {
    for (let index = 0; index < count; index += 1) {
      const response = await service.request({
        method: 'POST',
        url: `/beta${SET}`,
        payload: { deviceName: `row-${index}` },
        token: writer,
      });
      expect(response.statusCode).toBe(201);
    }
  }

  async function countRows(tenantId: string): Promise<number> {
    const rows = await queryDatabase<{ count: string }>(
      'SELECT count(*) AS count FROM device_scores WHERE tenant_id = $1',
      [tenantId],
    );
    return Number(rows[0].count);
  }

  test('create then read with dependsOn', async () => {
    const id = randomUUID();
    const response = await sendBatch([
      {
        id: 'create',
        method: 'POST',
        url: SET,
        headers: { 'Content-Type': 'application/json' },
        body: { id, deviceName: 'batch-created', endpointAnalyticsScore: 7.333333333333333 },
      },
      { id: 'read', method: 'GET', url: `${SET}/${id}`, dependsOn: ['create'] },
    ]);

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(JSON_TYPE);
    expect(response.headers['request-id']).toBeDefined();
    const entries = entriesOf(response.json());
    const created = entries.get('create') as BatchEntry;
    expect(created.status).toBe(201);
    expect(created.headers['Content-Type']).toBe(JSON_TYPE);
    expect(created.headers.Location).toBe(`${service.origin}/beta${SET}/${id}`);
    expect(created.headers.ETag).toBe(created.body['@odata.etag']);
    expect(created.body.id).toBe(id);
    expect(created.body.endpointAnalyticsScore).toBe(7.333333333333333);
    expect(created.body['@odata.context']).toBe(
      `${service.origin}/beta/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores/$entity`,
    );
    const read = entries.get('read') as BatchEntry;
    expect(read.status).toBe(200);
    expect(read.body.deviceName).toBe('batch-created');
  });

  test('responses keep request order', async () => {
    const ids = ['c', 'a', 'b'];
    const response = await sendBatch(ids.map((id) => ({ id, method: 'GET', url: SET })));

    expect(response.statusCode).toBe(200);
    expect(response.json().responses.map((entry: BatchEntry) => entry.id)).toEqual(ids);
  });

  test('each inner response has its own status', async () => {
    const id = randomUUID();
    const response = await sendBatch([
      {
        id: '1',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { id, deviceName: 'status-mix' },
      },
      { id: '2', method: 'GET', url: `${SET}/${randomUUID()}`, dependsOn: ['1'] },
      { id: '3', method: 'DELETE', url: `${SET}/${id}`, dependsOn: ['1'] },
      {
        id: '4',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { deviceName: 'bad', endpointAnalyticsScore: '87.5' },
      },
      { id: '5', method: 'DELETE', url: SET },
      {
        id: '6',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'text/plain' },
        body: 'deviceName=plain',
      },
      { id: '7', method: 'get', url: `${SET}/${id}`, dependsOn: ['3'] },
    ]);

    const entries = entriesOf(response.json());
    expect(entries.get('1')?.status).toBe(201);
    const missing = entries.get('2') as BatchEntry;
    expect(missing.status).toBe(404);
    expect(missing.headers['Content-Type']).toMatch(/^application\/json/);
    expect(missing.body.error.code).toBe('ResourceNotFound');
    expect(missing.body.error.innerError['request-id']).toBe(missing.headers['request-id']);
    const deleted = entries.get('3') as BatchEntry;
    expect(deleted.status).toBe(204);
    expect(deleted).not.toHaveProperty('body');
    const invalid = entries.get('4') as BatchEntry;
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('BadRequest');
    expect(invalid.body.error.message).toContain('endpointAnalyticsScore');
    const wrongMethod = entries.get('5') as BatchEntry;
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.Allow).toContain('POST');
    const plainText = entries.get('6') as BatchEntry;
    expect(plainText.status).toBe(415);
    expect(plainText.body.error.code).toBe('UnsupportedMediaType');
    expect(entries.get('7')?.status).toBe(404);
  });

  test('failed dependency gives 424 down the chain', async () => {
    const response = await sendBatch([
      { id: 'missing', method: 'GET', url: `${SET}/${randomUUID()}` },
      {
        id: 'child',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { deviceName: 'never-created' },
        dependsOn: ['missing'],
      },
      { id: 'grandchild', method: 'GET', url: SET, dependsOn: ['child'] },
      { id: 'independent', method: 'GET', url: SET },
    ]);

    const entries = entriesOf(response.json());
    expect(entries.get('missing')?.status).toBe(404);
    const child = entries.get('child') as BatchEntry;
    expect(child.status).toBe(424);
    expect(child.headers['Content-Type']).toBe('application/json');
    expect(child.body.error.code).toBe('FailedDependency');
    expect(child.body.error.message).toContain("'missing'");
    expect(child.body.error.innerError['request-id']).toBe(response.headers['request-id']);
    expect(entries.get('grandchild')?.status).toBe(424);
    expect(entries.get('independent')?.status).toBe(200);
    const rows = await queryDatabase(
      'SELECT 1 FROM device_scores WHERE tenant_id = $1 AND device_name = $2',
      [tenant, 'never-created'],
    );
    expect(rows).toHaveLength(0);
  });

  test('dependsOn runs a later request first', async () => {
    const id = randomUUID();
    const response = await sendBatch([
      { id: 'read', method: 'GET', url: `${SET}/${id}`, dependsOn: ['create'] },
      {
        id: 'create',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { id, deviceName: 'out-of-order' },
      },
    ]);

    const entries = entriesOf(response.json());
    expect(entries.get('create')?.status).toBe(201);
    expect(entries.get('read')?.status).toBe(200);
  });

  test('inner headers reach the service', async () => {
    const id = randomUUID();
    const created = await sendBatch([
      {
        id: 'create',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { id, deviceName: 'headers' },
      },
    ]);
    const etag = (entriesOf(created.json()).get('create') as BatchEntry).headers.ETag;
    const patch = {
      method: 'PATCH',
      url: `${SET}/${id}`,
      headers: { 'content-type': 'application/json', prefer: 'return=representation' },
      body: { model: 'patched' },
    };

    const response = await sendBatch([
      { ...patch, id: 'stale', headers: { ...patch.headers, 'if-match': 'W/"stale"' } },
      { ...patch, id: 'fresh', headers: { ...patch.headers, 'if-match': etag } },
      {
        id: 'bare',
        method: 'GET',
        url: `${SET}/${id}`,
        headers: { accept: 'application/json;odata.metadata=none' },
      },
    ]);

    const entries = entriesOf(response.json());
    expect(entries.get('stale')?.status).toBe(412);
    const fresh = entries.get('fresh') as BatchEntry;
    expect(fresh.status).toBe(200);
    expect(fresh.headers['Preference-Applied']).toBe('return=representation');
    expect(fresh.body.model).toBe('patched');
    expect(fresh.headers.ETag).not.toBe(etag);
    const bare = entries.get('bare') as BatchEntry;
    expect(bare.status).toBe(200);
    expect(bare.body).not.toHaveProperty('@odata.context');
    expect(bare.body.model).toBe('patched');
  });

  test('url forms reach the same resource', async () => {
    const id = randomUUID();
    await sendBatch([
      {
        id: 'create',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { id, deviceName: "O'Brien laptop" },
      },
      {
        id: 'unicode',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { deviceName: 'Café #1' },
      },
    ]);

    const response = await sendBatch([
      { id: 'no-slash', method: 'GET', url: `${SET.slice(1)}/${id}` },
      { id: 'version', method: 'GET', url: `/beta${SET}/${id}` },
      { id: 'key', method: 'GET', url: `${SET}('${id}')` },
      { id: 'spaces', method: 'GET', url: `${SET}?$filter=deviceName eq 'O''Brien laptop'` },
      { id: 'count', method: 'GET', url: `${SET}/$count?$filter=id eq ${id}` },
      { id: 'unicode', method: 'GET', url: `${SET}?$filter=deviceName eq 'Café #1'` },
    ]);

    const entries = entriesOf(response.json());
    for (const name of ['no-slash', 'version', 'key']) {
      expect(entries.get(name)?.status).toBe(200);
      expect(entries.get(name)?.body.id).toBe(id);
    }
    const filtered = entries.get('spaces') as BatchEntry;
    expect(filtered.status).toBe(200);
    expect(filtered.body.value.map((item: { id: string }) => item.id)).toEqual([id]);
    const count = entries.get('count') as BatchEntry;
    expect(count.status).toBe(200);
    expect(count.headers['Content-Type']).toMatch(/^text\/plain/);
    expect(count.body).toBe('1');
    const unicode = entries.get('unicode') as BatchEntry;
    expect(unicode.status).toBe(200);
    expect(unicode.body.value.map((item: { deviceName: string }) => item.deviceName)).toEqual([
      'Café #1',
    ]);
  });

  test('v1.0 and bare surfaces', async () => {
    await createRows(1);
    const v1 = await sendBatch([{ id: '1', method: 'GET', url: `${SET}?$top=1` }], {
      url: '/v1.0/$batch',
    });
    const bare = await sendBatch([{ id: '1', method: 'GET', url: `${SET}?$top=1` }], {
      url: '/$batch',
    });

    const v1Entry = v1.json().responses[0];
    expect(v1Entry.status).toBe(200);
    expect(v1Entry.body['@odata.context']).toBe(
      `${service.origin}/v1.0/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores`,
    );
    expect(v1Entry.body.value[0]).not.toHaveProperty('meanResourceSpikeTimeScore');
    const bareEntry = bare.json().responses[0];
    expect(bareEntry.status).toBe(200);
    expect(bareEntry.body['@odata.context']).toBe(
      `${service.origin}/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores`,
    );
    expect(bareEntry.body.value[0]).toHaveProperty('meanResourceSpikeTimeScore');
  });

  test('next links follow the batch host', async () => {
    await createRows(2);
    const response = await sendBatch([{ id: '1', method: 'GET', url: `${SET}?$top=1` }], {
      headers: { host: 'analytics.example.test:8443' },
    });

    const entry = response.json().responses[0];
    expect(entry.status).toBe(200);
    expect(entry.body['@odata.nextLink']).toMatch(
      /^http:\/\/analytics\.example\.test:8443\/beta\/deviceManagement\/userExperienceAnalyticsDeviceScores\?/,
    );
  });

  test('metadata document as text', async () => {
    const response = await sendBatch([{ id: 'm', method: 'GET', url: '/$metadata' }]);

    const entry = response.json().responses[0];
    expect(entry.status).toBe(200);
    expect(entry.headers['Content-Type']).toMatch(/^application\/xml/);
    expect(entry.body).toContain('<edmx:Edmx');
  });

  test('client-request-id reaches every inner request', async () => {
    const response = await sendBatch(
      [
        { id: 'outer', method: 'GET', url: SET },
        { id: 'own', method: 'GET', url: SET, headers: { 'client-request-id': 'inner-id-1' } },
      ],
      { headers: { 'client-request-id': 'batch-id-1' } },
    );

    expect(response.headers['client-request-id']).toBe('batch-id-1');
    const entries = entriesOf(response.json());
    expect(entries.get('outer')?.headers['client-request-id']).toBe('batch-id-1');
    expect(entries.get('own')?.headers['client-request-id']).toBe('inner-id-1');
    expect(entries.get('outer')?.headers['request-id']).not.toBe(response.headers['request-id']);
  });

  test('read-only token gets 403 on writes', async () => {
    const response = await sendBatch(
      [
        { id: 'read', method: 'GET', url: SET },
        {
          id: 'write',
          method: 'POST',
          url: SET,
          headers: { 'content-type': 'application/json' },
          body: { deviceName: 'read-only-attempt' },
        },
      ],
      { token: reader },
    );

    expect(response.statusCode).toBe(200);
    const entries = entriesOf(response.json());
    expect(entries.get('read')?.status).toBe(200);
    const write = entries.get('write') as BatchEntry;
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('Forbidden');
  });

  test('token tenant applies to inner requests', async () => {
    const id = randomUUID();
    await sendBatch([
      {
        id: 'create',
        method: 'POST',
        url: SET,
        headers: { 'content-type': 'application/json' },
        body: { id, deviceName: 'tenant-a' },
      },
    ]);
    const other = await service.token(READ_WRITE, otherTenant);

    const response = await sendBatch(
      [
        { id: 'get', method: 'GET', url: `${SET}/${id}` },
        { id: 'delete', method: 'DELETE', url: `${SET}/${id}` },
      ],
      { token: other },
    );

    const entries = entriesOf(response.json());
    expect(entries.get('get')?.status).toBe(404);
    expect(entries.get('delete')?.status).toBe(404);
    const rows = await queryDatabase('SELECT 1 FROM device_scores WHERE id = $1', [id]);
    expect(rows).toHaveLength(1);
  });

  test('batch without token is 401', async () => {
    const response = await sendBatch([{ id: '1', method: 'GET', url: SET }], { token: null });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
    expect(response.json().error.code).toBe('InvalidAuthenticationToken');
  });

  test('batch with a token without permissions is 403', async () => {
    const token = await service.issuer.mint({ tid: tenant, scp: 'User.Read' });

    const response = await sendBatch([{ id: '1', method: 'GET', url: SET }], { token });

    expect(response.statusCode).toBe(403);
    expect(response.json().error.code).toBe('Forbidden');
  });

  test('batch body must be JSON', async () => {
    const response = await service.request({
      method: 'POST',
      url: '/beta/$batch',
      headers: { 'content-type': 'text/plain' },
      payload: 'requests',
      token: writer,
    });

    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe('UnsupportedMediaType');
  });

  const JSON_HEADERS = { 'content-type': 'application/json' };
  const get = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    method: 'GET',
    url: SET,
    ...extra,
  });
  const malformed: [string, unknown, string][] = [
    ['body is an array', [], '"requests" array'],
    ['requests missing', {}, '"requests" array'],
    ['requests not an array', { requests: {} }, '"requests" array'],
    ['unknown top-level property', { requests: [get('1')], atomic: true }, "'atomic'"],
    ['no requests', { requests: [] }, 'no requests'],
    [
      'more than 20 requests',
      { requests: Array.from({ length: 21 }, (_, index) => get(String(index))) },
      'maximum of 20',
    ],
    ['request not an object', { requests: ['GET /x'] }, 'index 0'],
    ['missing id', { requests: [{ method: 'GET', url: SET }] }, 'no "id"'],
    ['empty id', { requests: [get('')] }, 'no "id"'],
    ['numeric id', { requests: [{ ...get('1'), id: 1 }] }, 'no "id"'],
    ['duplicate ids', { requests: [get('1'), get('1')] }, 'more than one request'],
    ['missing method', { requests: [{ id: '1', url: SET }] }, 'no "method"'],
    ['PUT method', { requests: [get('1', { method: 'PUT' })] }, "'PUT'"],
    ['missing url', { requests: [{ id: '1', method: 'GET' }] }, 'no "url"'],
    [
      'absolute http url',
      { requests: [get('1', { url: `https://graph.microsoft.com/beta${SET}` })] },
      'absolute',
    ],
    ['protocol-relative url', { requests: [get('1', { url: `//evil.test${SET}` })] }, 'absolute'],
    ['other version', { requests: [get('1', { url: `/v1.0${SET}` })] }, 'v1.0 API'],
    ['dot-dot segment', { requests: [get('1', { url: `${SET}/../../health/live` })] }, "'..'"],
    [
      'encoded dot-dot segment',
      { requests: [get('1', { url: `/deviceManagement/%2e%2e/health/live` })] },
      "'..'",
    ],
    ['empty segment', { requests: [get('1', { url: `/deviceManagement//x` })] }, 'empty path'],
    ['health check', { requests: [get('1', { url: '/health/live' })] }, 'not a resource'],
    ['nested batch', { requests: [get('1', { method: 'POST', url: '/$batch' })] }, 'nested'],
    ['bad percent-encoding', { requests: [get('1', { url: `/%E0%A4%A${SET}` })] }, 'percent'],
    [
      'body without content type',
      { requests: [get('1', { method: 'POST', body: { deviceName: 'x' } })] },
      'no Content-Type',
    ],
    ['headers not an object', { requests: [get('1', { headers: ['a'] })] }, '"headers"'],
    [
      'header not a string',
      { requests: [get('1', { headers: { prefer: 1 } })] },
      'must be a string',
    ],
    [
      'header with a line break',
      { requests: [get('1', { headers: { prefer: 'a\r\nx-injected: 1' } })] },
      'line breaks',
    ],
    ['invalid header name', { requests: [get('1', { headers: { 'a b': 'x' } })] }, 'is invalid'],
    [
      'inner authorization header',
      { requests: [get('1', { headers: { Authorization: 'Bearer other' } })] },
      "'Authorization'",
    ],
    [
      'inner forwarded host',
      { requests: [get('1', { headers: { 'X-Forwarded-Host': 'evil.test' } })] },
      "'X-Forwarded-Host'",
    ],
    ['dependsOn not an array', { requests: [get('1', { dependsOn: '2' })] }, '"dependsOn"'],
    ['dependsOn unknown id', { requests: [get('1', { dependsOn: ['9'] })] }, "'9'"],
    ['dependsOn itself', { requests: [get('1', { dependsOn: ['1'] })] }, 'itself'],
    [
      'dependsOn cycle',
      {
        requests: [
          get('1', { dependsOn: ['3'] }),
          get('2', { dependsOn: ['1'] }),
          get('3', { dependsOn: ['2'] }),
        ],
      },
      'cycle',
    ],
    [
      'unknown item property',
      { requests: [get('1', { atomicityGroup: 'g' })] },
      "'atomicityGroup'",
    ],
  ];

  test.each(malformed)('malformed batch: %s', async (_name, payload, message) => {
    const response = await service.request({
      method: 'POST',
      url: '/beta/$batch',
      payload,
      token: writer,
    });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/json\b/);
    const error = response.json().error;
    expect(error.code).toBe('BadRequest');
    expect(error.message).toContain(message);
    expect(error.innerError['request-id']).toBe(response.headers['request-id']);
  });

  test('malformed batch sends nothing', async () => {
    const before = await countRows(tenant);

    const response = await sendBatch([
      {
        id: 'valid',
        method: 'POST',
        url: SET,
        headers: JSON_HEADERS,
        body: { deviceName: 'must-not-exist' },
      },
      { id: 'invalid', method: 'GET', url: 'https://example.test/beta/x' },
    ]);

    expect(response.statusCode).toBe(400);
    expect(await countRows(tenant)).toBe(before);
  });
});

describe('JSON batching and rate limits', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '4', THROTTLE_WRITES: '2' });
  });

  afterAll(async () => {
    await service.close();
  });

  function sendBatch(token: string, requests: unknown[]) {
    return service.request({
      method: 'POST',
      url: '/beta/$batch',
      payload: { requests },
      token,
    });
  }

  const read = (id: string) => ({ id, method: 'GET', url: SET });
  const write = (id: string) => ({
    id,
    method: 'POST',
    url: SET,
    headers: { 'content-type': 'application/json' },
    body: { deviceName: `throttle-${id}` },
  });

  test('each inner request counts once', async () => {
    const tenant = randomUUID();
    const token = await service.token(READ_WRITE, tenant);

    const response = await sendBatch(token, ['1', '2', '3', '4', '5'].map(read));

    expect(response.statusCode).toBe(200);
    const statuses = response.json().responses.map((entry: BatchEntry) => entry.status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const throttled = response.json().responses[4];
    expect(throttled.headers['Retry-After']).toMatch(/^[1-9]\d*$/);
    expect(throttled.body.error.code).toBe('TooManyRequests');
    await clearTenants(tenant);
  });

  test('inner writes count against writes', async () => {
    const tenant = randomUUID();
    const token = await service.token(READ_WRITE, tenant);

    const writes = await sendBatch(token, ['1', '2', '3'].map(write));
    const reads = await sendBatch(token, [read('4')]);

    expect(writes.json().responses.map((entry: BatchEntry) => entry.status)).toEqual([
      201, 201, 429,
    ]);
    // The fourth request of the window: neither batch envelope counted as a request or a write.
    expect(reads.json().responses[0].status).toBe(200);
    await clearTenants(tenant);
  });
});
