import cliProgress from 'cli-progress';

/** A progress display for long work. `NO_PROGRESS` draws nothing. */
export interface Progress {
  start(total: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = {
  start: () => undefined,
  update: () => undefined,
  stop: () => undefined,
};

/**
 * Returns a cli-progress bar on standard error, so standard output keeps only the summary. The bar
 * is drawn only when standard error is a terminal; `format` uses cli-progress placeholders.
 */
export function progressBar(format: string): Progress {
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );

  return {
    start: (total, payload) => bar.start(total, 0, payload),
    update: (value, payload) => bar.update(value, payload),
    stop: () => bar.stop(),
  };
}
