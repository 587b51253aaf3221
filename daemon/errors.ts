// The one catalogue of API errors. Every 4xx/5xx body is {error: code, message}.
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request does not match the schema' },
  invalid_json: { status: 400, message: 'The body is not valid JSON' },
  lease_too_long: { status: 400, message: "lease_ms is over the daemon's maximum lease (--max-lease-ms)" },
  invalid_id: { status: 400, message: 'IDs are 1-128 characters of letters, digits, _ - . : and never ".."' },
  unauthorized: { status: 401, message: 'Send Authorization: Bearer <AI_PROCESSOR_TOKEN>' },
  not_found: { status: 404, message: 'No such resource' },
  unknown_agent: { status: 404, message: 'No agent with that id is registered' },
  unknown_work: { status: 404, message: 'No work item with that id' },
  work_already_claimed: { status: 409, message: 'Another agent holds this work item' },
  work_already_exists: { status: 409, message: 'A work item with that id exists already' },
  not_claim_holder: { status: 409, message: 'This agent does not hold the claim (it expired, was released or belongs to another agent)' },
  stale_fencing_token: { status: 409, message: 'The fencing token is older than the current claim' },
  version_conflict: { status: 409, message: 'expected_version does not match the record: re-read and retry' },
  work_not_claimable: { status: 409, message: 'The work item is finished and cannot be claimed' },
  // The work graph (docs/work-graph.md).
  unknown_dependency: { status: 422, message: 'A prerequisite in depends_on does not exist' },
  dependency_cycle: { status: 422, message: 'The dependencies form a cycle' },
  dependencies_pending: { status: 409, message: 'The work item waits for prerequisites that are not completed' },
  not_a_dependency: { status: 404, message: 'The work item does not depend on that item' },
  not_retryable: { status: 409, message: 'Only a failed work item can be retried' },
  path_held: { status: 409, message: 'Another agent holds a lease on an overlapping path' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Send Content-Type: application/json' },
  too_many_requests: { status: 429, message: 'Too many requests: retry later' },
  internal_error: { status: 500, message: 'Internal error' },
  analyzer_failed: { status: 502, message: 'The analyzer command failed' },
  not_ready: { status: 503, message: 'The store is not ready' },
  write_failed: { status: 503, message: 'The change could not be made durable (the journal write failed): nothing was changed; retry later' },
  storage_full: { status: 507, message: 'The disk is full: the change could not be made durable and nothing was changed; retry once space is freed' },
  analyzer_timeout: { status: 504, message: 'The analyzer command timed out' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Thrown anywhere below a route; the error handler turns it into {error, message} with its status. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly extra: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, extra: Record<string, unknown> = {}) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.status = ERRORS[code].status;
    this.extra = extra;
  }

  body(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.extra };
  }
}
