// Request schemas (fastify validates them with ajv before a handler runs).
import { PRIORITIES } from '../../shared/types.js';

export const idSchema = { type: 'string', pattern: '^[A-Za-z0-9_\\-.:]{1,128}$', not: { type: 'string', pattern: '\\.\\.' } } as const;
const text = (max: number) => ({ type: 'string', maxLength: max }) as const;
const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
const version = { type: 'integer', minimum: 0 } as const;

const workFields = {
  work_type: name,
  description: text(4096),
  priority: { type: 'string', enum: [...PRIORITIES] },
  team: name,
  estimated_duration: text(64),
} as const;

const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required }) as const;

export const registerBody = obj({
  agent_id: idSchema,
  team: name,
  specialization: name,
  capacity: { type: 'integer', minimum: 0, maximum: 100000 },
  status: name,
});
export const heartbeatBody = { ...obj({ status: name, current_workload: { type: 'number', minimum: 0 } }), type: ['object', 'null'] };
export const agentParams = obj({ agent_id: idSchema }, ['agent_id']);
export const workParams = obj({ work_id: idSchema }, ['work_id']);
/** Prerequisites of a work item (docs/work-graph.md). */
export const dependsOnSchema = { type: 'array', items: idSchema, maxItems: 1000, uniqueItems: true } as const;
export const createWorkBody = obj({ work_id: idSchema, ...workFields, created_by: name, depends_on: dependsOnSchema }, ['work_type']);
// lease_ms: at most the daemon's --max-lease-ms, checked by the service (the bound is configurable).
export const claimBody = obj(
  {
    work_id: idSchema,
    agent_id: idSchema,
    ...workFields,
    expected_version: version,
    lease_ms: { type: 'integer', minimum: 1 },
    lease_from_estimate: { type: 'boolean' },
  },
  ['work_id', 'agent_id'],
);
const holder = { work_id: idSchema, agent_id: idSchema, fencing_token: { type: 'integer', minimum: 0 }, expected_version: version };
export const progressBody = obj({ ...holder, progress: { type: 'number', minimum: 0, maximum: 100 }, status: name }, ['work_id', 'agent_id', 'progress']);
export const completeBody = obj(
  { ...holder, result: text(8192), velocity_points: { type: 'number', minimum: 0, maximum: 10000 }, status: { type: 'string', enum: ['completed', 'failed'] } },
  ['work_id', 'agent_id'],
);
export const releaseBody = obj({ ...holder, reason: text(512), force: { type: 'boolean' } }, ['work_id', 'agent_id']);
export const statusQuery = obj({ sha256: { type: 'string', enum: ['1', 'true', '0', 'false'] } });
export const listWorkQuery = obj({ status: name, agent_id: idSchema, team: name, limit: { type: 'string', pattern: '^[0-9]{1,6}$' } });
