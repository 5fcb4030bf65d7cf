import { Module } from '@nestjs/common';

import { TenantDatabase } from './tenant-database.js';

@Module({
  providers: [TenantDatabase],
  exports: [TenantDatabase],
})
export class DatabaseModule {}
