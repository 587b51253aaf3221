// The parts GET /api/stats is made of: one typed function per field of StatsResponse.
import type { StatsResponse } from '../../shared/protocol.js';

/** One field of GET /api/stats, computed per request. */
export type StatsPart<K extends keyof StatsResponse> = () => StatsResponse[K];

/** Every field of GET /api/stats, one part each (the optional fields' parts may answer undefined). */
export type StatsParts = { [K in keyof StatsResponse]: StatsPart<K> };

/** Parts installed after the daemon started (the SIGHUP reloader lives in the program around it). */
export type LateStatsParts = { reload?: StatsPart<'reload'> };
