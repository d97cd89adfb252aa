// Request bodies in Kubernetes' protobuf encoding (application/vnd.kubernetes.protobuf), for the
// kinds client-go's typed clients send that way to the sandbox: helm's release storage (Secrets,
// and the DeleteOptions of their deletion), typed evictions,
// `kubectl create token|namespace|secret|configmap`, `kubectl auth can-i|whoami`. The body is the
// "k8s\0" magic and a runtime.Unknown {typeMeta, raw}; raw is the object's message, decoded here by
// field number (k8s.io/api/*/generated.proto) into the JSON form the API reads. Empty strings,
// zero numbers, false and empty messages are left out, as Go's omitempty leaves them out of JSON.
// Other kinds are refused with kube's 415, as before. Pure: no I/O.
import { FieldReader } from '../../etcd/proto-wire.ts';

/** The 4-byte prefix of every protobuf-encoded Kubernetes object. */
const MAGIC = [0x6b, 0x38, 0x73, 0x00];

type Kind = 'string' | 'bool' | 'int' | 'bytes' | 'time' | 'stringMap' | 'bytesMap' | { message: Schema };

interface Field {
  name: string;
  kind: Kind;
  repeated?: boolean;
}

/** Field number to field. */
type Schema = Record<number, Field>;

const time: Kind = 'time';
const ownerReference: Schema = {
  1: { name: 'kind', kind: 'string' },
  3: { name: 'name', kind: 'string' },
  4: { name: 'uid', kind: 'string' },
  5: { name: 'apiVersion', kind: 'string' },
  6: { name: 'controller', kind: 'bool' },
  7: { name: 'blockOwnerDeletion', kind: 'bool' },
};
const objectMeta: Schema = {
  1: { name: 'name', kind: 'string' },
  2: { name: 'generateName', kind: 'string' },
  3: { name: 'namespace', kind: 'string' },
  5: { name: 'uid', kind: 'string' },
  6: { name: 'resourceVersion', kind: 'string' },
  7: { name: 'generation', kind: 'int' },
  8: { name: 'creationTimestamp', kind: time },
  9: { name: 'deletionTimestamp', kind: time },
  10: { name: 'deletionGracePeriodSeconds', kind: 'int' },
  11: { name: 'labels', kind: 'stringMap' },
  12: { name: 'annotations', kind: 'stringMap' },
  13: { name: 'ownerReferences', kind: { message: ownerReference }, repeated: true },
  14: { name: 'finalizers', kind: 'string', repeated: true },
};
const metadata: Field = { name: 'metadata', kind: { message: objectMeta } };

const resourceAttributes: Schema = {
  1: { name: 'namespace', kind: 'string' },
  2: { name: 'verb', kind: 'string' },
  3: { name: 'group', kind: 'string' },
  4: { name: 'version', kind: 'string' },
  5: { name: 'resource', kind: 'string' },
  6: { name: 'subresource', kind: 'string' },
  7: { name: 'name', kind: 'string' },
};
const nonResourceAttributes: Schema = {
  1: { name: 'path', kind: 'string' },
  2: { name: 'verb', kind: 'string' },
};

const deleteOptions: Schema = {
  1: { name: 'gracePeriodSeconds', kind: 'int' },
  2: {
    name: 'preconditions',
    kind: { message: { 1: { name: 'uid', kind: 'string' }, 2: { name: 'resourceVersion', kind: 'string' } } },
  },
  3: { name: 'orphanDependents', kind: 'bool' },
  4: { name: 'propagationPolicy', kind: 'string' },
  5: { name: 'dryRun', kind: 'string', repeated: true },
};

/** The kinds decoded, by "apiVersion/kind" ("*" for the meta kinds every group version registers). */
const SCHEMAS: Record<string, Schema> = {
  'v1/Secret': {
    1: metadata,
    2: { name: 'data', kind: 'bytesMap' },
    3: { name: 'type', kind: 'string' },
    4: { name: 'stringData', kind: 'stringMap' },
    5: { name: 'immutable', kind: 'bool' },
  },
  'v1/ConfigMap': {
    1: metadata,
    2: { name: 'data', kind: 'stringMap' },
    3: { name: 'binaryData', kind: 'bytesMap' },
    4: { name: 'immutable', kind: 'bool' },
  },
  'v1/Namespace': {
    1: metadata,
    2: { name: 'spec', kind: { message: { 1: { name: 'finalizers', kind: 'string', repeated: true } } } },
  },
  'authentication.k8s.io/v1/TokenRequest': {
    1: metadata,
    2: {
      name: 'spec',
      kind: {
        message: {
          1: { name: 'audiences', kind: 'string', repeated: true },
          3: {
            name: 'boundObjectRef',
            kind: {
              message: {
                1: { name: 'kind', kind: 'string' },
                2: { name: 'apiVersion', kind: 'string' },
                3: { name: 'name', kind: 'string' },
                4: { name: 'uid', kind: 'string' },
              },
            },
          },
          4: { name: 'expirationSeconds', kind: 'int' },
        },
      },
    },
  },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {
    1: metadata,
    2: {
      name: 'spec',
      kind: {
        message: {
          1: { name: 'resourceAttributes', kind: { message: resourceAttributes } },
          2: { name: 'nonResourceAttributes', kind: { message: nonResourceAttributes } },
        },
      },
    },
  },
  'authorization.k8s.io/v1/SelfSubjectRulesReview': {
    1: metadata,
    2: { name: 'spec', kind: { message: { 1: { name: 'namespace', kind: 'string' } } } },
  },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: metadata },
  'policy/v1/Eviction': { 1: metadata, 2: { name: 'deleteOptions', kind: { message: deleteOptions } } },
  '*/DeleteOptions': deleteOptions,
};

const utf8 = new TextDecoder();

/** A body that is protobuf but not one the sandbox reads: the caller answers 415. */
export class UnsupportedProtobuf extends Error {}

/** A 64-bit varint as a signed number (int64 fields; exact below 2^53). */
function int64(r: FieldReader): number {
  const v = r.uint64();
  return Number(v >= 1n << 63n ? v - (1n << 64n) : v);
}

function decodeTime(b: Uint8Array): string | undefined {
  const r = new FieldReader(b);
  let seconds = 0;
  while (r.next()) {
    if (r.field === 1 && r.wire === 0) seconds = int64(r);
    else r.skip();
  }
  // The zero time is "null" in JSON (omitted here).
  if (seconds === 0 || seconds === -62135596800) return undefined;
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeMapEntry(b: Uint8Array, bytes: boolean): [string, string] {
  const r = new FieldReader(b);
  let key = '';
  let value = '';
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) key = utf8.decode(r.bytes());
    else if (r.field === 2 && r.wire === 2) {
      const v = r.bytes();
      value = bytes ? Buffer.from(v).toString('base64') : utf8.decode(v);
    } else r.skip();
  }
  return [key, value];
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === '' || v === false || v === 0) return true;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return Object.keys(v).length === 0;
  return false;
}

function decodeMessage(b: Uint8Array, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const r = new FieldReader(b);
  while (r.next()) {
    const f = schema[r.field];
    if (!f) {
      r.skip();
      continue;
    }
    let v: unknown;
    const k = f.kind;
    if (k === 'string') v = r.wire === 2 ? utf8.decode(r.bytes()) : (r.skip(), undefined);
    else if (k === 'bool') v = r.wire === 0 ? r.uint() !== 0 : (r.skip(), undefined);
    else if (k === 'int') v = r.wire === 0 ? int64(r) : (r.skip(), undefined);
    else if (k === 'bytes')
      v = r.wire === 2 ? Buffer.from(r.bytes()).toString('base64') : (r.skip(), undefined);
    else if (k === 'time') v = r.wire === 2 ? decodeTime(r.bytes()) : (r.skip(), undefined);
    else if (k === 'stringMap' || k === 'bytesMap') {
      if (r.wire !== 2) {
        r.skip();
        continue;
      }
      const [key, value] = decodeMapEntry(r.bytes(), k === 'bytesMap');
      const m = (out[f.name] ?? {}) as Record<string, string>;
      m[key] = value;
      out[f.name] = m;
      continue;
    } else v = r.wire === 2 ? decodeMessage(r.bytes(), k.message) : (r.skip(), undefined);
    if (f.repeated) {
      if (v !== undefined) out[f.name] = [...((out[f.name] as unknown[] | undefined) ?? []), v];
    } else if (!isEmpty(v)) out[f.name] = v;
  }
  return out;
}

/** Is this body Kubernetes' protobuf encoding? */
export function isProtobufContentType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim() === 'application/vnd.kubernetes.protobuf';
}

/**
 * Decodes a protobuf request body into the JSON object the API reads.
 * @throws UnsupportedProtobuf for a kind the sandbox does not decode, or a malformed body.
 */
export function decodeProtobufObject(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((m, i) => body[i] !== m))
    throw new UnsupportedProtobuf('the body does not start with the protobuf magic');
  let apiVersion = '';
  let kind = '';
  let raw: Uint8Array = new Uint8Array(0);
  try {
    const r = new FieldReader(body.subarray(4));
    while (r.next()) {
      if (r.field === 1 && r.wire === 2) {
        const t = new FieldReader(r.bytes());
        while (t.next()) {
          if (t.field === 1 && t.wire === 2) apiVersion = utf8.decode(t.bytes());
          else if (t.field === 2 && t.wire === 2) kind = utf8.decode(t.bytes());
          else t.skip();
        }
      } else if (r.field === 2 && r.wire === 2) raw = r.bytes();
      else r.skip();
    }
    const meta = kind === 'DeleteOptions';
    const schema = SCHEMAS[meta ? `*/${kind}` : `${apiVersion}/${kind}`];
    if (!schema)
      throw new UnsupportedProtobuf(`the sandbox does not decode ${apiVersion} ${kind} in protobuf`);
    return { apiVersion, kind, ...(meta ? {} : { metadata: {} }), ...decodeMessage(raw, schema) };
  } catch (e) {
    if (e instanceof UnsupportedProtobuf) throw e;
    throw new UnsupportedProtobuf(`malformed protobuf body: ${e instanceof Error ? e.message : String(e)}`);
  }
}
