import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** The role requests run as: it owns nothing and row-level security applies to it. */
export const REQUEST_ROLE = 'eas_request';

/**
 * Runs request work inside one transaction scoped to a tenant. The transaction switches to the
 * request role and sets eas.tenant_id, so row-level security admits only that tenant's rows even
 * if a query forgets its tenant condition.
 */
@Injectable()
export class TenantDatabase {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async run<T>(tenantId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(
        `SELECT set_config('role', $1, true), set_config('eas.tenant_id', $2, true)`,
        [REQUEST_ROLE, tenantId],
      );
      return work(manager);
    });
  }
}
