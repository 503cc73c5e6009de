// ONNX protobuf messages (onnx.proto field numbers) over the small encoder in protobuf.mjs:
// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto (float32 raw_data, int64),
// ValueInfoProto; a graph builder; an atomic writer; an op-type counter for a saved model.
import fs from 'node:fs';
import os from 'node:os';
import { Message, fields } from './protobuf.mjs';

export const IR_VERSION = 8;
export const OPSET = 17;

const DT_FLOAT = 1, DT_INT64 = 7;
const AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_FLOATS = 6, AT_INTS = 7;

if (os.endianness() !== 'LE') throw new Error('onnx.mjs writes raw_data in host byte order: little-endian hosts only');

/** Attribute value wrappers: the type must be explicit since JS numbers do not say int or float. */
export const attr = {
  int: (v) => ({ type: AT_INT, v }),
  float: (v) => ({ type: AT_FLOAT, v }),
  ints: (v) => ({ type: AT_INTS, v }),
  floats: (v) => ({ type: AT_FLOATS, v }),
  string: (v) => ({ type: AT_STRING, v }),
};

function attributeProto(name, a) {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20
  const m = new Message().string(1, name);
  switch (a.type) {
    case AT_FLOAT: m.float(2, a.v); break;
    case AT_INT: m.int(3, a.v); break;
    case AT_STRING: m.string(4, a.v); break;
    case AT_FLOATS: m.floats(7, a.v); break;
    case AT_INTS: m.ints(8, a.v); break;
    default: throw new Error(`attribute ${name}: unknown type`);
  }
  return m.int(20, a.type);
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9. `data` is a Float32Array or a BigInt64Array. */
function tensorProto(name, dims, data) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
  const type = data instanceof Float32Array ? DT_FLOAT : data instanceof BigInt64Array ? DT_INT64 : 0;
  if (!type) throw new Error(`initializer ${name}: unsupported array type`);
  return new Message().ints(1, dims).int(2, type).string(8, name)
    .bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** ValueInfoProto of a float tensor; a dim is a number (fixed) or a string (symbolic, dim_param). */
function valueInfoProto(name, dims, elemType = DT_FLOAT) {
  const shape = new Message();
  for (const d of dims) {
    // TensorShapeProto.Dimension: dim_value 1, dim_param 2
    shape.message(1, typeof d === 'string' ? new Message().string(2, d) : new Message().int(1, d));
  }
  const tensorType = new Message().int(1, elemType).message(2, shape); // TypeProto.Tensor: elem_type 1, shape 2
  const type = new Message().message(1, tensorType); // TypeProto: tensor_type 1
  return new Message().string(1, name).message(2, type);
}

/** Builds a graph: nodes in topological order, named initializers, graph inputs and outputs. */
export class Graph {
  constructor(name) {
    this.name = name;
    this.nodes = [];
    this.initializers = [];
    this.initNames = new Set();
    this.inputs = [];
    this.outputs = [];
    this.opCount = new Map();
  }

  /** Adds an initializer (float32 or int64 data) and returns its name. */
  init(name, dims, data) {
    if (this.initNames.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.initNames.add(name);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** An int64 1-D constant (shapes, axes, slice bounds). */
  i64(name, values) { return this.init(name, [values.length], BigInt64Array.from(values, (v) => BigInt(v))); }

  /** A float32 scalar constant. */
  scalar(name, v) { return this.init(name, [], Float32Array.of(v)); }

  input(name, dims) { this.inputs.push({ name, dims }); return name; }

  output(name, dims) { this.outputs.push({ name, dims }); }

  /**
   * Appends a node; `scope` names it torch-style (`/scope/Op`, `/scope/Op_1`, ...) and its single
   * output `<node name>_output_0`. Returns the output name.
   */
  node(op, inputs, attrs = {}, scope = '') {
    const base = `${scope}/${op}`;
    const k = this.opCount.get(base) ?? 0;
    this.opCount.set(base, k + 1);
    const name = k === 0 ? base : `${base}_${k}`;
    const output = `${name}_output_0`;
    this.nodes.push({ op, inputs, outputs: [output], attrs, name });
    return output;
  }

  /** The ModelProto as a Message. */
  model({ producer = 'tfjs-beit tools/onnx', producerVersion = '1', docString = '' } = {}) {
    const g = new Message();
    for (const n of this.nodes) {
      // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
      const m = new Message().strings(1, n.inputs).strings(2, n.outputs).string(3, n.name).string(4, n.op);
      for (const [k, a] of Object.entries(n.attrs)) m.message(5, attributeProto(k, a));
      g.message(1, m);
    }
    g.string(2, this.name); // GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12
    for (const t of this.initializers) g.message(5, tensorProto(t.name, t.dims, t.data));
    if (docString) g.string(10, docString);
    for (const i of this.inputs) g.message(11, valueInfoProto(i.name, i.dims));
    for (const o of this.outputs) g.message(12, valueInfoProto(o.name, o.dims));
    // ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
    return new Message().int(1, IR_VERSION).string(2, producer).string(3, producerVersion)
      .message(7, g).message(8, new Message().string(1, '').int(2, OPSET));
  }
}

/** Writes the chunks of a message to `file` atomically (temporary file in the same folder, then rename). */
export function writeMessageAtomic(file, message) {
  const chunks = message.finish();
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, c.length - off);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** Op-type counts (`domain:op` for non-default domains) and the initializer count of an ONNX file. */
export function countOps(file) {
  const buf = fs.readFileSync(file);
  const ops = new Map();
  let initializers = 0;
  const text = (f) => buf.toString('utf8', f.start, f.end);
  for (const f of fields(buf)) {
    if (f.field !== 7) continue; // ModelProto.graph
    for (const g of fields(buf, f.start, f.end)) {
      if (g.field === 5) initializers++;
      if (g.field !== 1) continue; // GraphProto.node
      let op = '', domain = '';
      for (const n of fields(buf, g.start, g.end)) {
        if (n.field === 4) op = text(n);
        else if (n.field === 7) domain = text(n);
      }
      const key = domain && domain !== 'ai.onnx' ? `${domain}:${op}` : op;
      ops.set(key, (ops.get(key) ?? 0) + 1);
    }
  }
  return { ops, initializers };
}
