import { open, stat } from 'node:fs/promises';

import type { AutocannonRequest } from 'autocannon';

import { delay } from './processes.js';
import type { Scenario, ScenarioInputs, Target } from './scenarios.js';

/** Milliseconds PostgreSQL gets to write a request's statements to its log. */
const LOG_WAIT_MILLISECONDS = 300;
/** A logged statement or its parameters, after the line prefix (time, process id, user). */
const STATEMENT_LINE = /\b(LOG: {2}(?:statement|execute [^:]*):.*|DETAIL: {2}parameters:.*)$/;

/** Characters of each body shown around the first difference. */
const EXCERPT_CHARACTERS = 120;

/**
 * Relative difference allowed between two numbers of equal bodies. PostgreSQL sums a float
 * average in the order its parallel workers read the rows, so the last digits of one `$apply`
 * average change from run to run (49.53813514467185 and 49.538135144671834 on 1,000,000 rows).
 */
const NUMBER_TOLERANCE = 1e-9;

interface Response {
  status: number;
  /** The body with the target's origin replaced, so that links compare across ports. */
  body: string;
}

async function send(target: Target, request: AutocannonRequest): Promise<Response> {
  const response = await fetch(`${target.origin}${request.path ?? '/'}`, {
    method: request.method ?? 'GET',
    headers: request.headers,
    body: request.body,
  });
  const body = (await response.text()).replaceAll(target.origin, '{origin}');
  return { status: response.status, body };
}

/** Compares parsed JSON values: the same members in the same order, numbers within tolerance. */
function equalJson(left: unknown, right: unknown): boolean {
  if (typeof left === 'number' && typeof right === 'number') {
    return Math.abs(left - right) <= NUMBER_TOLERANCE * Math.max(Math.abs(left), Math.abs(right));
  }
  if (Array.isArray(left) && Array.isArray(right)) {
    return (
      left.length === right.length && left.every((item, index) => equalJson(item, right[index]))
    );
  }
  if (isObject(left) && isObject(right)) {
    const keys = Object.keys(left);
    const otherKeys = Object.keys(right);
    return (
      keys.length === otherKeys.length &&
      keys.every((key, index) => key === otherKeys[index] && equalJson(left[key], right[key]))
    );
  }
  return left === right;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function equalBodies(left: string, right: string): boolean {
  if (left === right) {
    return true;
  }
  try {
    return equalJson(JSON.parse(left), JSON.parse(right));
  } catch {
    return false;
  }
}

function firstDifference(left: string, right: string): number {
  let index = 0;
  while (index < left.length && index < right.length && left[index] === right[index]) {
    index += 1;
  }
  return index;
}

function excerpt(text: string, at: number): string {
  return text.slice(Math.max(0, at - EXCERPT_CHARACTERS / 2), at + EXCERPT_CHARACTERS / 2);
}

/**
 * Sends the scenario's same-body requests to the service and the baseline, one at a time, and
 * throws when a status or a body differs, so that a ratio never compares unlike work. Bodies
 * must be equal as text, or as JSON with numbers equal within NUMBER_TOLERANCE. Returns the
 * number of requests compared.
 */
export async function compareBodies(
  scenario: Scenario,
  service: Target,
  baseline: Target,
  inputs: ScenarioInputs,
): Promise<number> {
  const requests = scenario.sameBodyRequests?.(inputs) ?? [];
  for (const request of requests) {
    const expected = await send(service, request);
    const actual = await send(baseline, request);
    if (expected.status !== 200) {
      throw new Error(
        `${scenario.key}: the service returned ${expected.status} for ${request.path}: ` +
          expected.body.slice(0, 300),
      );
    }
    if (actual.status !== expected.status || !equalBodies(expected.body, actual.body)) {
      const at = firstDifference(expected.body, actual.body);
      throw new Error(
        `${scenario.key}: the baseline's response to ${request.path} differs from the ` +
          `service's (status ${actual.status}, expected ${expected.status}) at character ${at}.\n` +
          `  service:  ${excerpt(expected.body, at)}\n` +
          `  baseline: ${excerpt(actual.body, at)}\n` +
          'Make the baseline send the same SQL and JSON as the service; see bench/baseline/.',
      );
    }
  }
  return requests.length;
}

async function readAppended(path: string, from: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const buffer = Buffer.alloc(Math.max(0, size - from));
    await file.read(buffer, 0, buffer.length, from);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

/** Sends `request` and returns the statements and parameters PostgreSQL logged meanwhile. */
async function loggedStatements(
  target: Target,
  request: AutocannonRequest,
  logPath: string,
): Promise<string[]> {
  const { size } = await stat(logPath);
  await send(target, request);
  await delay(LOG_WAIT_MILLISECONDS);
  return (await readAppended(logPath, size))
    .split('\n')
    .flatMap((line) => STATEMENT_LINE.exec(line)?.[1] ?? []);
}

/**
 * Sends the first same-body request of the scenario to the service and then to the baseline,
 * which must run with log_statement=all, and throws unless PostgreSQL logged the same statements
 * with the same parameters for both. Statements of other sessions logged meanwhile would show as
 * a difference, so run it on a database that no other process uses. Returns the number of log
 * lines compared.
 */
export async function compareStatements(
  scenario: Scenario,
  service: Target,
  baseline: Target,
  inputs: ScenarioInputs,
  logPath: string,
): Promise<number> {
  const [request] = scenario.sameBodyRequests?.(inputs) ?? [];
  if (request === undefined) {
    return 0;
  }
  const expected = await loggedStatements(service, request, logPath);
  const actual = await loggedStatements(baseline, request, logPath);
  if (expected.length === 0) {
    throw new Error(
      `${scenario.key}: no statement of the service appeared in ${logPath}. ` +
        "Pass PostgreSQL's stderr log file, and check that log_statement can be set per session.",
    );
  }
  const index = expected.findIndex((line, position) => line !== actual[position]);
  if (index !== -1 || actual.length !== expected.length) {
    const line = index === -1 ? expected.length : index;
    const serviceLine = expected[line] ?? '(none)';
    const baselineLine = actual[line] ?? '(none)';
    const at = firstDifference(serviceLine, baselineLine);
    throw new Error(
      `${scenario.key}: the baseline sent other statements than the service for ` +
        `${request.path}, from logged line ${line + 1} on, at character ${at}.\n` +
        `  service:  ${excerpt(serviceLine, at)}\n` +
        `  baseline: ${excerpt(baselineLine, at)}\n` +
        'Copy the service statement into bench/baseline/.',
    );
  }
  return expected.length;
}
