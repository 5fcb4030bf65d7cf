import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { ServiceUnavailableException } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { HealthController } from '../../src/health/health.controller.js';
import { GracefulShutdown } from '../../src/lifecycle/graceful-shutdown.js';
import { createTestIssuer, type TestIssuer } from '../auth/token-factory.js';
import {
  buildService,
  type CompiledBuild,
  type ServiceProcess,
  startServiceProcess,
} from '../support/compiled-service.js';
import { type HttpResponse, sendRequest } from '../support/http-client.js';
import {
  COLLECTION,
  queryDatabase,
  READ_WRITE,
  startTestApp,
  TEST_DATABASE_URL,
} from '../support/test-app.js';
import { WAIT_LIMIT_MS, WriteBlocker } from '../support/write-blocker.js';

/** Writes held in flight per kind (updates and creates) while the shutdown starts. */
const HELD_WRITES = 4;

/** Outcome of one request: its response, or the error code when no response arrived. */
type Outcome = { response: HttpResponse } | { error: string };

function settle(request: Promise<HttpResponse>): Promise<Outcome> {
  return request.then(
    (response) => ({ response }),
    (error: NodeJS.ErrnoException) => ({ error: error.code ?? error.message }),
  );
}

function statusOf(outcome: Outcome): number | string {
  return 'response' in outcome ? outcome.response.statusCode : outcome.error;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await sleep(25);
  }
}

function logMessages(output: string[]): string[] {
  return output.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as { msg?: unknown };
      return typeof parsed.msg === 'string' ? [parsed.msg] : [];
    } catch {
      return [];
    }
  });
}

async function createRows(
  send: (options: Parameters<typeof sendRequest>[1]) => Promise<HttpResponse>,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const id = randomUUID();
    const response = await send({
      method: 'POST',
      url: COLLECTION,
      payload: { id, deviceName: `shutdown-${index}` },
    });
    expect(response.statusCode).toBe(201);
    ids.push(id);
  }

  return ids;
}

describe('graceful shutdown of the compiled service', () => {
  const tenantId = randomUUID();
  let build: CompiledBuild;
  let issuer: TestIssuer;
  let running: ServiceProcess | undefined;

  beforeAll(async () => {
    build = await buildService();
    issuer = await createTestIssuer();
  }, 180_000);

  afterAll(async () => {
    running?.kill();
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [tenantId]);
    await issuer?.cleanup();
    await build?.remove();
  });

  test('SIGTERM finishes writes in flight and exits 0', async () => {
    running = await startServiceProcess(build.mainPath, {
      NODE_ENV: 'test',
      DATABASE_URL: TEST_DATABASE_URL,
      AUTH_JWKS_FILE: issuer.jwksPath,
      AUTH_AUDIENCE: 'api://eas-service',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_SECONDS: '20',
    });
    const service = running;
    const token = await issuer.mint({ scp: READ_WRITE, tid: tenantId });
    const send = (options: Parameters<typeof sendRequest>[1]) =>
      sendRequest(service.origin, {
        ...options,
        headers: { authorization: `Bearer ${token}`, ...options.headers },
      });
    const existing = await createRows(send, HELD_WRITES);
    const created = Array.from({ length: HELD_WRITES }, () => randomUUID());
    const blocker = await WriteBlocker.hold(tenantId, existing, created);

    let outcomes: Outcome[];
    try {
      const writes = [
        ...existing.map((id) =>
          send({ method: 'PATCH', url: `${COLLECTION}/${id}`, payload: { deviceName: 'patched' } }),
        ),
        ...created.map((id) =>
          send({ method: 'POST', url: COLLECTION, payload: { id, deviceName: 'created' } }),
        ),
      ].map(settle);
      await blocker.waitForBlocked(2 * HELD_WRITES);

      service.child.kill('SIGTERM');
      await waitFor(
        () => logMessages(service.output).some((msg) => msg.startsWith('Stopped accepting')),
        'the listener to close',
      );
      const probe = await settle(
        sendRequest(service.origin, { method: 'GET', url: '/health/live' }),
      );
      expect(statusOf(probe)).toBe('ECONNREFUSED');

      await blocker.release();
      outcomes = await Promise.all(writes);
    } finally {
      await blocker.release().catch(() => undefined);
    }

    expect(outcomes.map(statusOf)).toEqual([...existing.map(() => 204), ...created.map(() => 201)]);
    for (const outcome of outcomes) {
      expect('response' in outcome).toBe(true);
      expect('response' in outcome ? outcome.response.headers.connection : undefined).toBe('close');
    }
    expect(await service.exited).toBe(0);

    const rows = await queryDatabase<{ id: string; device_name: string }>(
      'SELECT id, device_name FROM device_scores WHERE tenant_id = $1',
      [tenantId],
    );
    const names = new Map(rows.map((row) => [row.id, row.device_name]));
    for (const id of existing) {
      expect(names.get(id)).toBe('patched');
    }
    for (const id of created) {
      expect(names.get(id)).toBe('created');
    }
  }, 90_000);

  test('logs readiness 503 before closing the listener', () => {
    const messages = logMessages(running?.output ?? []);
    const began = messages.findIndex((msg) => msg.startsWith('Shutting down after SIGTERM'));
    const stopped = messages.findIndex((msg) => msg.startsWith('Stopped accepting'));
    const completed = messages.findIndex((msg) => msg.startsWith('Shutdown complete'));

    expect(began).toBeGreaterThanOrEqual(0);
    expect(stopped).toBeGreaterThan(began);
    expect(completed).toBeGreaterThan(stopped);
  });
});

describe('graceful shutdown steps', () => {
  const tenantId = randomUUID();

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [tenantId]);
  });

  test('readiness is 503 while requests drain, then the pool closes', async () => {
    const service = await startTestApp({ SHUTDOWN_GRACE_SECONDS: '20' });
    const token = await service.token(READ_WRITE, tenantId);
    const send = (options: Parameters<typeof sendRequest>[1]) =>
      service.request({ ...options, token });
    const [id] = await createRows(send, 1);
    const blocker = await WriteBlocker.hold(tenantId, [id], []);

    try {
      const update = settle(
        send({ method: 'PATCH', url: `${COLLECTION}/${id}`, payload: { model: 'drained' } }),
      );
      await blocker.waitForBlocked(1);
      const readyBefore = await service.app.get(HealthController).ready();

      const shutdown = service.app.get(GracefulShutdown).shutDown('the test', service.app);
      const readyDuring = await service.app
        .get(HealthController)
        .ready()
        .then(
          () => 'up',
          (error: unknown) => error,
        );
      await blocker.release();

      expect(readyBefore.status).toBe('ok');
      expect(readyDuring).toBeInstanceOf(ServiceUnavailableException);
      expect(statusOf(await update)).toBe(204);
      expect(await shutdown).toBe(0);
      expect(service.app.get(DataSource).isInitialized).toBe(false);
    } finally {
      await blocker.release().catch(() => undefined);
      await service.issuer.cleanup();
    }
  });

  test('closes connections left open after the grace period', async () => {
    const service = await startTestApp({ SHUTDOWN_GRACE_SECONDS: '1' });
    const token = await service.token(READ_WRITE, tenantId);
    const send = (options: Parameters<typeof sendRequest>[1]) =>
      service.request({ ...options, token });
    const [id] = await createRows(send, 1);
    const blocker = await WriteBlocker.hold(tenantId, [id], []);

    try {
      const update = settle(
        send({ method: 'PATCH', url: `${COLLECTION}/${id}`, payload: { model: 'too late' } }),
      );
      await blocker.waitForBlocked(1);

      const shutdown = service.app.get(GracefulShutdown).shutDown('the test', service.app);
      // The connection is closed after the grace period, while the database still blocks.
      const outcome = await update;
      await blocker.release();

      expect(statusOf(outcome)).toBe('ECONNRESET');
      expect(await shutdown).toBe(0);
    } finally {
      await blocker.release().catch(() => undefined);
      await service.issuer.cleanup();
    }
  });
});
