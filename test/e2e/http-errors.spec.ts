import net from 'node:net';

import { COLLECTION, T1, clearTenants, startTestApp, type TestApp } from '../support/test-app.js';

describe('HTTP errors before the handler', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp({ BODY_LIMIT_BYTES: '2048' });
  });

  afterAll(async () => {
    await clearTenants(T1);
    await service.close();
  });

  function expectEnvelope(
    response: { headers: Record<string, unknown>; json(): any },
    code: string,
  ) {
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(body.error.innerError['request-id']).toBe(response.headers['request-id']);
    expect(body.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(js|ts):\d+/);
  }

  test('unknown route is 404 envelope', async () => {
    const response = await service.request({ method: 'GET', url: '/beta/nothing/here' });

    expect(response.statusCode).toBe(404);
    expectEnvelope(response, 'ResourceNotFound');
  });

  test('unsupported method is 405 envelope', async () => {
    const put = await service.request({ method: 'PUT', url: COLLECTION, payload: {} });
    const patchCollection = await service.request({
      method: 'PATCH',
      url: COLLECTION,
      payload: {},
    });

    expect(put.statusCode).toBe(405);
    expectEnvelope(put, 'MethodNotAllowed');
    expect(patchCollection.statusCode).toBe(405);
  });

  test('malformed JSON is 400 envelope', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: '{"deviceName": ',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(400);
    expectEnvelope(response, 'BadRequest');
  });

  test('empty JSON body is 400 envelope', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: '',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(400);
    expectEnvelope(response, 'BadRequest');
  });

  test.each([
    'text/plain',
    'application/xml',
    'application/x-www-form-urlencoded',
    'application/jsonx',
  ])('content type %s is 415 envelope', async (contentType) => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: '{}',
      headers: { 'content-type': contentType },
    });

    expect(response.statusCode).toBe(415);
    expectEnvelope(response, 'UnsupportedMediaType');
  });

  test('JSON content type in any case with parameters is accepted', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: '{}',
      headers: { 'content-type': 'Application/JSON; charset=UTF-8' },
    });

    expect(response.statusCode).toBe(201);
  });

  test('non-UTF-8 charset is 415', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: '{}',
      headers: { 'content-type': 'application/json; charset=latin1' },
    });

    expect(response.statusCode).toBe(415);
  });

  test('body over the limit is 413 envelope', async () => {
    const response = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: JSON.stringify({ deviceName: 'x'.repeat(4000) }),
      headers: { 'content-type': 'application/json' },
    });

    expect(response.statusCode).toBe(413);
    expectEnvelope(response, 'RequestEntityTooLarge');
  });

  test('missing token is 401 with WWW-Authenticate', async () => {
    const response = await service.request({ method: 'GET', url: COLLECTION, token: null });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expectEnvelope(response, 'InvalidAuthenticationToken');
  });

  test('client-request-id is echoed', async () => {
    const response = await service.request({
      method: 'GET',
      url: COLLECTION,
      headers: { 'client-request-id': 'abc-123' },
    });

    expect(response.headers['client-request-id']).toBe('abc-123');
    expect(response.headers['request-id']).not.toBe('abc-123');
  });
});

describe('security headers', () => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp();
  });

  afterAll(async () => {
    await service.close();
  });

  test('responses carry helmet headers', async () => {
    const response = await service.request({ method: 'GET', url: COLLECTION });

    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['strict-transport-security']).toBeUndefined();
  });

  test('error responses carry helmet headers too', async () => {
    const response = await service.request({ method: 'GET', url: '/nowhere', token: null });

    expect(response.statusCode).toBe(404);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  /** Sends `request` as it is and returns the status line and header block of the response. */
  function sendRawHead(request: string): Promise<string> {
    const { hostname, port } = new URL(service.origin);

    return new Promise((resolve, reject) => {
      let received = '';
      const socket = net.connect(Number(port), hostname, () => socket.write(request));
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(received.split('\r\n\r\n')[0]));
    });
  }

  test.each([
    ['a missing Host header', `GET ${COLLECTION} HTTP/1.1\r\nConnection: close\r\n\r\n`, 400],
    [
      'a malformed percent-encoding',
      `GET ${COLLECTION}/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      400,
    ],
    [
      'a path segment over the length limit',
      `GET ${COLLECTION}/${'a'.repeat(600)} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      404,
    ],
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
  ])('rejection before routing for %s carries them', async (_case, request, status) => {
    const head = await sendRawHead(request);

    expect(head.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(head).toMatch(/^x-content-type-options: nosniff$/im);
    expect(head).toMatch(/^content-security-policy: /im);
    expect(head).toMatch(/^x-frame-options: SAMEORIGIN$/im);
  });
});
