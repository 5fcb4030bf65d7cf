import http from 'node:http';
import https from 'node:https';
import { checkServerIdentity } from 'node:tls';

export interface HttpRequestOptions {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON with Content-Type application/json; a string or Buffer as is. */
  payload?: unknown;
}

export interface HttpResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  rawPayload: Buffer;
  json(): any;
}

/**
 * Sends one request over a real TCP connection to the listening service and buffers the
 * response. With `certificate`, the request goes over HTTPS and trusts only that certificate.
 */
export function sendRequest(
  origin: string,
  options: HttpRequestOptions,
  certificate?: string,
): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: Buffer | undefined;
  if (typeof options.payload === 'string') {
    body = Buffer.from(options.payload, 'utf8');
  } else if (Buffer.isBuffer(options.payload)) {
    body = options.payload;
  } else if (options.payload !== undefined) {
    body = Buffer.from(JSON.stringify(options.payload), 'utf8');
    const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
    if (!hasType) {
      headers['content-type'] = 'application/json';
    }
  }
  if (body !== undefined) {
    headers['content-length'] = String(body.length);
  }

  const target = new URL(origin);
  const requestOptions: https.RequestOptions = {
    host: target.hostname,
    port: target.port,
    method: options.method,
    path: options.url,
    headers,
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const onResponse = (response: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const rawPayload = Buffer.concat(chunks);
        const text = rawPayload.toString('utf8');
        resolve({
          statusCode: response.statusCode ?? 0,
          headers: response.headers,
          body: text,
          rawPayload,
          json: (): any => JSON.parse(text) as unknown,
        });
      });
    };
    const request =
      certificate === undefined
        ? http.request(requestOptions, onResponse)
        : https.request(
            {
              ...requestOptions,
              ca: certificate,
              // Checks the name against the address dialled, not a Host header the test may set.
              checkServerIdentity: (_host, peer) => checkServerIdentity(target.hostname, peer),
            },
            onResponse,
          );
    request.setTimeout(20_000, () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(body);
  });
}
