import { Reflector } from '@nestjs/core';

import {
  assertPermitted,
  Public,
  PublicRoute,
  READ_PERMISSIONS,
  RequiredPermissions,
  RequirePermissions,
  WRITE_PERMISSIONS,
} from '../../src/auth/permissions.js';
import type { Principal } from '../../src/auth/principal.js';
import { GraphErrorCode, GraphException } from '../../src/odata/http/graph-error.js';

function principalWith(...permissions: string[]): Principal {
  return {
    tenantId: '11111111-1111-1111-1111-111111111111',
    applicationId: 'app',
    permissions: new Set(permissions.map((permission) => permission.toLowerCase())),
    tokenVersion: '2.0',
  };
}

function forbiddenBy(action: () => void): GraphException {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphException);

    return error as GraphException;
  }
  throw new Error('expected a GraphException');
}

describe('permission constants', () => {
  it('lists the four read permissions', () => {
    expect([...READ_PERMISSIONS].sort()).toEqual([
      'DeviceManagementConfiguration.Read.All',
      'DeviceManagementConfiguration.ReadWrite.All',
      'DeviceManagementManagedDevices.Read.All',
      'DeviceManagementManagedDevices.ReadWrite.All',
    ]);
  });

  it('lists the two write permissions', () => {
    expect([...WRITE_PERMISSIONS].sort()).toEqual([
      'DeviceManagementConfiguration.ReadWrite.All',
      'DeviceManagementManagedDevices.ReadWrite.All',
    ]);
  });
});

describe('assertPermitted', () => {
  it.each(READ_PERMISSIONS)('lets %s read', (permission) => {
    expect(() => assertPermitted(principalWith(permission), READ_PERMISSIONS)).not.toThrow();
  });

  it.each(WRITE_PERMISSIONS)('lets %s write', (permission) => {
    expect(() => assertPermitted(principalWith(permission), WRITE_PERMISSIONS)).not.toThrow();
  });

  it('compares names case-insensitively', () => {
    const principal = principalWith('DEVICEMANAGEMENTMANAGEDDEVICES.READ.ALL');

    expect(() => assertPermitted(principal, READ_PERMISSIONS)).not.toThrow();
  });

  it.each([
    'DeviceManagementManagedDevices.Read',
    'DeviceManagementManagedDevices.Read.AllX',
    'XDeviceManagementManagedDevices.Read.All',
    'DeviceManagementManagedDevices.Read.All DeviceManagementConfiguration.Read.All',
    'User.Read',
  ])('rejects %p, which is not a whole accepted name', (permission) => {
    const exception = forbiddenBy(() =>
      assertPermitted(principalWith(permission), READ_PERMISSIONS),
    );

    expect(exception.status).toBe(403);
    expect(exception.code).toBe(GraphErrorCode.Forbidden);
  });

  it('rejects read permissions for a write', () => {
    const principal = principalWith(
      'DeviceManagementManagedDevices.Read.All',
      'DeviceManagementConfiguration.Read.All',
    );

    const exception = forbiddenBy(() => assertPermitted(principal, WRITE_PERMISSIONS));

    expect(exception.status).toBe(403);
  });

  it('lists every accepted permission in the message', () => {
    const exception = forbiddenBy(() => assertPermitted(principalWith(), READ_PERMISSIONS));

    for (const permission of READ_PERMISSIONS) {
      expect(exception.message).toContain(permission);
    }
  });

  it('sends no WWW-Authenticate challenge with a 403', () => {
    const exception = forbiddenBy(() => assertPermitted(principalWith(), READ_PERMISSIONS));

    expect(exception.headers['WWW-Authenticate']).toBeUndefined();
  });
});

describe('route decorators', () => {
  class Controller {
    @RequirePermissions(...READ_PERMISSIONS)
    list(): void {}

    @Public()
    health(): void {}

    plain(): void {}
  }
  const reflector = new Reflector();

  it('stores the accepted permissions', () => {
    expect(reflector.get(RequiredPermissions, Controller.prototype.list)).toEqual(READ_PERMISSIONS);
  });

  it('marks a public route', () => {
    expect(reflector.get(PublicRoute, Controller.prototype.health)).toBe(true);
  });

  it('leaves an undecorated route without metadata', () => {
    expect(reflector.get(RequiredPermissions, Controller.prototype.plain)).toBeUndefined();
    expect(reflector.get(PublicRoute, Controller.prototype.plain)).toBeUndefined();
  });

  it('requires at least one permission', () => {
    expect(() => RequirePermissions()).toThrow(/at least one permission/);
  });
});
