import { readFile, writeFile } from 'node:fs/promises';

import type { LoadResult } from './load.js';
import type { WalkResult } from './paging.js';
import type { UsageReport } from './processes.js';
import type { TargetName } from './scenarios.js';

/** One measured run of a scenario against one target. */
export interface Measurement {
  load: LoadResult;
  usage: UsageReport;
}

export interface ScenarioReport {
  title: string;
  targetRatio: number;
  runs: Partial<Record<TargetName, Measurement[]>>;
}

export interface WalkReport {
  target: TargetName;
  walk: WalkResult;
}

export interface RunReport {
  date: string;
  command: string;
  machine: string[];
  settings: string[];
  scenarios: ScenarioReport[];
  walks: WalkReport[];
  /** Maximum peak RSS of the service under the mixed load, in MB. */
  rssLimitMegabytes: number;
  /** Maximum time of page 1000 as a multiple of page 1. */
  deepPageLimit: number;
}

const START_MARK = '<!-- bench:results:start -->';
const END_MARK = '<!-- bench:results:end -->';

/** Totals over the rounds of one target: rates from summed counts, latencies averaged. */
interface Totals {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  peakRssMegabytes: number;
  cpuMicrosPerRequest: number;
  postgresCpuMicrosPerRequest: number;
  otherCpuPercent: number;
}

function totalsOf(measurements: readonly Measurement[] = []): Totals {
  const sum = (pick: (item: Measurement) => number): number =>
    measurements.reduce((total, item) => total + pick(item), 0);
  const requests = sum((item) => item.load.requests);
  const count = measurements.length;

  return {
    requestsPerSecond: requests / sum((item) => item.load.durationSeconds),
    p50: sum((item) => item.load.p50) / count,
    p99: sum((item) => item.load.p99) / count,
    errors: sum((item) => item.load.errors),
    non2xx: sum((item) => item.load.non2xx),
    peakRssMegabytes: Math.max(...measurements.map((item) => item.usage.peakRssBytes)) / 2 ** 20,
    cpuMicrosPerRequest: (sum((item) => item.usage.cpuMilliseconds) * 1000) / requests,
    postgresCpuMicrosPerRequest:
      (sum((item) => item.usage.postgresCpuMilliseconds) * 1000) / requests,
    otherCpuPercent: (100 * sum((item) => item.usage.otherCpuShare)) / count,
  };
}

function fixed(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function hasTarget(report: RunReport, target: TargetName): boolean {
  return report.scenarios.some((scenario) => (scenario.runs[target]?.length ?? 0) > 0);
}

function throughputTable(report: RunReport): string[] {
  const previous = hasTarget(report, 'previous');
  const header = [
    'Scenario',
    'Service req/s',
    'Baseline req/s',
    'Ratio',
    'Target',
    'Service p50 / p99 ms',
    'Baseline p50 / p99 ms',
    ...(previous ? ['Previous req/s', 'Service / previous'] : []),
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `| --- | ${header
      .slice(1)
      .map(() => '---:')
      .join(' | ')} |`,
  ];
  for (const scenario of report.scenarios) {
    const service = totalsOf(scenario.runs.service);
    const baseline = totalsOf(scenario.runs.baseline);
    const ratio = service.requestsPerSecond / baseline.requestsPerSecond;
    const verdict = ratio >= scenario.targetRatio ? 'met' : '**not met**';
    const cells = [
      scenario.title,
      fixed(service.requestsPerSecond),
      fixed(baseline.requestsPerSecond),
      fixed(ratio, 2),
      `${scenario.targetRatio} (${verdict})`,
      `${fixed(service.p50, 1)} / ${fixed(service.p99, 1)}`,
      `${fixed(baseline.p50, 1)} / ${fixed(baseline.p99, 1)}`,
    ];
    if (previous) {
      const before = totalsOf(scenario.runs.previous);
      cells.push(
        fixed(before.requestsPerSecond),
        fixed(service.requestsPerSecond / before.requestsPerSecond, 2),
      );
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

function resourceTable(report: RunReport): string[] {
  const targets = (['service', 'baseline', 'previous'] as const).filter((target) =>
    hasTarget(report, target),
  );
  const names = targets.join(', ');
  const header = [
    'Scenario',
    `Errors / non-2xx (${names})`,
    `Peak RSS MB (${names})`,
    `Server CPU µs/req (${names})`,
    `PostgreSQL CPU µs/req (${names})`,
    `Other load % (${names})`,
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const scenario of report.scenarios) {
    const totals = targets.map((target) => totalsOf(scenario.runs[target]));
    const column = (format: (item: Totals) => string): string => totals.map(format).join(', ');
    const cells = [
      scenario.title,
      totals.map((item) => `${item.errors} / ${item.non2xx}`).join(', '),
      column((item) => fixed(item.peakRssMegabytes)),
      column((item) => fixed(item.cpuMicrosPerRequest)),
      column((item) => fixed(item.postgresCpuMicrosPerRequest)),
      column((item) => fixed(item.otherCpuPercent)),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

function walkTable(report: RunReport): string[] {
  const lines = [
    '| Target | Query | Pages walked | Page 1 ms | Page 100 ms | Page 1000 ms | Page 1000 / page 1 |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { target, walk } of report.walks) {
    const median = (page: number): number =>
      walk.timings.find((timing) => timing.page === page)?.medianMilliseconds ?? Number.NaN;
    const ratio = median(1000) / median(1);
    const verdict = ratio <= report.deepPageLimit ? '' : ' (**over limit**)';
    lines.push(
      `| ${target} | \`${walk.query}\` | ${walk.pagesWalked} | ${fixed(median(1), 2)} | ` +
        `${fixed(median(100), 2)} | ${fixed(median(1000), 2)} | ${fixed(ratio, 2)}${verdict} |`,
    );
  }
  return lines;
}

function mixedRssLine(report: RunReport): string[] {
  const mixed = report.scenarios.find((scenario) => scenario.title.startsWith('Mixed'));
  if (mixed?.runs.service === undefined) {
    return [];
  }
  const peak = totalsOf(mixed.runs.service).peakRssMegabytes;
  const verdict = peak < report.rssLimitMegabytes ? 'met' : '**not met**';
  return [
    `Peak RSS of the service under the mixed load: ${fixed(peak)} MB ` +
      `(limit ${report.rssLimitMegabytes} MB, ${verdict}).`,
    '',
  ];
}

const RESOURCE_NOTES = [
  'Server CPU is the user and system time of the server process divided by the requests it',
  'answered. PostgreSQL CPU counts the backends connected to the benchmark database. Other load',
  'is the share of the machine used meanwhile by processes outside the benchmark; where it is',
  'high, the run was disturbed and its numbers are less reliable.',
];

/** Renders the generated part of the results page. */
export function renderResults(report: RunReport): string {
  const walks =
    report.walks.length === 0
      ? []
      : [
          '### Deep paging',
          '',
          'Median of 15 requests of each page after a full walk, one request at a time.',
          '',
          ...walkTable(report),
          '',
        ];
  return [
    START_MARK,
    '',
    `## Latest run: ${report.date}`,
    '',
    `Command: \`${report.command}\``,
    '',
    ...report.machine.map((line) => `- ${line}`),
    ...report.settings.map((line) => `- ${line}`),
    '',
    '### Throughput and latency',
    '',
    ...throughputTable(report),
    '',
    '### Errors and resources',
    '',
    ...RESOURCE_NOTES,
    '',
    ...resourceTable(report),
    '',
    ...mixedRssLine(report),
    ...walks,
    END_MARK,
  ].join('\n');
}

/**
 * Writes the generated part into the results page between its markers, keeping the text around
 * them, or creates the page when it does not exist.
 */
export async function writeResults(path: string, report: RunReport): Promise<void> {
  const generated = renderResults(report);
  let page: string;
  try {
    page = await readFile(path, 'utf8');
  } catch {
    page = `# Benchmark results\n\n${START_MARK}\n${END_MARK}\n`;
  }
  const start = page.indexOf(START_MARK);
  const end = page.indexOf(END_MARK);
  const updated =
    start === -1 || end === -1
      ? `${page.trimEnd()}\n\n${generated}\n`
      : `${page.slice(0, start)}${generated}${page.slice(end + END_MARK.length)}`;
  await writeFile(path, updated);
}
