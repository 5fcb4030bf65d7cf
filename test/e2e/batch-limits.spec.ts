import { randomUUID } from 'node:crypto';
import net from 'node:net';

import { BatchGate } from '../../src/odata/batch/batch-gate.js';
import { type HttpResponse } from '../support/http-client.js';
import {
  clearTenants,
  queryDatabase,
  READ_WRITE,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';
import { WriteBlocker } from '../support/write-blocker.js';

const SET = '/deviceManagement/userExperienceAnalyticsDeviceScores';

describe('BatchGate', () => {
  it('admits up to the limit at once', async () => {
    const gate = new BatchGate(2, 5);
    const first = gate.enter();
    const second = gate.enter();

    expect(first).toBeDefined();
    expect(second).toBeDefined();
    await Promise.all([first, second]);
  });

  it('lets waiting batches in by arrival order', async () => {
    const gate = new BatchGate(1, 5);
    const release = await (gate.enter() as Promise<() => void>);
    const admitted: string[] = [];
    const waiting = ['a', 'b', 'c'].map((name) =>
      (gate.enter() as Promise<() => void>).then((next) => {
        admitted.push(name);
        next();
      }),
    );
    release();
    await Promise.all(waiting);

    expect(admitted).toEqual(['a', 'b', 'c']);
  });

  it('rejects a batch when the queue is full', async () => {
    const gate = new BatchGate(1, 1);
    const release = await (gate.enter() as Promise<() => void>);
    const waiting = gate.enter();

    expect(waiting).toBeDefined();
    expect(gate.enter()).toBeUndefined();
    release();
    (await (waiting as Promise<() => void>))();
    expect(gate.enter()).toBeDefined();
  });

  it('frees a slot once when released twice', async () => {
    const gate = new BatchGate(1, 0);
    const release = await (gate.enter() as Promise<() => void>);
    release();
    release();
    const again = await (gate.enter() as Promise<() => void>);

    expect(gate.enter()).toBeUndefined();
    again();
  });
});

describe('batches past the concurrency limit', () => {
  const tenant = randomUUID();
  let service: TestApp;
  let token: string;

  beforeAll(async () => {
    service = await startTestApp({ BATCH_CONCURRENCY: '1', BATCH_QUEUE_LIMIT: '1' });
    token = await service.token(READ_WRITE, tenant);
  });

  afterAll(async () => {
    await clearTenants(tenant);
    await service.close();
  });

  function patchBatch(id: string, name: string): Promise<HttpResponse> {
    return service.request({
      method: 'POST',
      url: '/beta/$batch',
      token,
      payload: {
        requests: [
          {
            id: '1',
            method: 'PATCH',
            url: `${SET}/${id}`,
            headers: { 'Content-Type': 'application/json' },
            body: { deviceName: name },
          },
        ],
      },
    });
  }

  /** Sends a PATCH batch on a raw socket and closes the socket once the request is written. */
  async function abandonPatchBatch(id: string, name: string): Promise<void> {
    const body = JSON.stringify({
      requests: [
        {
          id: '1',
          method: 'PATCH',
          url: `${SET}/${id}`,
          headers: { 'Content-Type': 'application/json' },
          body: { deviceName: name },
        },
      ],
    });
    const { hostname, port } = new URL(service.origin);
    const socket = net.connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /beta/$batch HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
        `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // The service must have read the request before the socket closes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
  }

  it('skips a queued batch whose client left and frees its slot', async () => {
    const created = await service.request({
      method: 'POST',
      url: `/beta${SET}`,
      token,
      payload: { deviceName: 'before' },
    });
    const id = (created.json() as { id: string }).id;
    const blocker = await WriteBlocker.hold(tenant, [id], []);
    let running: Promise<HttpResponse> | undefined;
    try {
      running = patchBatch(id, 'first');
      await blocker.waitForBlocked(1);
      await abandonPatchBatch(id, 'abandoned');
    } finally {
      await blocker.release();
    }

    expect((await running)?.statusCode).toBe(200);
    const after = await patchBatch(id, 'after');
    expect(after.statusCode).toBe(200);
    expect((after.json() as { responses: { status: number }[] }).responses[0].status).toBe(204);

    const rows = await queryDatabase<{ device_name: string; row_version: number }>(
      'SELECT device_name, row_version FROM device_scores WHERE tenant_id = $1 AND id = $2',
      [tenant, id],
    );
    expect(rows[0].device_name).toBe('after');
    // Created as version 1, then 'first' and 'after': the abandoned batch wrote nothing.
    expect(rows[0].row_version).toBe(3);
  });

  it('waits in the queue, then 503 with Retry-After past it', async () => {
    const created = await service.request({
      method: 'POST',
      url: `/beta${SET}`,
      token,
      payload: { deviceName: 'before' },
    });
    const id = (created.json() as { id: string }).id;
    const blocker = await WriteBlocker.hold(tenant, [id], []);
    let running: Promise<HttpResponse> | undefined;
    let queued: Promise<HttpResponse> | undefined;
    try {
      running = patchBatch(id, 'first');
      await blocker.waitForBlocked(1);
      queued = patchBatch(id, 'second');
      // The queued batch is accepted before the third one is sent.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const rejected = await patchBatch(id, 'third');

      expect(rejected.statusCode).toBe(503);
      expect(rejected.headers['retry-after']).toBe('1');
      expect(rejected.json()).toMatchObject({
        error: { code: 'ServiceUnavailable', message: expect.stringMatching(/Too many batches/) },
      });
    } finally {
      await blocker.release();
    }
    const [first, second] = await Promise.all([running, queued]);

    expect(first?.statusCode).toBe(200);
    expect(second?.statusCode).toBe(200);
    expect((first?.json() as { responses: { status: number }[] }).responses[0].status).toBe(204);
    expect((second?.json() as { responses: { status: number }[] }).responses[0].status).toBe(204);

    const read = await service.request({ method: 'GET', url: `/beta${SET}/${id}`, token });
    expect((read.json() as { deviceName: string }).deviceName).toBe('second');
  });
});
