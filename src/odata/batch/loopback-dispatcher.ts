import http from 'node:http';
import https from 'node:https';
import type { Server } from 'node:net';

import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';

/** One inner request of a batch as it goes over the wire. */
export interface LoopbackRequest {
  method: string;
  /** Path and query, starting with '/'. */
  path: string;
  /** Lower-case names. Content-Length is added for a body. */
  headers: Record<string, string>;
  body?: Buffer;
}

export interface LoopbackResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Maximum time for one inner request, after which it is abandoned and gets a 503 entry.
 * NOTE: 30 s is a guess, not a measured bound.
 */
const LOOPBACK_TIMEOUT_MS = 30_000;

type Target = { host: string; port: number } | { socketPath: string };

/** A reset on a reused kept-alive connection before any response arrived. */
class StaleConnectionError extends Error {
  constructor(override readonly cause: Error) {
    super(`The kept-alive connection was reset: ${cause.message}`);
  }
}

/**
 * Sends inner requests of a batch to the service's own listener, so each passes the same hooks,
 * guard, validation, filter and interceptor as a request sent on its own. Fastify's `inject` would
 * skip the network, but light-my-request 6 requires `cookie` 2, which is published only as an ES
 * module, and Jest's CommonJS loader cannot require one, so the e2e tests could not run it.
 */
@Injectable()
export class LoopbackDispatcher implements OnModuleDestroy {
  private readonly tls: boolean;
  private readonly agent: http.Agent;

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.tls = config.tls !== undefined;
    // The certificate is not verified: the connection goes to this process's own listening
    // address, and a certificate issued for the public host name would not match it anyway.
    this.agent = this.tls
      ? new https.Agent({ keepAlive: true, rejectUnauthorized: false })
      : new http.Agent({ keepAlive: true });
  }

  /**
   * Sends one request and buffers the whole response. A request that fails because the server
   * closed an idle kept-alive connection just before it was written is sent once more on a new
   * connection, as the Node.js documentation of `request.reusedSocket` recommends. The server
   * never read such a request, so repeating it is safe for every method.
   *
   * @throws Error when the listener cannot be reached or the request times out.
   */
  async send(request: LoopbackRequest): Promise<LoopbackResponse> {
    const headers = { ...request.headers };
    if (request.body !== undefined) {
      headers['content-length'] = String(request.body.length);
    }
    const options: http.RequestOptions = {
      ...this.target(),
      method: request.method,
      path: request.path,
      headers,
      agent: this.agent,
    };

    try {
      return await this.sendOnce(options, request.body);
    } catch (error) {
      if (!(error instanceof StaleConnectionError)) {
        throw error;
      }
      // NOTE: no test provokes this race, so this retry has only been reviewed, not run.
      return this.sendOnce(options, request.body);
    }
  }

  private sendOnce(options: http.RequestOptions, body?: Buffer): Promise<LoopbackResponse> {
    return new Promise((resolve, reject) => {
      let responded = false;
      const onResponse = (response: http.IncomingMessage): void => {
        responded = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          }),
        );
      };
      const outgoing = this.tls
        ? https.request(options, onResponse)
        : http.request(options, onResponse);
      outgoing.setTimeout(LOOPBACK_TIMEOUT_MS, () =>
        outgoing.destroy(new Error(`No response within ${LOOPBACK_TIMEOUT_MS} ms`)),
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        const stale = outgoing.reusedSocket && !responded && error.code === 'ECONNRESET';
        reject(stale ? new StaleConnectionError(error) : error);
      });
      outgoing.end(body);
    });
  }

  /** Closes the kept-alive connections before the server closes, so they do not delay it. */
  onModuleDestroy(): void {
    this.agent.destroy();
  }

  /** Returns where the server listens, with a wildcard bind address replaced by loopback. */
  private target(): Target {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    const address = server.address();
    if (typeof address === 'string') {
      return { socketPath: address };
    }
    if (address === null) {
      throw new Error('The HTTP server is not listening');
    }
    const { address: host, port } = address;
    if (host === '0.0.0.0') {
      return { host: '127.0.0.1', port };
    }
    if (host === '::') {
      return { host: '::1', port };
    }

    return { host, port };
  }
}
