// The CRUD resources of the admin API, their schemas and service functions: the REST routes and the
// OpenAPI document are both generated from this one table.
import type { TSchema } from '@sinclair/typebox';
import {
  Consumer,
  ConsumerCreate,
  ConsumerUpdate,
  Route,
  RouteCreate,
  RouteUpdate,
  Service,
  ServiceCreate,
  ServiceUpdate,
  Upstream,
  UpstreamCreate,
  UpstreamUpdate,
} from '@turnpike/common';
import * as svc from '../service/index.js';
import type { ListOptions, Page, ServiceContext, WriteOptions } from '../service/index.js';
import type { ListFilterName } from './request-params.js';

export interface CrudResource {
  /** URL segment and tag, e.g. `upstreams`. */
  plural: string;
  singular: string;
  entity: TSchema;
  create: TSchema;
  update: TSchema;
  /** Query filters of the list endpoint (besides limit and cursor). */
  filters: readonly ListFilterName[];
  ops: {
    create(ctx: ServiceContext, input: unknown): Promise<{ id: string }>;
    get(ctx: ServiceContext, id: string): Promise<object>;
    list(ctx: ServiceContext, opts: ListOptions): Promise<Page<unknown>>;
    update(ctx: ServiceContext, id: string, input: unknown, mode: 'patch' | 'replace', opts: WriteOptions): Promise<object>;
    remove(ctx: ServiceContext, id: string, opts: WriteOptions): Promise<void>;
  };
}

export const CRUD_RESOURCES: readonly CrudResource[] = [
  {
    plural: 'upstreams',
    singular: 'Upstream',
    entity: Upstream,
    create: UpstreamCreate,
    update: UpstreamUpdate,
    filters: ['name', 'tag'],
    ops: { create: svc.createUpstream, get: svc.getUpstream, list: svc.listUpstreams, update: svc.updateUpstream, remove: svc.deleteUpstream },
  },
  {
    plural: 'services',
    singular: 'Service',
    entity: Service,
    create: ServiceCreate,
    update: ServiceUpdate,
    filters: ['name', 'tag', 'upstream_id'],
    ops: { create: svc.createService, get: svc.getService, list: svc.listServices, update: svc.updateService, remove: svc.deleteService },
  },
  {
    plural: 'routes',
    singular: 'Route',
    entity: Route,
    create: RouteCreate,
    update: RouteUpdate,
    filters: ['name', 'tag', 'service_id'],
    ops: { create: svc.createRoute, get: svc.getRoute, list: svc.listRoutes, update: svc.updateRoute, remove: svc.deleteRoute },
  },
  {
    plural: 'consumers',
    singular: 'Consumer',
    entity: Consumer,
    create: ConsumerCreate,
    update: ConsumerUpdate,
    // `name` matches the username.
    filters: ['name', 'tag'],
    ops: { create: svc.createConsumer, get: svc.getConsumer, list: svc.listConsumers, update: svc.updateConsumer, remove: svc.deleteConsumer },
  },
];
