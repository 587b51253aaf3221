// HTTP face of the analyzer bridge:
//   POST /api/claude/analyze-priorities {system_state?}  → the analysis (200) | 429 | 502 | 504
//   POST /api/claude/stream {events:[...]} or NDJSON     → chunked NDJSON, one line per event, then {done}
//   GET  /api/claude/status                              → mode, command, running, queued, stream
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Trace } from '../core/service.js';
import { ApiError } from '../errors.js';
import { Analyzer, MAX_STREAM_EVENTS, type AnalyzerOptions } from './analyzer.js';
import type { StreamAnswer } from './stream.js';

export { Analyzer, type AnalyzerOptions } from './analyzer.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses an NDJSON body into {events}; a bad line is a 400 naming the line. */
export function parseNdjson(body: string): { events: unknown[] } {
  const events: unknown[] = [];
  body.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    try {
      events.push(JSON.parse(line));
    } catch {
      throw new ApiError('invalid_json', `Line ${i + 1} of the NDJSON body is not JSON`);
    }
  });
  return { events };
}

/** An AbortSignal that fires when the client goes away before its answer was sent. */
function clientGone(reply: FastifyReply): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) ac.abort(new Error('client closed the connection'));
  };
  reply.raw.once('close', onClose);
  return { signal: ac.signal, done: () => reply.raw.off('close', onClose) };
}

async function* ndjsonLines(answers: Promise<StreamAnswer>[]): AsyncGenerator<string> {
  let failed = 0;
  for (let seq = 0; seq < answers.length; seq++) {
    const answer = await answers[seq];
    if (!answer.ok) failed++;
    yield JSON.stringify({ seq, ...answer }) + '\n';
  }
  yield JSON.stringify({ done: true, count: answers.length, failed }) + '\n';
}

/**
 * The analyzer routes. Given options, the plugin owns the Analyzer (starts it, stops it on close);
 * given an Analyzer, the caller owns it (and can read its stats() for /api/stats). `traceOf`: the
 * request's trace, which the analysis it asks for joins.
 */
export function analyzerRoutes(opts: AnalyzerOptions | Analyzer, traceOf?: (req: FastifyRequest) => Trace | undefined): FastifyPluginAsync {
  return async (app) => {
    const analyzer = opts instanceof Analyzer ? opts : new Analyzer(opts);
    analyzer.start();
    if (!(opts instanceof Analyzer)) app.addHook('onClose', async () => analyzer.close());

    app.addContentTypeParser(['application/x-ndjson', 'application/jsonl'], { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseNdjson(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

    app.post('/api/claude/analyze-priorities', async (req, reply) => {
      const body = req.body;
      if (body !== undefined && body !== null && !isObject(body)) throw new ApiError('invalid_request', 'The body is {"system_state"?: state}');
      const gone = clientGone(reply);
      try {
        return await analyzer.analyze(isObject(body) ? body.system_state : undefined, gone.signal, traceOf?.(req));
      } catch (err) {
        if (err instanceof ApiError && err.code === 'too_many_requests') reply.header('retry-after', '1');
        throw err;
      } finally {
        gone.done();
      }
    });

    app.post('/api/claude/stream', async (req, reply) => {
      const events = isObject(req.body) ? req.body.events : undefined;
      if (!Array.isArray(events)) throw new ApiError('invalid_request', 'Send {"events": [...]} as JSON, or one event per line as application/x-ndjson');
      if (events.length > MAX_STREAM_EVENTS) throw new ApiError('invalid_request', `At most ${MAX_STREAM_EVENTS} events per request`);
      let answers: Promise<StreamAnswer>[];
      try {
        answers = analyzer.streamEvents(events);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'too_many_requests') reply.header('retry-after', '1');
        throw err;
      }
      // Each answer is written as soon as it (and those before it) arrived: a chunked NDJSON response.
      reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store');
      return reply.send(Readable.from(ndjsonLines(answers)));
    });

    app.get('/api/claude/status', async () => analyzer.stats());
  };
}
