import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import { Logger, type LoggerService } from '@nestjs/common';

import { NO_PROGRESS, type Progress, progressBar } from './progress.js';

/** Exit code for invalid command-line options. */
export const EXIT_USAGE = 2;

/** Exit code after SIGINT or SIGTERM, as shells report a process ended by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** Output streams of a data tool: the summary on `stdout`, messages and progress on `stderr`. */
export interface ToolOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Creates a progress display with a cli-progress format. */
  progress(format: string): Progress;
}

/** Output of the command-line programs: the process streams and cli-progress bars. */
export const PROCESS_OUTPUT: ToolOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  progress: progressBar,
};

/** Collects the output in memory and draws no progress, for tests. */
export function memoryOutput(): ToolOutput & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];

  return {
    out,
    err,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    progress: () => NO_PROGRESS,
  };
}

/** Thrown for invalid options; the message is shown with a hint to run --help. */
export class UsageError extends Error {}

/** Returns true for an error of parseArgs, such as an unknown option or a missing value. */
export function isParseArgsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;

  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/**
 * Parses a tool's options with `parse`. For invalid options it writes the error with a hint to
 * run --help and returns EXIT_USAGE, and for --help it writes `usage` and returns 0, so the tool
 * exits with the returned code. Other errors of `parse` are thrown.
 */
export function readToolOptions<Options>(
  parse: () => Options | 'help',
  usage: string,
  output: ToolOutput,
): Options | number {
  let options: Options | 'help';
  try {
    options = parse();
  } catch (error) {
    if (!(error instanceof UsageError || isParseArgsError(error))) {
      throw error;
    }
    output.stderr(`${errorMessage(error)}\nRun with --help to list the options.\n`);

    return EXIT_USAGE;
  }
  if (options === 'help') {
    output.stdout(usage);

    return 0;
  }

  return options;
}

/** Returns true when the module at `moduleUrl` is the script Node.js started with. */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) {
    return false;
  }
  try {
    return moduleUrl === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

/** Sends Nest log lines (from the embedded database, for one) to stderr, keeping stdout clean. */
export function logToStderr(): void {
  const write = (message: unknown): void => {
    process.stderr.write(`${String(message)}\n`);
  };
  const logger: LoggerService = { log: write, warn: write, error: write };
  Logger.overrideLogger(logger);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
