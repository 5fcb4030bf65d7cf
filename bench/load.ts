import autocannon from 'autocannon';

import type { RequestFactory } from './scenarios.js';

/** The numbers kept from one autocannon run. Latencies are in milliseconds. */
export interface LoadResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Connection errors, timeouts included. */
  errors: number;
  non2xx: number;
  statusCounts: Record<string, number>;
}

export interface LoadOptions {
  origin: string;
  connections: number;
  durationSeconds: number;
  nextRequest: RequestFactory;
}

/** Sends requests from `nextRequest` over `connections` keep-alive connections for the duration. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.origin,
    connections: options.connections,
    duration: options.durationSeconds,
    timeout: 10,
    requests: [{ setupRequest: (request) => ({ ...request, ...options.nextRequest() }) }],
  });

  const statusCounts: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[status] = Number(stats.count);
  }
  const requests = Object.values(statusCounts).reduce((sum, count) => sum + count, 0);

  return {
    requests,
    durationSeconds: result.duration,
    requestsPerSecond: requests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    statusCounts,
  };
}
