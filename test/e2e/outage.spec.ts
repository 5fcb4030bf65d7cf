import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';

import { PostgresInstance } from '../support/postgres-instance.js';
import { COLLECTION, READ_WRITE, startTestApp, type TestApp } from '../support/test-app.js';

const TENANT = randomUUID();

/** Concurrent clients that write and read while the database goes away and comes back. */
const WORKERS = 4;

/** Requests each client sends at most, so the load always ends. */
const MAX_REQUESTS_PER_WORKER = 3_000;

/**
 * Maximum time a client waits for one response; a request that reaches it counts as hung. The
 * service's bounds are 5 s to connect to the database and 20 s per query (see
 * buildDataSourceOptions). When the server stops answering on an open connection, a failed
 * transaction waits for its statement and then for its ROLLBACK, so a request can take 40 s.
 */
const CLIENT_TIMEOUT_MS = 60_000;

/** Upper bound for every wait below. */
const WAIT_LIMIT_MS = 90_000;

type Phase = 'before' | 'down' | 'after';

interface Outcome {
  phase: Phase;
  method: string;
  /** The status, or the error name when no response arrived. */
  result: number | string;
  retryAfter?: string | null;
  errorCode?: string;
  id?: string;
}

/**
 * Clients that alternate creates and lists against the service until stopped, recording every
 * outcome with the phase in which it started.
 */
class Load {
  readonly outcomes: Outcome[] = [];
  phase: Phase = 'before';
  private stopped = false;
  private readonly workers: Promise<void>[] = [];

  constructor(
    private readonly origin: string,
    private readonly token: string,
  ) {
    for (let worker = 0; worker < WORKERS; worker++) {
      this.workers.push(this.runWorker());
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  count(predicate: (outcome: Outcome) => boolean): number {
    return this.outcomes.filter(predicate).length;
  }

  private async runWorker(): Promise<void> {
    for (let request = 0; request < MAX_REQUESTS_PER_WORKER && !this.stopped; request++) {
      const phase = this.phase;
      if (request % 2 === 0) {
        const id = randomUUID();
        this.outcomes.push({
          phase,
          method: 'POST',
          id,
          ...(await this.send('POST', COLLECTION, { id, deviceName: `outage-${phase}` })),
        });
      } else {
        this.outcomes.push({
          phase,
          method: 'GET',
          ...(await this.send('GET', `${COLLECTION}?$top=5`)),
        });
      }
    }
  }

  private async send(method: string, path: string, payload?: unknown) {
    try {
      const response = await fetch(`${this.origin}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const body = (await response.json()) as { error?: { code?: string } };

      return {
        result: response.status,
        retryAfter: response.headers.get('retry-after'),
        errorCode: body.error?.code,
      };
    } catch (error) {
      return { result: (error as Error).name };
    }
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await sleep(100);
  }
}

/** Returns true for a success, or a 503 ServiceUnavailable with Retry-After. */
function isExpected(outcome: Outcome): boolean {
  if (typeof outcome.result === 'number' && outcome.result < 300) {
    return true;
  }

  return (
    outcome.result === 503 &&
    outcome.errorCode === 'ServiceUnavailable' &&
    typeof outcome.retryAfter === 'string' &&
    /^\d+$/.test(outcome.retryAfter)
  );
}

interface OutageKind {
  name: string;
  interrupt(database: PostgresInstance): Promise<void>;
  restore(database: PostgresInstance): Promise<void>;
  /** 503 responses to wait for while the database is away. */
  unavailableAnswers: number;
}

const OUTAGES: OutageKind[] = [
  {
    name: 'a fast shutdown',
    interrupt: (database) => database.stop('fast'),
    restore: (database) => database.start(),
    unavailableAnswers: 20,
  },
  {
    name: 'a crash',
    interrupt: (database) => database.stop('immediate'),
    restore: (database) => database.start(),
    unavailableAnswers: 20,
  },
  {
    // Nothing responds, so each request waits for a connect or query timeout.
    name: 'a frozen server',
    interrupt: (database) => database.freeze(),
    restore: (database) => Promise.resolve(database.thaw()),
    unavailableAnswers: WORKERS,
  },
];

describe('database outage', () => {
  let database: PostgresInstance;
  let service: TestApp;
  let token: string;
  const acknowledged: string[] = [];

  beforeAll(async () => {
    database = await PostgresInstance.create();
    service = await startTestApp({
      DATABASE_URL: database.url,
      THROTTLE_REQUESTS: '1000000',
      THROTTLE_WRITES: '1000000',
    });
    token = await service.token(READ_WRITE, TENANT);
  }, 120_000);

  afterAll(async () => {
    database?.thaw();
    await service?.close();
    await database?.destroy();
  }, 120_000);

  async function readinessStatus(): Promise<number> {
    const response = await service.request({ method: 'GET', url: '/health/ready', token: null });

    return response.statusCode;
  }

  test.each(OUTAGES)(
    'serves through $name',
    async (outage) => {
      const load = new Load(service.origin, token);
      try {
        await waitFor(() => load.count((o) => o.result === 201) >= 20, 'writes before the outage');

        await outage.interrupt(database);
        load.phase = 'down';
        await waitFor(async () => (await readinessStatus()) === 503, 'readiness to report 503');
        await waitFor(
          () =>
            load.count((o) => o.phase === 'down' && o.result === 503) >= outage.unavailableAnswers,
          '503 responses during the outage',
        );

        await outage.restore(database);
        load.phase = 'after';
        await waitFor(async () => (await readinessStatus()) === 200, 'readiness to recover');
        await waitFor(
          () => load.count((o) => o.phase === 'after' && o.result === 201) >= 20,
          'writes after the outage',
        );
      } finally {
        database.thaw();
        await load.stop();
      }

      acknowledged.push(
        ...load.outcomes.filter((o) => o.method === 'POST' && o.result === 201).map((o) => o.id!),
      );
      expect(load.outcomes.filter((o) => !isExpected(o))).toEqual([]);
      expect(
        load.count((o) => o.phase === 'after' && o.method === 'GET' && o.result === 200),
      ).toBeGreaterThan(0);
    },
    240_000,
  );

  test('every acknowledged write is stored', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string }>(
        'SELECT id FROM device_scores WHERE tenant_id = $1',
        [TENANT],
      );
      const stored = new Set(rows.map((row) => row.id));

      expect(acknowledged.length).toBeGreaterThanOrEqual(OUTAGES.length * 40);
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
