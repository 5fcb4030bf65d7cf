import { Reflector } from '@nestjs/core';

import { missingPermission } from './auth-errors.js';
import type { Principal } from './principal.js';

/** Permissions that allow list, get and `$count`. */
export const READ_PERMISSIONS = [
  'DeviceManagementManagedDevices.Read.All',
  'DeviceManagementManagedDevices.ReadWrite.All',
  'DeviceManagementConfiguration.Read.All',
  'DeviceManagementConfiguration.ReadWrite.All',
] as const;

/** Permissions that allow create, update and delete. */
export const WRITE_PERMISSIONS = [
  'DeviceManagementManagedDevices.ReadWrite.All',
  'DeviceManagementConfiguration.ReadWrite.All',
] as const;

/**
 * Checks that the principal has at least one accepted permission. Names are compared whole and
 * case-insensitively.
 *
 * @throws GraphException 403 (Forbidden) whose message lists the accepted permissions.
 */
export function assertPermitted(principal: Principal, accepted: readonly string[]): void {
  const permitted = accepted.some((permission) =>
    principal.permissions.has(permission.toLowerCase()),
  );
  if (!permitted) {
    throw missingPermission(accepted);
  }
}

/** Metadata of `RequirePermissions`, for the guard to read with `Reflector.getAllAndOverride`. */
export const RequiredPermissions = Reflector.createDecorator<readonly string[]>();

/** Metadata of `Public`, for the guard to read with `Reflector.getAllAndOverride`. */
export const PublicRoute = Reflector.createDecorator<boolean>();

/**
 * Declares the permissions a route accepts: a token needs any one of them.
 * At least one is required, because a route that no permission opens should not exist.
 */
export function RequirePermissions(...accepted: string[]): ReturnType<typeof RequiredPermissions> {
  if (accepted.length === 0) {
    throw new TypeError('RequirePermissions needs at least one permission name');
  }

  return RequiredPermissions(Object.freeze([...accepted]));
}

/** Marks a route (such as a health check) that needs no access token and is not rate-limited. */
export function Public(): ReturnType<typeof PublicRoute> {
  return PublicRoute(true);
}
