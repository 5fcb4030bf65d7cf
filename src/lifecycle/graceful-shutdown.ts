import type { Server } from 'node:http';

import {
  type INestApplication,
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { ShutdownState } from './shutdown-state.js';

/** Signals that start a graceful shutdown: orchestrators send SIGTERM, a terminal sends SIGINT. */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export type ExitFunction = (code: number) => void;

/**
 * Shuts the service down without failing requests in flight. On SIGTERM or SIGINT, readiness
 * reports 503, the listener stops accepting connections, responses carry `Connection: close`,
 * and requests in flight get SHUTDOWN_GRACE_SECONDS to finish. Connections still open after that
 * are closed. Then the application closes, which ends the database pool, and the process exits 0.
 *
 * NOTE: inner requests of a $batch travel through the listener, so the inner requests of a batch
 * that were not sent yet when the listener closes fail and get 503 entries in its response.
 */
@Injectable()
export class GracefulShutdown implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(GracefulShutdown.name);
  private readonly graceSeconds: number;
  private readonly listeners = new Map<NodeJS.Signals, () => void>();
  private running: Promise<number> | undefined;

  constructor(
    @Inject(ShutdownState) private readonly state: ShutdownState,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.graceSeconds = config.shutdownGraceSeconds;
  }

  /** Asks clients to close kept-alive connections once a shutdown has begun. */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (this.state.shuttingDown) {
        reply.header('Connection', 'close');
      }
      done(null, payload);
    });
  }

  /** Shuts `app` down on SIGTERM or SIGINT and then calls `exit` with the exit code. */
  listenForSignals(app: INestApplication, exit: ExitFunction = (code) => process.exit(code)): void {
    for (const signal of SHUTDOWN_SIGNALS) {
      const listener = (): void => this.onSignal(signal, app, exit);
      this.listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  /** Removes the signal listeners, so closed test applications leave none behind. */
  onApplicationShutdown(): void {
    for (const [signal, listener] of this.listeners) {
      process.removeListener(signal, listener);
    }
    this.listeners.clear();
  }

  /**
   * Runs the shutdown steps once and returns the exit code: 0, or 1 when closing the
   * application failed. Later calls return the result of the first.
   */
  shutDown(reason: string, app: INestApplication): Promise<number> {
    this.running ??= this.runShutdown(reason, app);

    return this.running;
  }

  private onSignal(signal: NodeJS.Signals, app: INestApplication, exit: ExitFunction): void {
    if (this.running !== undefined) {
      this.logger.warn(`Received ${signal} again during shutdown, so exiting at once with code 1`);
      exit(1);

      return;
    }
    void this.shutDown(signal, app).then(exit);
  }

  private async runShutdown(reason: string, app: INestApplication): Promise<number> {
    const startedAt = performance.now();
    this.state.begin();
    this.logger.log(
      `Shutting down after ${reason}: readiness reports 503 and requests in flight get up to ` +
        `${this.graceSeconds} s to finish`,
    );

    await this.drain();
    try {
      await app.close();
    } catch (error) {
      this.logger.error({ err: error }, 'Closing the application failed during shutdown');

      return 1;
    }

    const elapsed = Math.round(performance.now() - startedAt);
    this.logger.log(`Shutdown complete in ${elapsed} ms`);

    return 0;
  }

  /**
   * Stops accepting connections and waits until every open connection has closed, or until the
   * grace period ends and the remaining ones are closed. Node.js closes idle kept-alive
   * connections at once, and busy ones end after their response because of `Connection: close`.
   */
  private async drain(): Promise<void> {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server | undefined;
    if (server === undefined || !server.listening) {
      return;
    }

    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const open = await countConnections(server);
    this.logger.log(`Stopped accepting connections, ${open} still open`);

    let timer: NodeJS.Timeout | undefined;
    const graceEnded = new Promise<'grace ended'>((resolve) => {
      timer = setTimeout(() => resolve('grace ended'), this.graceSeconds * 1000);
    });
    const outcome = await Promise.race([closed.then(() => 'drained' as const), graceEnded]);
    clearTimeout(timer);

    if (outcome === 'grace ended') {
      const remaining = await countConnections(server);
      this.logger.warn(
        `The grace period of ${this.graceSeconds} s ended with ${remaining} connections open, ` +
          'so they are closed now and their requests fail',
      );
      server.closeAllConnections();
      await closed;
    }
  }
}

function countConnections(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.getConnections((error, count) => resolve(error ? 0 : count));
  });
}
