// REST routes and OpenAPI paths of prompt template versions (service/prompt-template-versions.ts):
// list (newest first), one version, and restore (a new version equal to an old one).
import type { FastifyInstance } from 'fastify';
import { PromptTemplateVersion } from '@turnpike/common';
import { getPromptTemplateVersion, listPromptTemplateVersions, restorePromptTemplateVersion } from '../service/prompt-template-versions.js';
import { setEtag, writeOptions } from './conditional.js';
import { listParameters, pageSchema, etagHeaders, preconditionFailed, writeParameters } from './openapi-http.js';
import { listOptions, param } from './request-params.js';

const BASE = '/v1/prompt-templates/:id/versions';

export function installPromptTemplateVersionRoutes(app: FastifyInstance): void {
  app.get(BASE, async (req) => await listPromptTemplateVersions(req.svc, param(req, 'id'), listOptions(req)));
  app.get(`${BASE}/:version`, async (req) => await getPromptTemplateVersion(req.svc, param(req, 'id'), param(req, 'version')));
  app.post(`${BASE}/:version/restore`, async (req, reply) => {
    const updated = await restorePromptTemplateVersion(req.svc, param(req, 'id'), param(req, 'version'), writeOptions(req));
    setEtag(reply, updated);
    return reply.send(updated);
  });
}

type Json = Record<string, unknown>;

/** Adds the versions endpoints to the OpenAPI document (the PromptTemplate schema comes from the resource kinds). */
export function addPromptTemplateVersionPaths(paths: Json, schemas: Json): void {
  schemas.PromptTemplateVersion = JSON.parse(JSON.stringify(PromptTemplateVersion)) as Json;
  const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
  const err = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
  const json = (schema: Json): Json => ({ content: { 'application/json': { schema } } });
  const idParam = { name: 'id', in: 'path', required: true, description: 'prompt template id', schema: { type: 'string', format: 'uuid' } };
  const versionParam = { name: 'version', in: 'path', required: true, description: 'version number (1 is the first)', schema: { type: 'integer', minimum: 1 } };
  const std = { '400': err('BadRequest'), '401': err('Unauthorized'), '403': err('Forbidden'), '404': err('NotFound') };
  const tags = ['prompt-templates'];
  paths['/v1/prompt-templates/{id}/versions'] = {
    parameters: [idParam],
    get: {
      tags,
      operationId: 'listPromptTemplateVersions',
      summary: 'Versions of a prompt template, newest first (a write that changes messages, variables, parameters, model or provider_id makes one)',
      parameters: listParameters([]),
      responses: { '200': { description: 'a page', ...json(pageSchema(ref('PromptTemplateVersion'))) }, ...std },
    },
  };
  paths['/v1/prompt-templates/{id}/versions/{version}'] = {
    parameters: [idParam, versionParam],
    get: {
      tags,
      operationId: 'getPromptTemplateVersion',
      responses: { '200': { description: 'the version', ...json(ref('PromptTemplateVersion')) }, ...std },
    },
  };
  paths['/v1/prompt-templates/{id}/versions/{version}/restore'] = {
    parameters: [idParam, versionParam],
    post: {
      tags,
      operationId: 'restorePromptTemplateVersion',
      summary: "Make this version's content current again, as a new version (nothing changes when it is already the current content)",
      parameters: writeParameters,
      responses: {
        '200': { description: 'the template', headers: etagHeaders, ...json(ref('PromptTemplate')) },
        ...std,
        '409': err('Conflict'),
        '422': err('Unprocessable'),
        ...preconditionFailed,
      },
    },
  };
}
