// The OTLP/HTTP export response in its JSON shape, apart from the protobuf codec (otlp-proto.ts): a
// daemon whose exporters send JSON never loads protobufjs.
export type Signal = 'metrics' | 'logs';

export interface PartialSuccess {
  rejected: number;
  message: string;
}

const REJECTED_FIELD = { metrics: 'rejectedDataPoints', logs: 'rejectedLogRecords' } as const;

/** The export response: empty when everything was taken, else partial_success (OTLP/HTTP). */
export function responseBody(signal: Signal, partial: PartialSuccess | null): Record<string, unknown> {
  return partial ? { partialSuccess: { [REJECTED_FIELD[signal]]: String(partial.rejected), errorMessage: partial.message } } : {};
}
