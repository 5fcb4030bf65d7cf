import { setTimeout as sleep } from 'node:timers/promises';

/** One page of a Graph collection. */
export interface CollectionPage {
  items: unknown[];
  /** The absolute URL of the next page, or undefined on the last page. */
  nextLink: string | undefined;
}

export interface PageReaderOptions {
  token: string;
  signal?: AbortSignal;
  /** Tries per page for 429, 503, 504 and network errors. */
  attempts?: number;
  /** Maximum wait between tries, even when Retry-After requests a longer one. */
  maxRetryDelayMs?: number;
  /** Maximum wait for one response. */
  timeoutMs?: number;
}

/** Statuses after which Graph clients retry, honouring Retry-After. */
const RETRIED_STATUSES = new Set([429, 503, 504]);

/**
 * Fetches one page of a Graph collection with the bearer token, retrying throttling, outages
 * and network errors with the delay of Retry-After (or growing delays without it).
 *
 * @throws Error naming the status and the Graph error message when the endpoint refuses the
 *   request or the tries run out.
 */
export async function fetchCollectionPage(
  url: string,
  options: PageReaderOptions,
): Promise<CollectionPage> {
  const attempts = options.attempts ?? 5;
  const maxDelay = options.maxRetryDelayMs ?? 60_000;
  let lastFailure = '';

  for (let attempt = 1; attempt <= attempts; attempt++) {
    options.signal?.throwIfAborted();
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
        signal: anySignal(options.signal, options.timeoutMs ?? 60_000),
      });
    } catch (error) {
      options.signal?.throwIfAborted();
      lastFailure = `the request failed: ${(error as Error).message}`;
      await sleep(Math.min(maxDelay, 1000 * 2 ** (attempt - 1)), undefined, {
        signal: options.signal,
      });
      continue;
    }

    if (response.ok) {
      return parsePage(url, await response.text());
    }
    lastFailure = `${response.status} ${await graphErrorMessage(response)}`;
    if (!RETRIED_STATUSES.has(response.status)) {
      break;
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    const delay =
      Number.isFinite(retryAfter) && retryAfter >= 0
        ? retryAfter * 1000
        : 1000 * 2 ** (attempt - 1);
    if (attempt < attempts) {
      await sleep(Math.min(maxDelay, delay), undefined, { signal: options.signal });
    }
  }

  throw new Error(`Reading ${url} failed: ${lastFailure}`);
}

/**
 * Checks that a next link stays on the origin of the first page, so the token is never sent to
 * another host.
 */
export function checkNextLink(firstUrl: string, nextLink: string): string {
  const next = new URL(nextLink, firstUrl);
  if (next.origin !== new URL(firstUrl).origin) {
    throw new Error(
      `The next link ${next.origin}/... leaves ${new URL(firstUrl).origin}; the import does not ` +
        'send the token to another host.',
    );
  }

  return next.toString();
}

function parsePage(url: string, text: string): CollectionPage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`Reading ${url} failed: the response is not JSON.`);
  }
  const page = body as { value?: unknown; '@odata.nextLink'?: unknown };
  if (typeof body !== 'object' || body === null || !Array.isArray(page.value)) {
    throw new Error(`Reading ${url} failed: the response has no "value" array.`);
  }
  const nextLink = page['@odata.nextLink'];

  return {
    items: page.value,
    nextLink: typeof nextLink === 'string' ? checkNextLink(url, nextLink) : undefined,
  };
}

async function graphErrorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') {
      return message;
    }
  } catch {
    // Not a Graph error body; the status text below is all there is.
  }

  return response.statusText;
}

function anySignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);

  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}
