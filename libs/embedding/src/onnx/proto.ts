/**
 * Just enough of the protobuf wire format to write an ONNX ModelProto (field numbers from
 * onnx/onnx.proto). Written by hand rather than through protobufjs: the converter only ever
 * writes, and it needs about a dozen fields.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** One protobuf message under construction: a list of byte chunks, so big tensors are not re-copied per level. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  private rawVarint(value: number | bigint): void {
    // int64 fields carry negatives as 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.rawVarint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(data.length);
    this.push(data);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, child: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(child.size);
    for (const part of child.parts) this.push(part);
    return this;
  }

  /** A packed repeated int64 (the proto2 default is unpacked, but every parser accepts packed). */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.message(field, inner);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

// --- ONNX messages (onnx.proto, IR version 8) -------------------------------------------------

export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type AttributeValue = number | string | readonly number[] | { float: number };

/** AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7). */
function attribute(name: string, value: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof value === 'number') return a.int(3, value).int(20, 2);
  if (typeof value === 'string') return a.string(4, value).int(20, 3);
  if ('float' in value) return a.float(2, value.float).int(20, 1);
  return a.packedInts(8, value).int(20, 7);
}

export interface OnnxNode {
  op: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
function node(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  return w;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  /** FLOAT tensors from a Float32Array, INT64 from a BigInt64Array; stored little-endian in raw_data. */
  data: Float32Array | BigInt64Array;
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9. */
function tensor(t: OnnxInitializer): ProtoWriter {
  const w = new ProtoWriter().packedInts(1, t.dims).int(2, t.data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64).string(8, t.name);
  // Typed arrays are host-endian; Node runs on little-endian machines, which raw_data requires.
  return w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** A float tensor's type; a string dimension is symbolic (dim_param), a number fixed (dim_value). */
export interface OnnxValueInfo {
  name: string;
  shape: readonly (number | string)[];
}

/** ValueInfoProto{name 1, type 2} → TypeProto{tensor_type 1} → Tensor{elem_type 1, shape 2} → TensorShapeProto{dim 1}. */
function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, ONNX_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxInitializer[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModelMeta {
  opset: number;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

/**
 * ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7,
 * opset_import 8 (OperatorSetIdProto{domain 1, version 2}), metadata_props 14 ({key 1, value 2}).
 * GraphProto: node 1, name 2, initializer 5, input 11, output 12.
 */
export function encodeModel(graph: OnnxGraph, meta: OnnxModelMeta): Uint8Array {
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, node(n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const i of graph.inputs) g.message(11, valueInfo(i));
  for (const o of graph.outputs) g.message(12, valueInfo(o));

  const m = new ProtoWriter().int(1, meta.irVersion).string(2, meta.producerName).string(3, meta.producerVersion);
  if (meta.docString) m.string(6, meta.docString);
  m.message(7, g);
  m.message(8, new ProtoWriter().string(1, '').int(2, meta.opset));
  for (const [key, value] of Object.entries(meta.metadata ?? {})) m.message(14, new ProtoWriter().string(1, key).string(2, value));
  return m.finish();
}
