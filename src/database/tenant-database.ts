import { Inject, Injectable } from '@nestjs/common';
import pg, { type PoolClient } from 'pg';
import { DataSource, type EntityManager, QueryFailedError } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';

/** The role requests run as: it owns nothing and row-level security applies to it. */
export const REQUEST_ROLE = 'eas_request';

/** Switches the transaction to the request role and names its tenant, both until it ends. */
const SCOPE_TO_TENANT = `SELECT set_config('role', $1, true), set_config('eas.tenant_id', $2, true)`;

/** One SQL statement with positional parameters ($1, $2, ...). */
export interface Statement {
  text: string;
  values?: readonly unknown[];
}

/** Statements run inside one tenant transaction. Database errors are TypeORM QueryFailedErrors. */
export interface TenantQueries {
  /**
   * Sends a read, or a locking read such as SELECT ... FOR UPDATE, right away, behind the
   * statements already sent, and returns its rows once the transaction is known to be scoped.
   */
  query<Row extends object>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /**
   * Sends the transaction's last statement, typically the write, together with COMMIT, and
   * returns its rows once both succeeded. It waits until the transaction is known to be
   * scoped to the tenant, so a write never runs outside it.
   */
  finish<Row extends object>(text: string, values?: readonly unknown[]): Promise<Row[]>;
}

/** The part of a pg client this class drives: queries, the socket and pipeline mode. */
type PipelinedClient = PoolClient & { pipeline: boolean };

/**
 * Runs request work inside one transaction scoped to a tenant. The transaction switches to the
 * request role and sets eas.tenant_id, so row-level security admits only that tenant's rows even
 * if a query omits its tenant condition.
 *
 * The request paths (`read`, `runQueries`) use pg's pipeline mode on a connection of the pool
 * TypeORM manages: statements go out without waiting for the response to the previous one, and
 * statements sent together share one write to the socket. A read costs one round trip to the
 * database instead of four. On the benchmark machine (`npm run bench`, 2 cores) that cut the
 * CPU time of a get by id by about a third.
 * The results of the statements behind START TRANSACTION and the tenant scope are used only
 * after those two succeeded, and writes are sent only after that, so no row is read or written
 * outside the tenant transaction.
 */
@Injectable()
export class TenantDatabase {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Runs `work` with a TypeORM EntityManager in the tenant transaction. */
  async run<T>(tenantId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(SCOPE_TO_TENANT, [REQUEST_ROLE, tenantId]);
      return work(manager);
    });
  }

  /**
   * Runs read-only statements in one tenant transaction and one round trip: START TRANSACTION,
   * the tenant scope, the statements and COMMIT are sent at once. Returns the rows of each
   * statement in order.
   */
  async read(tenantId: string, statements: readonly Statement[]): Promise<object[][]> {
    return this.withConnection(async (connection) => {
      const sent = sendTogether(connection, () => [
        ...beginScoped(connection, tenantId),
        ...statements.map((statement) => runStatement(connection, statement)),
        runStatement(connection, { text: 'COMMIT' }),
      ]);
      const rows = await settleInOrder(sent);
      return rows.slice(2, 2 + statements.length);
    });
  }

  /**
   * Runs `work` in the tenant transaction: see TenantQueries for how its statements are sent.
   * START TRANSACTION and the tenant scope go out with the first statement `work` sends before
   * its first await. Commits after `work` resolves unless `finish` already did, and rolls back
   * when it throws.
   */
  async runQueries<T>(tenantId: string, work: (queries: TenantQueries) => Promise<T>): Promise<T> {
    return this.withConnection(async (connection, markBroken) => {
      // Settles as START TRANSACTION and the tenant scope do; statements of `work` wait for it.
      let confirmScope: (outcome: Promise<unknown>) => void = () => undefined;
      const scope = new Promise<unknown>((resolve) => {
        confirmScope = resolve;
      });
      let finished = false;
      const queries: TenantQueries = {
        query: async <Row extends object>(text: string, values?: readonly unknown[]) => {
          const sent = runStatement<Row>(connection, { text, values });
          const [, rows] = await Promise.all([scope, sent]);
          return rows;
        },
        finish: async <Row extends object>(text: string, values?: readonly unknown[]) => {
          await scope;
          finished = true;
          const [rows] = await settleInOrder(
            sendTogether(connection, () => [
              runStatement<Row>(connection, { text, values }),
              runStatement(connection, { text: 'COMMIT' }),
            ]),
          );
          return rows as Row[];
        },
      };

      const pending = sendTogether(connection, () => {
        confirmScope(settleInOrder(beginScoped(connection, tenantId)));
        return work(queries);
      });
      try {
        await scope;
        const result = await pending;
        if (!finished) {
          await runStatement(connection, { text: 'COMMIT' });
        }
        return result;
      } catch (error) {
        // Every statement already sent settles before the rollback goes out behind them.
        await Promise.allSettled([pending, scope]);
        await runStatement(connection, { text: 'ROLLBACK' }).catch(markBroken);
        throw error;
      }
    });
  }

  /**
   * Takes a connection from TypeORM's pool in pipeline mode and returns it afterwards. A
   * connection that failed, or whose rollback failed, is closed instead of reused.
   */
  private async withConnection<T>(
    work: (connection: PipelinedClient, markBroken: (error: unknown) => void) => Promise<T>,
  ): Promise<T> {
    const [client, release] = (await this.driver().obtainMasterConnection()) as [
      PipelinedClient,
      (error?: unknown) => void,
    ];
    // The pool listens for errors of idle connections only, so a connection lost while in use
    // reports here.
    let broken: unknown;
    const markBroken = (error: unknown): void => {
      broken ??= error;
    };
    client.on('error', markBroken);
    client.pipeline = true;
    try {
      return await work(client, markBroken);
    } catch (error) {
      if (CONNECTION_ERRORS.has(error as object)) {
        markBroken(error);
      }
      throw error;
    } finally {
      client.pipeline = false;
      client.removeListener('error', markBroken);
      release(broken);
    }
  }

  private driver(): PostgresDriver {
    const driver = this.dataSource.driver;
    if (driver.options.type !== 'postgres') {
      throw new Error(`TenantDatabase needs the postgres driver, not '${driver.options.type}'.`);
    }
    return driver as PostgresDriver;
  }
}

function beginScoped(connection: PipelinedClient, tenantId: string): Promise<object[]>[] {
  return [
    runStatement(connection, { text: 'START TRANSACTION' }),
    runStatement(connection, { text: SCOPE_TO_TENANT, values: [REQUEST_ROLE, tenantId] }),
  ];
}

/** Calls `send` with the socket corked, so the statements it sends leave in one write. */
function sendTogether<T>(connection: PipelinedClient, send: () => T): T {
  const socket = connection.connection.stream;
  socket.cork();
  try {
    return send();
  } finally {
    socket.uncork();
  }
}

/**
 * Waits for every statement and returns their rows, or throws the error of the first statement
 * that failed. Statements behind a failed one fail too, because PostgreSQL aborts the
 * transaction, so the first error is the cause.
 */
async function settleInOrder(sent: readonly Promise<object[]>[]): Promise<object[][]> {
  const settled = await Promise.allSettled(sent);
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) {
    throw failed.reason;
  }
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<object[]>).value);
}

/**
 * Errors after which a connection must not be reused: failures of the connection itself, such
 * as a lost socket or a read timeout, and FATAL or PANIC errors of the server. A failed statement
 * leaves the connection usable.
 */
const CONNECTION_ERRORS = new WeakSet<object>();

function runStatement<Row extends object>(
  connection: PipelinedClient,
  statement: Statement,
): Promise<Row[]> {
  const values = statement.values as unknown[] | undefined;
  return connection.query<Row>(statement.text, values).then(
    (result) => result.rows,
    (error: unknown) => {
      const failure =
        error instanceof pg.DatabaseError
          ? new QueryFailedError(statement.text, values, error)
          : error;
      const fatal =
        !(error instanceof pg.DatabaseError) ||
        error.severity === 'FATAL' ||
        error.severity === 'PANIC';
      if (fatal && typeof failure === 'object' && failure !== null) {
        CONNECTION_ERRORS.add(failure);
      }
      throw failure;
    },
  );
}
