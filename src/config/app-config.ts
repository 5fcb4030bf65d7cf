import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { EnvironmentVariables, validateEnvironment } from './environment.js';

/** The typed settings every module reads, built once from the validated environment. */
export interface AppConfig {
  production: boolean;
  host: string;
  port: number;
  databaseUrl?: string;
  dataDir: string;
  migrationsRun: boolean;
  auth: {
    audience: string;
    allowedTenants: '*' | ReadonlySet<string>;
    jwksUri?: string;
    jwksFile?: string;
    clockToleranceSeconds: number;
  };
  maxPageSize: number;
  throttle: { requests: number; writes: number; windowSeconds: number };
  tls?: { certFile: string; keyFile: string };
  redisUrl?: string;
  trustProxy: boolean;
  skiptokenSecret: Buffer;
  logLevel: string;
  bodyLimitBytes: number;
  /** Seconds that requests in flight get to finish after SIGTERM or SIGINT. */
  shutdownGraceSeconds: number;
  /** Batches that run at once, and batches that may wait for a turn before 503 is returned. */
  batch: { concurrency: number; queueLimit: number };
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export function buildAppConfig(raw: Record<string, unknown> = process.env): AppConfig {
  const env: EnvironmentVariables = validateEnvironment(raw);
  const production = env.NODE_ENV === 'production';

  if ((env.TLS_CERT_FILE === undefined) !== (env.TLS_KEY_FILE === undefined)) {
    throw new Error(
      'Invalid configuration:\n  TLS_CERT_FILE and TLS_KEY_FILE must be set together',
    );
  }

  const tenants = env.AUTH_ALLOWED_TENANTS ?? '*';
  return {
    production,
    host: env.HOST ?? '127.0.0.1',
    port: env.PORT ?? 3000,
    databaseUrl: env.DATABASE_URL,
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    migrationsRun: env.MIGRATIONS_RUN !== 'false',
    auth: {
      audience: env.AUTH_AUDIENCE ?? 'api://endpoint-analytics',
      allowedTenants:
        tenants === '*'
          ? '*'
          : new Set(tenants.split(',').map((tenant) => tenant.trim().toLowerCase())),
      jwksUri: env.AUTH_JWKS_URI,
      jwksFile: env.AUTH_JWKS_FILE,
      clockToleranceSeconds: env.AUTH_CLOCK_TOLERANCE_SECONDS ?? 300,
    },
    maxPageSize: env.MAX_PAGE_SIZE ?? 1000,
    throttle: {
      requests: env.THROTTLE_REQUESTS ?? 2000,
      writes: env.THROTTLE_WRITES ?? 200,
      windowSeconds: env.THROTTLE_WINDOW_SECONDS ?? 20,
    },
    tls:
      env.TLS_CERT_FILE && env.TLS_KEY_FILE
        ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE }
        : undefined,
    redisUrl: env.REDIS_URL,
    trustProxy: env.TRUST_PROXY === 'true',
    // NOTE: without SKIPTOKEN_SECRET each process signs with its own random key, so next links
    // do not survive a restart and are not accepted by another instance.
    skiptokenSecret: env.SKIPTOKEN_SECRET
      ? Buffer.from(env.SKIPTOKEN_SECRET, 'utf8')
      : randomBytes(32),
    logLevel: env.LOG_LEVEL ?? (production ? 'info' : 'debug'),
    bodyLimitBytes: env.BODY_LIMIT_BYTES ?? 1024 * 1024,
    shutdownGraceSeconds: env.SHUTDOWN_GRACE_SECONDS ?? 10,
    batch: {
      concurrency: env.BATCH_CONCURRENCY ?? 4,
      queueLimit: env.BATCH_QUEUE_LIMIT ?? 64,
    },
  };
}
