// OTLP/HTTP protobuf bodies <-> the JSON shape shared/claude-code/otlp-points.ts reads. Decoded by
// protobufjs from a reflection schema of the OTLP messages this daemon reads: only the fields it
// uses (field numbers as in opentelemetry-proto v1); protobuf readers skip every other field.
// Loaded by otlp-routes.ts at the first protobuf export only.
import protobuf from 'protobufjs/light.js';
import { responseBody, type PartialSuccess, type Signal } from './otlp-response.js';

const keyValue = { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } };
const SCHEMA = {
  nested: {
    otlp: {
      nested: {
        AnyValue: {
          oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
          fields: {
            stringValue: { type: 'string', id: 1 },
            boolValue: { type: 'bool', id: 2 },
            intValue: { type: 'int64', id: 3 },
            doubleValue: { type: 'double', id: 4 },
            arrayValue: { type: 'ArrayValue', id: 5 },
            kvlistValue: { type: 'KeyValueList', id: 6 },
            bytesValue: { type: 'bytes', id: 7 },
          },
        },
        ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
        KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        KeyValue: keyValue,
        Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        InstrumentationScope: { fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } } },
        // metrics/v1
        ExportMetricsServiceRequest: { fields: { resourceMetrics: { rule: 'repeated', type: 'ResourceMetrics', id: 1 } } },
        ResourceMetrics: { fields: { resource: { type: 'Resource', id: 1 }, scopeMetrics: { rule: 'repeated', type: 'ScopeMetrics', id: 2 } } },
        ScopeMetrics: { fields: { scope: { type: 'InstrumentationScope', id: 1 }, metrics: { rule: 'repeated', type: 'Metric', id: 2 } } },
        Metric: {
          fields: {
            name: { type: 'string', id: 1 },
            unit: { type: 'string', id: 3 },
            gauge: { type: 'Gauge', id: 5 },
            sum: { type: 'Sum', id: 7 },
          },
        },
        Gauge: { fields: { dataPoints: { rule: 'repeated', type: 'NumberDataPoint', id: 1 } } },
        Sum: {
          fields: {
            dataPoints: { rule: 'repeated', type: 'NumberDataPoint', id: 1 },
            aggregationTemporality: { type: 'int32', id: 2 },
            isMonotonic: { type: 'bool', id: 3 },
          },
        },
        NumberDataPoint: {
          oneofs: { value: { oneof: ['asDouble', 'asInt'] } },
          fields: {
            attributes: { rule: 'repeated', type: 'KeyValue', id: 7 },
            startTimeUnixNano: { type: 'fixed64', id: 2 },
            timeUnixNano: { type: 'fixed64', id: 3 },
            asDouble: { type: 'double', id: 4 },
            asInt: { type: 'sfixed64', id: 6 },
          },
        },
        ExportMetricsPartialSuccess: { fields: { rejectedDataPoints: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
        ExportMetricsServiceResponse: { fields: { partialSuccess: { type: 'ExportMetricsPartialSuccess', id: 1 } } },
        // logs/v1
        ExportLogsServiceRequest: { fields: { resourceLogs: { rule: 'repeated', type: 'ResourceLogs', id: 1 } } },
        ResourceLogs: { fields: { resource: { type: 'Resource', id: 1 }, scopeLogs: { rule: 'repeated', type: 'ScopeLogs', id: 2 } } },
        ScopeLogs: { fields: { scope: { type: 'InstrumentationScope', id: 1 }, logRecords: { rule: 'repeated', type: 'LogRecord', id: 2 } } },
        LogRecord: {
          fields: {
            timeUnixNano: { type: 'fixed64', id: 1 },
            observedTimeUnixNano: { type: 'fixed64', id: 11 },
            severityNumber: { type: 'int32', id: 2 },
            severityText: { type: 'string', id: 3 },
            attributes: { rule: 'repeated', type: 'KeyValue', id: 6 },
            eventName: { type: 'string', id: 12 },
          },
        },
        ExportLogsPartialSuccess: { fields: { rejectedLogRecords: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
        ExportLogsServiceResponse: { fields: { partialSuccess: { type: 'ExportLogsPartialSuccess', id: 1 } } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(SCHEMA);
const type = (name: string) => root.lookupType(`otlp.${name}`);
const TYPES: Record<Signal, { request: protobuf.Type; response: protobuf.Type }> = {
  metrics: { request: type('ExportMetricsServiceRequest'), response: type('ExportMetricsServiceResponse') },
  logs: { request: type('ExportLogsServiceRequest'), response: type('ExportLogsServiceResponse') },
};

/** A protobuf request body in the OTLP JSON shape (64-bit integers as decimal strings). Throws on bytes that are not one. */
export function decodeRequest(signal: Signal, bytes: Uint8Array): unknown {
  const message = TYPES[signal].request.decode(bytes);
  return TYPES[signal].request.toObject(message, { longs: String, bytes: String, defaults: false, arrays: false });
}

/** The export response as protobuf bytes. */
export function encodeResponse(signal: Signal, partial: PartialSuccess | null): Buffer {
  const { response } = TYPES[signal];
  return Buffer.from(response.encode(response.fromObject(responseBody(signal, partial))).finish());
}
