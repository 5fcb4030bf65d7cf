import { Injectable } from '@nestjs/common';

/** Whether the application has begun to shut down. Readiness reports 503 from that moment. */
@Injectable()
export class ShutdownState {
  private began = false;

  get shuttingDown(): boolean {
    return this.began;
  }

  begin(): void {
    this.began = true;
  }
}
