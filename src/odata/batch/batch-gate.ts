/** Frees the slot a batch holds. Calling it more than once frees the slot only once. */
export type ReleaseSlot = () => void;

/**
 * Limits how many batches run at once. A batch keeps every inner response until its last inner
 * request ends, so memory grows with the number of batches in flight. Before this limit, 64
 * clients each sending 20 requests for 1,000 rows took the process to about 800 MB. Batches past
 * the limit wait in arrival order, up to `maxWaiting` of them, and further ones are rejected.
 */
export class BatchGate {
  private running = 0;
  private readonly waiting: Array<(release: ReleaseSlot) => void> = [];

  constructor(
    private readonly maxRunning: number,
    private readonly maxWaiting: number,
  ) {}

  /**
   * Returns a promise of the release function once the batch may run, or undefined when the
   * queue is full and the batch should be rejected.
   */
  enter(): Promise<ReleaseSlot> | undefined {
    if (this.running < this.maxRunning) {
      this.running += 1;
      return Promise.resolve(this.releaseOnce());
    }
    if (this.waiting.length >= this.maxWaiting) {
      return undefined;
    }

    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseOnce(): ReleaseSlot {
    let released = false;

    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) {
        this.running -= 1;
      } else {
        // The slot passes straight to the next batch, so the count of running batches stays.
        next(this.releaseOnce());
      }
    };
  }
}
