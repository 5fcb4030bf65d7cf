import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { Logger } from '@nestjs/common';

import { acquireDataDirLock, type DataDirLock } from './embedded-lock.js';

export { DataDirInUseError } from './embedded-lock.js';

/** Folder under the data directory that contains the PGlite cluster. */
export const EMBEDDED_DATABASE_FOLDER = 'pglite';

/** Lock file beside that folder, because PGlite owns everything inside it. */
export const EMBEDDED_DATABASE_LOCK_FILE = 'pglite.lock';

/**
 * Client connections the socket server accepts at once by default, equal to the default pool size
 * of buildDataSourceOptions. It must be at least 2 for runMigrations, which holds one connection
 * for its advisory lock while TypeORM applies the migrations on another.
 */
export const DEFAULT_EMBEDDED_MAX_CONNECTIONS = 10;

const LOOPBACK_HOST = '127.0.0.1';

export interface EmbeddedDatabaseOptions {
  /**
   * Client connections served at the same time. The server closes any connection beyond this
   * number right after accepting it, so the pool size must not exceed it. Defaults to
   * DEFAULT_EMBEDDED_MAX_CONNECTIONS.
   */
  maxConnections?: number;
}

/** A running embedded PostgreSQL, reachable over TCP on the loopback address. */
export interface EmbeddedDatabase {
  /** A postgres:// URL for pg and TypeORM: user postgres, no password, database postgres. */
  readonly url: string;
  /** The largest pool size the server accepts. */
  readonly maxConnections: number;
  /**
   * Stops the socket server, shuts PGlite down cleanly and releases the data directory lock.
   * Destroy the DataSource first, because connections still open are cut and a transaction one
   * of them left open is rolled back. Later calls return the result of the first.
   */
  close(): Promise<void>;
}

/**
 * Opens the PGlite database in `<dataDir>/pglite`, creating it on first use, and serves it over
 * the PostgreSQL wire protocol on 127.0.0.1 at a port the OS picks. A lock file in `dataDir`
 * keeps a second process from opening the same database, and DataDirInUseError names the process
 * that holds it.
 *
 * PGlite 0.5.14 runs PostgreSQL 18.6 in single-user mode, so all connections share one backend
 * session. The socket server of pglite-socket 0.2.17 queues the messages of all connections and
 * runs one at a time. While an explicit transaction is open, it serves only the connection that
 * began it. A plain SET on one connection therefore changes every connection, and per-request
 * settings must use set_config(..., true) inside a transaction, as TenantDatabase does.
 *
 * NOTE: outside an explicit transaction the queue works per message. If a client's Parse, Bind
 * and Execute arrive in separate TCP reads, another connection's messages can run between them.
 *
 * NOTE: PGlite does not enforce statement_timeout, whether sent at startup or with SET, and the
 * server drops cancel requests, so one long query blocks every connection until it ends.
 */
export async function startEmbeddedDatabase(
  dataDir: string,
  options: EmbeddedDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const maxConnections = options.maxConnections ?? DEFAULT_EMBEDDED_MAX_CONNECTIONS;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new Error(`Invalid maxConnections ${maxConnections}: expected an integer of 1 or more.`);
  }

  const logger = new Logger('EmbeddedDatabase');
  const startedAt = performance.now();
  const root = resolve(dataDir);
  const clusterDir = join(root, EMBEDDED_DATABASE_FOLDER);

  await mkdir(root, { recursive: true });
  const lock = await acquireDataDirLock(join(root, EMBEDDED_DATABASE_LOCK_FILE));

  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let port: number;
  const creating = !existsSync(join(clusterDir, 'PG_VERSION'));
  try {
    db = await PGlite.create(clusterDir);
    server = new PGLiteSocketServer({ db, host: LOOPBACK_HOST, port: 0, maxConnections });
    port = await listen(server);
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    // A lock file left behind names this process, so it counts as stale once this process
    // exits or tries again.
    await lock.release().catch(() => undefined);
    throw new Error(
      `Failed to start the embedded database in ${clusterDir}: ${errorMessage(error)}`,
      { cause: error },
    );
  }

  server.addEventListener('error', (event) => {
    logger.error(`Embedded database server error: ${errorMessage((event as CustomEvent).detail)}`);
  });

  const elapsed = Math.round(performance.now() - startedAt);
  logger.log(
    `${creating ? 'Created' : 'Opened'} the embedded database in ${clusterDir}, ` +
      `listening on ${LOOPBACK_HOST}:${port} for up to ${maxConnections} connections (${elapsed} ms)`,
  );

  const stop = buildStop(server, db, lock, clusterDir, logger);
  let stopped: Promise<void> | undefined;

  return {
    url: `postgres://postgres@${LOOPBACK_HOST}:${port}/postgres`,
    maxConnections,
    close: () => (stopped ??= stop()),
  };
}

/** Starts the server and returns the port the OS assigned. */
async function listen(server: PGLiteSocketServer): Promise<number> {
  let port: number | undefined;
  const onListening = (event: Event): void => {
    port = (event as CustomEvent<{ port?: number }>).detail.port;
  };

  server.addEventListener('listening', onListening);
  try {
    await server.start();
  } finally {
    server.removeEventListener('listening', onListening);
  }

  if (port === undefined) {
    throw new Error('The socket server started without reporting its port.');
  }
  return port;
}

function buildStop(
  server: PGLiteSocketServer,
  db: PGlite,
  lock: DataDirLock,
  clusterDir: string,
  logger: Logger,
): () => Promise<void> {
  return async () => {
    const startedAt = performance.now();
    const failures: unknown[] = [];

    // Each step runs even if an earlier one failed, so PGlite is closed and the lock released
    // whenever possible.
    await server.stop().catch((error: unknown) => failures.push(error));
    await db.close().catch((error: unknown) => failures.push(error));
    await lock.release().catch((error: unknown) => failures.push(error));

    if (failures.length > 0) {
      const reasons = failures.map(errorMessage).join('; ');
      logger.error(`Failed to close the embedded database in ${clusterDir}: ${reasons}`);
      throw new Error(`Failed to close the embedded database in ${clusterDir}: ${reasons}`, {
        cause: failures[0],
      });
    }

    const elapsed = Math.round(performance.now() - startedAt);
    logger.log(`Closed the embedded database in ${clusterDir} (${elapsed} ms)`);
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
