import 'reflect-metadata';

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import { DataSource } from 'typeorm';

import { createApp } from '../../src/app.factory.js';
import { buildAppConfig } from '../../src/config/app-config.js';
import { createTestIssuer, type TestIssuer } from '../auth/token-factory.js';
import { type HttpRequestOptions, type HttpResponse, sendRequest } from './http-client.js';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/eas_test';

export const T1 = '11111111-1111-1111-1111-111111111111';
export const T2 = '22222222-2222-2222-2222-222222222222';
export const COLLECTION = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';

export const READ = 'DeviceManagementManagedDevices.Read.All';
export const READ_WRITE = 'DeviceManagementManagedDevices.ReadWrite.All';

export interface TestApp {
  app: NestFastifyApplication;
  issuer: TestIssuer;
  /** The service's origin, such as http://127.0.0.1:40123. */
  origin: string;
  request(options: HttpRequestOptions & { token?: string | null }): Promise<HttpResponse>;
  /** A token for tenant T1 (or the given tenant) with the given delegated scopes. */
  token(scopes?: string, tenantId?: string): Promise<string>;
  close(): Promise<void>;
}

/** The database of the most recently started service, for the direct helpers below. */
let activeDatabaseUrl = TEST_DATABASE_URL;

/**
 * Starts the service on the test database with a throwaway signing key. With TEST_EMBEDDED=1 it
 * runs on the embedded PGlite database in a temporary DATA_DIR instead, as `npm start` does.
 */
export async function startTestApp(environment: Record<string, string> = {}): Promise<TestApp> {
  const issuer = await createTestIssuer();
  const embedded = process.env.TEST_EMBEDDED === '1';
  const config = buildAppConfig({
    NODE_ENV: 'test',
    ...(embedded
      ? { DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'eas-embedded-')) }
      : { DATABASE_URL: TEST_DATABASE_URL }),
    AUTH_JWKS_FILE: issuer.jwksPath,
    AUTH_AUDIENCE: 'api://eas-service',
    AUTH_CLOCK_TOLERANCE_SECONDS: '60',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...environment,
  });
  const app = await createApp(config, {
    logger: process.env.TEST_LOG_LEVEL === undefined ? false : undefined,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  activeDatabaseUrl = (app.get(DataSource).options as { url: string }).url;
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const origin = `${config.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const token = (scopes = READ_WRITE, tenantId = T1): Promise<string> =>
    issuer.mint({ scp: scopes, tid: tenantId });

  return {
    app,
    issuer,
    origin,
    token,
    async request(options) {
      const { token: given, ...rest } = options;
      const headers = { ...(rest.headers ?? {}) };
      const bearer = given === undefined ? await token() : given;
      if (bearer !== null) {
        headers.authorization = `Bearer ${bearer}`;
      }
      return sendRequest(origin, { ...rest, headers });
    },
    async close() {
      await app.close();
      await issuer.cleanup();
      if (embedded) {
        await rm(config.dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Deletes every row of the given tenants, bypassing the service, so each suite starts clean. */
export async function clearTenants(...tenantIds: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: activeDatabaseUrl });
  await client.connect();
  try {
    await client.query('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [tenantIds]);
  } finally {
    await client.end();
  }
}

/** Runs one query directly on the test database, as the table owner. */
export async function queryDatabase<T extends pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: activeDatabaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
