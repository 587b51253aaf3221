// Turns every failure into the one error shape {error, message} (fastify's own errors included).
import type { FastifyError, FastifyInstance } from 'fastify';
import { ApiError, ERRORS } from '../errors.js';

export function describeValidation(err: FastifyError): { code: 'invalid_request' | 'invalid_id'; message: string } {
  const first = err.validation?.[0];
  const field = (first?.instancePath || '').replace(/^\//, '') || (first?.params as { missingProperty?: string } | undefined)?.missingProperty || '';
  const isId =
    /(^|_)id$/.test(field) && (first?.keyword === 'pattern' || first?.keyword === 'not' || first?.keyword === 'maxLength' || first?.keyword === 'minLength');
  if (isId) return { code: 'invalid_id', message: `${field}: ${ERRORS.invalid_id.message}` };
  return { code: 'invalid_request', message: `${err.validationContext ?? 'body'}${field ? '/' + field : ''} ${first?.message ?? err.message}`.trim() };
}

export function installErrorHandling(app: FastifyInstance, logger?: { error(obj: object, msg?: string): void }): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send(err.body());
    if (err.validation) {
      const { code, message } = describeValidation(err);
      return reply.code(400).send({ error: code, message });
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({ error: 'payload_too_large', message: ERRORS.payload_too_large.message });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({ error: 'unsupported_media_type', message: ERRORS.unsupported_media_type.message });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.code(400).send({ error: 'invalid_json', message: 'The body is empty; send a JSON object' });
    }
    if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.code(400).send({ error: 'invalid_json', message: `${ERRORS.invalid_json.message}: ${err.message}` });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) logger?.error({ err: err.message, stack: err.stack, url: request.url }, 'unhandled error');
    return reply
      .code(status)
      .send({ error: status === 500 ? 'internal_error' : 'invalid_request', message: status === 500 ? ERRORS.internal_error.message : err.message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
