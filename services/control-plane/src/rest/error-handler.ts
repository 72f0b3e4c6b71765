// Every error leaves as `{error:{code,message,request_id,fields?}}`; user input never produces a 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, httpStatusFor, type ErrorCode, type TurnpikeError } from '@turnpike/common';
import { toTurnpikeError } from '../errors.js';
import type { Logger } from '../log.js';

/** fastify's own 4xx errors (body limit, media type, ...) mapped to TP codes. */
function codeForStatus(status: number): ErrorCode {
  if (status === 413) return 'TP_ERR_BODY_TOO_LARGE';
  if (status === 404) return 'TP_ERR_NOT_FOUND';
  if (status === 405) return 'TP_ERR_METHOD_NOT_ALLOWED';
  if (status === 431) return 'TP_ERR_HEADERS_TOO_LARGE';
  return 'TP_ERR_BAD_REQUEST';
}

/**
 * fastify's router answers malformed URLs (bad percent-encoding) and over-long path parameters itself, in
 * its own JSON shape, before any hook runs; this gives them ours. An over-long parameter cannot be an id.
 */
export function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = (req.raw.url ?? '').split('?')[0] ?? '';
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  const [code, message]: [ErrorCode, string] =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? ['TP_ERR_NOT_FOUND', `no such entity: a path parameter of ${shown} is too long to be an id`]
      : ['TP_ERR_BAD_REQUEST', `the request URL is not valid: ${shown}`];
  void reply.code(httpStatusFor(code)).header('x-request-id', req.id).send(errorBody(code, message, req.id));
}

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | TurnpikeError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const tp = toTurnpikeError(err);
    if (tp) {
      if (tp.status >= 500) log('admin_request_failed', { request_id: req.id, method: req.method, url: req.url, code: tp.code, error: String(err) });
      void reply.code(tp.status).send(errorBody(tp.code, tp.message, req.id, tp.fields));
      return;
    }
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = codeForStatus(status);
      const message =
        code === 'TP_ERR_BODY_TOO_LARGE'
          ? 'request body is larger than 1 MiB'
          : status === 415
            ? 'request body must be application/json'
            : err.message;
      // The status follows the code (one mapping, in @turnpike/common): e.g. fastify's 415 becomes 400.
      void reply.code(httpStatusFor(code)).send(errorBody(code, message, req.id));
      return;
    }
    log('admin_request_failed', { request_id: req.id, method: req.method, url: req.url, error: String(err), stack: err.stack });
    void reply.code(500).send(errorBody('TP_ERR_INTERNAL', 'internal error', req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('TP_ERR_NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`, req.id));
  });
}
