import { readFile } from 'node:fs/promises';

/** The parts of a V8 .cpuprofile that the summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  name: string;
  percent: number;
}

export interface ProfileSummary {
  totalMilliseconds: number;
  /** Self time grouped by npm package, `project` for the service's own code, or `node`. */
  byPackage: ProfileShare[];
  /** Self time of single functions. */
  byFunction: ProfileShare[];
}

function packageOf(functionName: string, url: string): string {
  if (url === '') {
    // V8's own entries, such as (garbage collector) and (program).
    return functionName || '(native)';
  }
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match !== null) {
    return match[1];
  }
  return url.startsWith('node:') ? 'node' : 'project';
}

function shares(times: Map<string, number>, total: number, limit: number): ProfileShare[] {
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, time]) => ({ name, percent: (100 * time) / total }));
}

/** Sums the self time of every sample by package and by function. */
export async function summarizeProfile(path: string, limit = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;

  profile.samples.forEach((nodeId, index) => {
    const frame = nodes.get(nodeId)?.callFrame;
    const delta = profile.timeDeltas[index] ?? 0;
    if (frame === undefined || frame.functionName === '(idle)') {
      return;
    }
    total += delta;
    const pkg = packageOf(frame.functionName, frame.url);
    const file = frame.url.replace(/^.*\/(node_modules|dist)\//, '');
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
  });

  return {
    totalMilliseconds: total / 1000,
    byPackage: shares(byPackage, total, limit),
    byFunction: shares(byFunction, total, limit),
  };
}

/** Formats a summary as plain text. */
export function formatSummary(summary: ProfileSummary): string {
  const rows = (items: ProfileShare[]): string[] =>
    items.map((item) => `${item.percent.toFixed(1).padStart(6)}%  ${item.name}`);
  return [
    `busy time: ${summary.totalMilliseconds.toFixed(0)} ms (idle samples left out)`,
    '',
    'self time by package:',
    ...rows(summary.byPackage),
    '',
    'self time by function:',
    ...rows(summary.byFunction),
  ].join('\n');
}

if (process.argv[1]?.endsWith('profile-summary.js')) {
  const [path, limit] = process.argv.slice(2);
  if (path === undefined) {
    console.error('Usage: node dist/bench/profile-summary.js FILE.cpuprofile [ROWS]');
    process.exit(2);
  }
  console.log(formatSummary(await summarizeProfile(path, Number(limit ?? 25))));
}
