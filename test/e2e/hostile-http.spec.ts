import { randomUUID } from 'node:crypto';
import net from 'node:net';

import type { HttpResponse } from '../support/http-client.js';
import { READ_WRITE, queryDatabase, startTestApp, type TestApp } from '../support/test-app.js';

const COLLECTION = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
const V1_COLLECTION = '/v1.0/deviceManagement/userExperienceAnalyticsDeviceScores';
const TENANT = randomUUID();

/** Limits of a decoded `$filter` that the API documents: bytes, nesting levels and nodes. */
const MAX_FILTER_BYTES = 16384;
const MAX_FILTER_NESTING = 50;
const MAX_FILTER_NODES = 1000;

/**
 * Maximum wait for the service to respond to or close a stalled connection: its request timeout
 * (30 s), plus up to one more interval of Node's timeout check (30 s), plus a margin.
 */
const STALLED_CONNECTION_WAIT_MS = 75_000;

/** One response as read from a raw socket. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What a raw exchange produced: the responses in order and whether the server closed. */
interface RawExchange {
  responses: RawResponse[];
  closed: boolean;
  bytes: number;
}

/** Reads the header block and body of one response at `offset`, or undefined if incomplete. */
function parseResponseAt(
  data: Buffer,
  offset: number,
): { response: RawResponse; end: number } | undefined {
  const headerEnd = data.indexOf('\r\n\r\n', offset);
  if (headerEnd === -1) {
    return undefined;
  }
  const [statusLine, ...headerLines] = data
    .subarray(offset, headerEnd)
    .toString('latin1')
    .split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }

  let position = headerEnd + 4;
  let body: Buffer = Buffer.alloc(0);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = data.indexOf('\r\n', position);
      if (lineEnd === -1) {
        return undefined;
      }
      const size = parseInt(data.subarray(position, lineEnd).toString('latin1'), 16);
      position = lineEnd + 2;
      if (size === 0) {
        position += 2;
        break;
      }
      chunks.push(data.subarray(position, position + size));
      position += size + 2;
    }
    body = Buffer.concat(chunks);
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    body = data.subarray(position, position + length);
    position += length;
  } else {
    body = data.subarray(position);
    position = data.length;
  }

  return { response: { status, headers, body: body.toString('utf8') }, end: position };
}

function parseResponses(data: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const parsed = parseResponseAt(data, offset);
    if (parsed === undefined) {
      break;
    }
    responses.push(parsed.response);
    offset = parsed.end;
  }

  return responses;
}

/**
 * Writes `request` on a new connection to `port` and collects what comes back until the server
 * closes the connection or `waitMs` passes, whichever is first.
 */
function exchangeRaw(port: number, request: string | Buffer, waitMs = 5_000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ responses: parseResponses(data), closed, bytes: data.length });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
  });
}

function expectGraphEnvelope(
  response: { status: number; headers: Record<string, unknown>; body: string },
  status?: number,
): void {
  if (status === undefined) {
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  } else {
    expect(response.status).toBe(status);
  }
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.body);
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  expect(body.error.innerError['request-id']).toBe(response.headers['request-id']);
  expect(body.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
}

/** Checks that unparseable HTTP got Graph 4xx envelopes only, or just a closed connection. */
function expectEnvelopeOrClosed(exchange: RawExchange): void {
  for (const response of exchange.responses) {
    expectGraphEnvelope(response);
  }
  expect(exchange.closed).toBe(true);
}

function asRaw(response: HttpResponse): RawResponse {
  return {
    status: response.statusCode,
    headers: response.headers as Record<string, string>,
    body: response.body,
  };
}

/** Nests `inner` in `depth` JSON arrays. */
function nestedArrays(depth: number, inner = '1'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

describe('hostile HTTP', () => {
  let service: TestApp;
  let port: number;
  let token: string;

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '100000', THROTTLE_WRITES: '100000' });
    port = Number(new URL(service.origin).port);
    token = await service.token(READ_WRITE, TENANT);
  });

  afterEach(async () => {
    // Whatever the test sent, the service must still serve an ordinary request.
    const live = await service.request({ method: 'GET', url: '/health/live', token: null });
    const list = await service.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token });

    expect(live.statusCode).toBe(200);
    expect(list.statusCode).toBe(200);
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [TENANT]);
    await service.close();
  });

  /** Builds a raw request with the caller's token. `head` contains the extra header lines. */
  function rawRequest(requestLine: string, head: string[] = [], body = ''): string {
    return [
      requestLine,
      'Host: 127.0.0.1',
      `Authorization: Bearer ${token}`,
      ...head,
      'Connection: close',
      '',
      body,
    ].join('\r\n');
  }

  function post(payload: string | Buffer, headers: Record<string, string> = {}) {
    return service.request({
      method: 'POST',
      url: COLLECTION,
      payload,
      headers: { 'content-type': 'application/json', ...headers },
      token,
    });
  }

  async function countTenantRows(): Promise<number> {
    const rows = await queryDatabase<{ count: number }>(
      'SELECT count(*)::int AS count FROM device_scores WHERE tenant_id = $1',
      [TENANT],
    );

    return rows[0].count;
  }

  async function countRows(id: string): Promise<number> {
    const rows = await queryDatabase<{ count: number }>(
      'SELECT count(*)::int AS count FROM device_scores WHERE tenant_id = $1 AND id = $2',
      [TENANT, id],
    );

    return rows[0].count;
  }

  describe('request line', () => {
    test.each([
      ['lower-case method', `get ${COLLECTION} HTTP/1.1`],
      ['unknown method', `FOO ${COLLECTION} HTTP/1.1`],
      ['method with a space', `G ET ${COLLECTION} HTTP/1.1`],
      ['unknown protocol version', `GET ${COLLECTION} HTTP/9.9`],
      ['space in the target', `GET ${COLLECTION}/a b HTTP/1.1`],
      ['control character in the target', `GET ${COLLECTION}/\x01 HTTP/1.1`],
    ])('%s gets an envelope or a close', async (_case, requestLine) => {
      const exchange = await exchangeRaw(port, rawRequest(requestLine));

      expectEnvelopeOrClosed(exchange);
    });

    test.each(['PROPFIND', 'TRACE', 'OPTIONS', 'PUT', 'LOCK', 'SEARCH', 'PURGE'])(
      'method %s on the collection is a Graph 4xx',
      async (method) => {
        const response = await service.request({ method, url: COLLECTION, token });

        expectGraphEnvelope(asRaw(response));
      },
    );

    test('CONNECT gets an envelope or a close', async () => {
      const exchange = await exchangeRaw(port, rawRequest('CONNECT 127.0.0.1:1 HTTP/1.1'));

      expectEnvelopeOrClosed(exchange);
    });

    test('HTTP/2 preface gets an envelope or a close', async () => {
      const exchange = await exchangeRaw(port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

      expectEnvelopeOrClosed(exchange);
    });

    test('binary garbage gets an envelope or a close', async () => {
      const exchange = await exchangeRaw(
        port,
        Buffer.from([0, 1, 2, 0xff, 0x16, 0x03, 0x01, 13, 10, 13, 10]),
      );

      expectEnvelopeOrClosed(exchange);
    });

    test('HTTP/1.1 without Host gets an envelope or a close', async () => {
      const request = [
        `GET ${COLLECTION} HTTP/1.1`,
        `Authorization: Bearer ${token}`,
        'Connection: close',
        '',
        '',
      ].join('\r\n');

      expectEnvelopeOrClosed(await exchangeRaw(port, request));
    });
  });

  describe('framing', () => {
    test.each([
      ['two different Content-Length', ['Content-Length: 2', 'Content-Length: 3'], '{}'],
      ['two equal Content-Length', ['Content-Length: 2', 'Content-Length: 2'], '{}'],
      ['a Content-Length list', ['Content-Length: 2, 2'], '{}'],
      ['a negative Content-Length', ['Content-Length: -1'], '{}'],
      ['a Content-Length with a sign', ['Content-Length: +2'], '{}'],
      [
        'Content-Length and chunked',
        ['Content-Length: 2', 'Transfer-Encoding: chunked'],
        '2\r\n{}\r\n0\r\n\r\n',
      ],
      ['an invalid chunk size', ['Transfer-Encoding: chunked'], 'zz\r\n{}\r\n0\r\n\r\n'],
      ['a chunk longer than declared', ['Transfer-Encoding: chunked'], '2\r\n{}XX\r\n0\r\n\r\n'],
      [
        'a chunk size overflow',
        ['Transfer-Encoding: chunked'],
        'ffffffffffffffffff\r\n{}\r\n0\r\n\r\n',
      ],
      ['an unknown transfer coding', ['Transfer-Encoding: xchunked'], '2\r\n{}\r\n0\r\n\r\n'],
      ['chunked not last', ['Transfer-Encoding: chunked, identity'], '2\r\n{}\r\n0\r\n\r\n'],
      ['a space before the colon', ['Content-Length : 2'], '{}'],
      ['a folded header', ['Content-Length: 2', 'X-Folded: a', ' b'], '{}'],
      ['a NUL in a header value', ['Content-Length: 2', 'X-Nul: a\x00b'], '{}'],
    ])('%s gets an envelope or a close', async (_case, head, body) => {
      const rowsBefore = await countTenantRows();
      const request = rawRequest(
        `POST ${COLLECTION} HTTP/1.1`,
        ['Content-Type: application/json', ...head],
        body,
      );

      const exchange = await exchangeRaw(port, request);

      expectEnvelopeOrClosed(exchange);
      expect(await countTenantRows()).toBe(rowsBefore);
    });

    test('smuggled request after conflicting framing is never served', async () => {
      const smuggled = `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      const request = rawRequest(
        `POST ${COLLECTION} HTTP/1.1`,
        ['Content-Type: application/json', 'Content-Length: 5', 'Transfer-Encoding: chunked'],
        `0\r\n\r\n${smuggled}`,
      );

      const exchange = await exchangeRaw(port, request);

      expect(exchange.responses.filter((response) => response.status === 200)).toEqual([]);
      expectEnvelopeOrClosed(exchange);
    });

    test('chunked body over the limit is 413', async () => {
      const chunk = 'x'.repeat(64 * 1024);
      const body = `${'{"deviceName":"'}`;
      const chunks = [body, ...Array(20).fill(chunk)]
        .map((part: string) => `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`)
        .join('');
      const request = rawRequest(
        `POST ${COLLECTION} HTTP/1.1`,
        ['Content-Type: application/json', 'Transfer-Encoding: chunked'],
        `${chunks}0\r\n\r\n`,
      );

      const exchange = await exchangeRaw(port, request);

      expect(exchange.responses).toHaveLength(1);
      expectGraphEnvelope(exchange.responses[0], 413);
    });

    test.each([
      ['one large header', [`X-Large: ${'a'.repeat(200_000)}`]],
      ['many headers', Array.from({ length: 10_000 }, (_, index) => `X-Header-${index}: value`)],
      ['a long request target', []],
    ])('oversized head with %s gets an envelope or a close', async (name, head) => {
      const target =
        name === 'a long request target' ? `${COLLECTION}?x=${'a'.repeat(200_000)}` : COLLECTION;
      const exchange = await exchangeRaw(port, rawRequest(`GET ${target} HTTP/1.1`, head));

      expectEnvelopeOrClosed(exchange);
    });

    test('long client-request-id is not echoed', async () => {
      const offered = 'c'.repeat(4000);
      const response = await service.request({
        method: 'GET',
        url: '/nothing/here',
        headers: { 'client-request-id': offered },
        token,
      });

      expectGraphEnvelope(asRaw(response), 404);
      expect(response.headers['client-request-id']).not.toBe(offered);
      expect(response.body).not.toContain(offered);
    });
  });

  describe('URL encoding and ids', () => {
    test.each([
      ['%zz in the path', `${COLLECTION}/%zz`, 400],
      ['%zz in the key form', `${COLLECTION}('%zz')`, 400],
      ['a truncated escape in the path', `${COLLECTION}/%e`, 400],
      ['%00 in the path', `${COLLECTION}/%00`, 404],
      ['%00 in the key form', `${COLLECTION}('%00')`, 404],
      ['an encoded slash in the id', `${COLLECTION}/a%2Fb`, 404],
      ['an encoded dot segment', `${COLLECTION}/%2e%2e`, 404],
      ['invalid UTF-8 in the path', `${COLLECTION}/%ff%fe`, 400],
      ['%zz in the query', `${COLLECTION}?$filter=%zz`, 400],
      ['%00 in a $filter literal', `${COLLECTION}?$filter=deviceName%20eq%20'%00'`, 400],
      ['%00 in $search', `${COLLECTION}?$search=a%00b`, 400],
      ['%00 in an option name', `${COLLECTION}?$fil%00ter=true`, 400],
      ['a lone surrogate in $filter', `${COLLECTION}?$filter=deviceName%20eq%20'%ED%A0%80'`, 400],
    ])('%s is a Graph error', async (_case, url, status) => {
      const response = await service.request({ method: 'GET', url, token });

      expectGraphEnvelope(asRaw(response), status);
    });

    test.each([100, 500, 501, 2000, 10_000])('id of %i characters is 404', async (length) => {
      const id = 'a'.repeat(length);
      for (const url of [`${COLLECTION}/${id}`, `${COLLECTION}('${id}')`]) {
        const get = await service.request({ method: 'GET', url, token });
        const patch = await service.request({ method: 'PATCH', url, payload: {}, token });
        const remove = await service.request({ method: 'DELETE', url, token });

        expectGraphEnvelope(asRaw(get), 404);
        expectGraphEnvelope(asRaw(patch), 404);
        expectGraphEnvelope(asRaw(remove), 404);
      }
    });

    test('full-URL target keeps the v1.0 surface', async () => {
      const created = await post(JSON.stringify({ deviceName: 'absolute-form' }));
      const id = created.json().id as string;
      const request = rawRequest(`GET http://attacker.invalid${V1_COLLECTION}/${id} HTTP/1.1`);

      const exchange = await exchangeRaw(port, request);

      expect(exchange.responses).toHaveLength(1);
      const [response] = exchange.responses;
      expect(response.status).toBe(200);
      const entity = JSON.parse(response.body);
      expect(entity['@odata.context']).toBe(
        'http://127.0.0.1/v1.0/$metadata#deviceManagement/userExperienceAnalyticsDeviceScores/$entity',
      );
      expect(entity).not.toHaveProperty('meanResourceSpikeTimeScore');
      expect(response.body).not.toContain('attacker.invalid');
    });

    test('full-URL target with an unsupported method is 405', async () => {
      const request = rawRequest(`PUT http://attacker.invalid${COLLECTION} HTTP/1.1`, [
        'Content-Length: 0',
      ]);

      const exchange = await exchangeRaw(port, request);

      expect(exchange.responses).toHaveLength(1);
      expectGraphEnvelope(exchange.responses[0], 405);
    });
  });

  describe('slow clients', () => {
    test('held connections do not block other requests', async () => {
      const sockets: net.Socket[] = [];
      try {
        for (let index = 0; index < 50; index += 1) {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('error', () => undefined);
          socket.write(
            index % 2 === 0
              ? `POST ${COLLECTION} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"deviceName"`
              : `GET ${COLLECTION} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a`,
          );
          sockets.push(socket);
        }

        const responses = await Promise.all(
          Array.from({ length: 5 }, () =>
            service.request({ method: 'GET', url: `${COLLECTION}?$top=1`, token }),
          ),
        );

        expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
      } finally {
        for (const socket of sockets) {
          socket.destroy();
        }
      }
    });

    test(
      'stalled requests get a response or a close',
      async () => {
        const stalledBody = exchangeRaw(
          port,
          rawRequest(
            `POST ${COLLECTION} HTTP/1.1`,
            ['Content-Type: application/json', 'Content-Length: 1000'],
            '{"deviceName"',
          ).replace(/\r\n$/, ''),
          STALLED_CONNECTION_WAIT_MS,
        );
        const stalledHeaders = exchangeRaw(
          port,
          `GET ${COLLECTION} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a`,
          STALLED_CONNECTION_WAIT_MS,
        );
        const silent = exchangeRaw(port, '', STALLED_CONNECTION_WAIT_MS);

        for (const exchange of await Promise.all([stalledBody, stalledHeaders, silent])) {
          expectEnvelopeOrClosed(exchange);
        }
      },
      STALLED_CONNECTION_WAIT_MS + 15_000,
    );
  });

  describe('headers of the body', () => {
    test.each([
      ['JSON first', ['Content-Type: application/json', 'Content-Type: text/plain']],
      ['JSON second', ['Content-Type: text/plain', 'Content-Type: application/json']],
      ['JSON twice', ['Content-Type: application/json', 'Content-Type: application/json']],
    ])('two Content-Type headers with %s are rejected', async (_case, head) => {
      const id = randomUUID();
      const body = JSON.stringify({ id });
      const request = rawRequest(
        `POST ${COLLECTION} HTTP/1.1`,
        [...head, `Content-Length: ${body.length}`],
        body,
      );

      const exchange = await exchangeRaw(port, request);

      expect(exchange.responses).toHaveLength(1);
      expectGraphEnvelope(exchange.responses[0]);
      expect([400, 415]).toContain(exchange.responses[0].status);
      expect(await countRows(id)).toBe(0);
    });
  });

  describe('JSON bodies', () => {
    test.each([
      ['a lone continuation byte', [0x80]],
      ['an invalid lead byte', [0xff, 0xfe]],
      ['a truncated sequence', [0xe2, 0x82]],
      ['an overlong slash', [0xc0, 0xaf]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ])('invalid UTF-8 with %s is 400', async (_case, bytes) => {
      const id = randomUUID();
      const body = Buffer.concat([
        Buffer.from(`{"id":"${id}","deviceName":"a`),
        Buffer.from(bytes),
        Buffer.from('"}'),
      ]);

      const response = await post(body);

      expectGraphEnvelope(asRaw(response), 400);
      expect(await countRows(id)).toBe(0);
    });

    test.each([
      ['__proto__ with a value', '{"__proto__":{"polluted":true}}'],
      ['__proto__ beside a property', '{"deviceName":"x","__proto__":{"deviceName":"y"}}'],
      ['constructor', '{"constructor":{"prototype":{"polluted":true}}}'],
      ['prototype', '{"prototype":{"polluted":true}}'],
      ['toString', '{"toString":"x"}'],
      ['hasOwnProperty', '{"hasOwnProperty":1}'],
    ])('%s key is 400 and pollutes nothing', async (_case, body) => {
      const response = await post(body);

      expectGraphEnvelope(asRaw(response), 400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('deviceName');
    });

    test('__proto__ inside ignored control information pollutes nothing', async () => {
      const response = await post(
        '{"@odata.context":{"__proto__":{"polluted":true}},"deviceName":"ctl"}',
      );

      expect(response.statusCode).toBe(201);
      expect(response.json().deviceName).toBe('ctl');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    test('JSON with a byte order mark is accepted', async () => {
      const response = await post(
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"deviceName":"bom"}')]),
      );

      expect(response.statusCode).toBe(201);
      expect(response.json().deviceName).toBe('bom');
    });

    test.each([
      ['only a byte order mark', Buffer.from([0xef, 0xbb, 0xbf])],
      ['two byte order marks', Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x7b, 0x7d])],
      ['a UTF-16 byte order mark', Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00])],
    ])('body with %s is 400', async (_case, body) => {
      const response = await post(body);

      expectGraphEnvelope(asRaw(response), 400);
    });

    test.each(['1e400', '-1e400', '1e999999999', '1' + '0'.repeat(400)])(
      'score %s is 400',
      async (number) => {
        const id = randomUUID();
        const response = await post(`{"id":"${id}","endpointAnalyticsScore":${number}}`);

        expectGraphEnvelope(asRaw(response), 400);
        expect(await countRows(id)).toBe(0);
      },
    );

    test('score 1e-400 is stored as 0', async () => {
      const response = await post('{"endpointAnalyticsScore":1e-400}');

      expect(response.statusCode).toBe(201);
      expect(response.json().endpointAnalyticsScore).toBe(0);
    });

    test.each([
      ['arrays in a text property', `{"deviceName":${nestedArrays(100_000)}}`],
      ['objects in a text property', `{"model":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`],
      ['arrays in a score', `{"endpointAnalyticsScore":${nestedArrays(100_000)}}`],
      ['arrays at the top', nestedArrays(300_000)],
      ['arrays in control information', `{"@odata.etag":${nestedArrays(100_000)}}`],
      ['arrays in an unknown property', `{"unknown":${nestedArrays(100_000)}}`],
      ['moderate arrays in a text property', `{"deviceName":${nestedArrays(2_000)}}`],
    ])('deeply nested %s is a Graph 4xx', async (_case, body) => {
      const response = await post(body);

      expectGraphEnvelope(asRaw(response));
    });

    test.each([
      ['PATCH', 'arrays', `{"deviceName":${nestedArrays(100_000)}}`],
      ['PATCH', 'objects', `{"manufacturer":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`],
    ])('%s with deeply nested %s is a Graph 4xx', async (method, _case, body) => {
      const created = await post('{}');
      const response = await service.request({
        method,
        url: `${COLLECTION}/${created.json().id}`,
        payload: body,
        headers: { 'content-type': 'application/json' },
        token,
      });

      expectGraphEnvelope(asRaw(response));
    });

    test('20 parallel creates with one id give one 201', async () => {
      const id = randomUUID();

      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          post(JSON.stringify({ id, deviceName: `racer-${index}` })),
        ),
      );

      const created = responses.filter((response) => response.statusCode === 201);
      const conflicts = responses.filter((response) => response.statusCode === 409);
      expect(created).toHaveLength(1);
      expect(conflicts).toHaveLength(19);
      for (const conflict of conflicts) {
        expectGraphEnvelope(asRaw(conflict), 409);
        expect(conflict.json().error.code).toBe('Conflict');
      }
      expect(await countRows(id)).toBe(1);
    });
  });

  describe('$filter at the limits', () => {
    function filterUrl(filter: string): string {
      return `${COLLECTION}?$filter=${encodeURIComponent(filter)}`;
    }

    /** Returns a filter of exactly `bytes` bytes, a comparison with a long string literal. */
    function filterOfSize(bytes: number): string {
      const prefix = "deviceName eq '";

      return `${prefix}${'a'.repeat(bytes - prefix.length - 1)}'`;
    }

    test('filter of the maximum size is 200', async () => {
      const response = await service.request({
        method: 'GET',
        url: filterUrl(filterOfSize(MAX_FILTER_BYTES)),
        token,
      });

      expect(response.statusCode).toBe(200);
    });

    test('filter one byte over the maximum size is 400 naming the limit', async () => {
      const response = await service.request({
        method: 'GET',
        url: filterUrl(filterOfSize(MAX_FILTER_BYTES + 1)),
        token,
      });

      expectGraphEnvelope(asRaw(response), 400);
      expect(response.json().error.message).toContain(String(MAX_FILTER_BYTES));
    });

    test('filter far over the maximum size is a Graph 4xx', async () => {
      const response = await service.request({
        method: 'GET',
        url: filterUrl(filterOfSize(MAX_FILTER_BYTES * 4)),
        token,
      });

      expectGraphEnvelope(asRaw(response));
    });

    test('nesting at the maximum is 200 and one deeper is 400', async () => {
      const nested = (depth: number) => `${'('.repeat(depth)}deviceName eq 'a'${')'.repeat(depth)}`;

      const atLimit = await service.request({
        method: 'GET',
        url: filterUrl(nested(MAX_FILTER_NESTING - 1)),
        token,
      });
      const overLimit = await service.request({
        method: 'GET',
        url: filterUrl(nested(MAX_FILTER_NESTING + 1)),
        token,
      });

      expect(atLimit.statusCode).toBe(200);
      expectGraphEnvelope(asRaw(overLimit), 400);
      expect(overLimit.json().error.message).toContain(String(MAX_FILTER_NESTING));
    });

    test('in list near the node limit is 200 and beyond it 400', async () => {
      const inList = (count: number) =>
        `deviceName in (${Array.from({ length: count }, (_, index) => `'${index}'`).join(',')})`;

      const under = await service.request({
        method: 'GET',
        url: filterUrl(inList(MAX_FILTER_NODES - 10)),
        token,
      });
      const over = await service.request({
        method: 'GET',
        url: filterUrl(inList(MAX_FILTER_NODES + 10)),
        token,
      });

      expect(under.statusCode).toBe(200);
      expectGraphEnvelope(asRaw(over), 400);
      expect(over.json().error.message).toContain(String(MAX_FILTER_NODES));
    });

    test.each([
      ['a chain of not', `${'not '.repeat(4000)}true`],
      ['a chain of unary minus', `${'-'.repeat(8000)}endpointAnalyticsScore gt 0`],
      ['a chain of additions', `endpointAnalyticsScore${' add 1'.repeat(2000)} gt 0`],
      [
        'a chain of or',
        Array.from({ length: 700 }, (_, index) => `deviceName eq '${index}'`).join(' or '),
      ],
      ['nested function calls', `${'tolower('.repeat(1000)}deviceName${')'.repeat(1000)} eq 'a'`],
      ['unbalanced parentheses', `${'('.repeat(5000)}true`],
      ['an unterminated literal', `deviceName eq '${'a'.repeat(10_000)}`],
      ['an overflowing product', 'endpointAnalyticsScore mul 1e308 mul 1e308 gt 0'],
      ['a number out of range', 'endpointAnalyticsScore gt 1e400'],
      ['a huge substring index', "substring(deviceName,2147483648) eq 'a'"],
    ])('filter with %s is a Graph 4xx or 200', async (_case, filter) => {
      const response = await service.request({ method: 'GET', url: filterUrl(filter), token });

      if (response.statusCode !== 200) {
        expectGraphEnvelope(asRaw(response));
      }
    });

    test('$search of many terms is a Graph 4xx or 200', async () => {
      const search = Array.from({ length: 2000 }, (_, index) => `t${index}`).join(' OR ');
      const response = await service.request({
        method: 'GET',
        url: `${COLLECTION}?$search=${encodeURIComponent(search)}`,
        token,
      });

      if (response.statusCode !== 200) {
        expectGraphEnvelope(asRaw(response));
      }
    });
  });
});
