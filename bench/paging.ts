import { COLLECTION_PATH, encodeQuery, type Target } from './scenarios.js';

/** Milliseconds of one page of a walk: as walked, and the median of repeated requests. */
export interface PageTiming {
  page: number;
  walkMilliseconds: number;
  medianMilliseconds: number;
}

export interface WalkResult {
  query: string;
  pagesWalked: number;
  rowsWalked: number;
  timings: PageTiming[];
}

const REPEATS = 15;

interface FetchedPage {
  milliseconds: number;
  nextLink?: string;
  count: number;
}

async function fetchPage(origin: string, path: string, token: string): Promise<FetchedPage> {
  const started = performance.now();
  const response = await fetch(`${origin}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  const milliseconds = performance.now() - started;
  if (response.status !== 200) {
    throw new Error(`GET ${path} returned ${response.status}: ${text.slice(0, 300)}`);
  }
  const body = JSON.parse(text) as { value: unknown[]; '@odata.nextLink'?: string };
  return { milliseconds, nextLink: body['@odata.nextLink'], count: body.value.length };
}

function pathOf(link: string): string {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

/**
 * Follows next links from the first page of `query` and returns the path of page `page`
 * (counted from 1). Fails when the collection has fewer pages.
 */
export async function findPagePath(
  target: Target,
  token: string,
  query: string,
  page: number,
): Promise<string> {
  let path = `${COLLECTION_PATH}?${encodeQuery(query)}`;
  for (let current = 1; current < page; current += 1) {
    const fetched = await fetchPage(target.origin, path, token);
    if (fetched.nextLink === undefined) {
      throw new Error(`${target.name}: ${query} has only ${current} pages, not ${page}.`);
    }
    path = pathOf(fetched.nextLink);
  }
  return path;
}

/**
 * Walks every page of `query` on one connection at a time, times each page, then requests the
 * pages in `marks` again REPEATS times each and keeps the median, which one slow sample cannot
 * move.
 */
export async function walkAllPages(
  target: Target,
  token: string,
  query: string,
  marks: readonly number[],
): Promise<WalkResult> {
  const markedPaths = new Map<number, { path: string; walkMilliseconds: number }>();
  let path: string | undefined = `${COLLECTION_PATH}?${encodeQuery(query)}`;
  let page = 0;
  let rows = 0;
  while (path !== undefined) {
    page += 1;
    const fetched = await fetchPage(target.origin, path, token);
    rows += fetched.count;
    if (marks.includes(page)) {
      markedPaths.set(page, { path, walkMilliseconds: fetched.milliseconds });
    }
    path = fetched.nextLink === undefined ? undefined : pathOf(fetched.nextLink);
  }

  const timings: PageTiming[] = [];
  for (const [markedPage, { path: markedPath, walkMilliseconds }] of markedPaths) {
    const samples: number[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat += 1) {
      samples.push((await fetchPage(target.origin, markedPath, token)).milliseconds);
    }
    samples.sort((a, b) => a - b);
    timings.push({
      page: markedPage,
      walkMilliseconds,
      medianMilliseconds: samples[Math.floor(samples.length / 2)],
    });
  }
  return { query, pagesWalked: page, rowsWalked: rows, timings };
}
