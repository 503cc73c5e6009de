/**
 * A restricted unpickler for PyTorch state-dict pickles (the `data.pkl` inside a `torch.save` zip).
 *
 * Python's pickle is a small stack machine whose GLOBAL + REDUCE opcodes call arbitrary Python
 * callables, which is how a malicious `pytorch_model.bin` runs `os.system`. This interpreter executes
 * nothing: it understands only the opcodes that `torch.save(state_dict)` emits (protocol 2, plus the
 * few protocol 4 framing opcodes some writers use), and only the globals listed in
 * {@link ALLOWED_GLOBALS}, each with a fixed meaning implemented here (an OrderedDict is a `Map`, a
 * `_rebuild_tensor_v2` call is a {@link TensorRef}). Any other opcode or global is refused with a
 * {@link PickleError} naming it and the file. Opcode reference: CPython `Lib/pickletools.py`;
 * tensor layout: PyTorch `torch/_utils.py` (`_rebuild_tensor_v2`) and `torch/serialization.py`
 * (`persistent_id` writes `('storage', storage_type, key, location, numel)`).
 *
 * No Node built-ins: this also runs in browsers.
 */
import type { StDtype } from './safetensors.js';

/** Thrown for every refused or malformed pickle; the message names the file and the problem. */
export class PickleError extends Error {
  override name = 'PickleError';
}

/** A reference to an allowed Python global, e.g. `torch.FloatStorage`. */
export interface PickleGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly qualname: string;
}

/** What `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` describes. */
export interface TensorRef {
  readonly kind: 'tensor';
  /** Whatever the persistent-load callback returned for the storage. */
  readonly storage: PickleValue;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** Values the restricted unpickler can produce. Tuples and lists are both arrays; dicts are Maps. */
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | Map<PickleValue, PickleValue> | PickleGlobal | TensorRef | Opaque;

/** A value supplied by the caller's persistent-load callback (for torch: a storage descriptor). */
export interface Opaque {
  readonly kind: 'opaque';
  readonly value: unknown;
}

/** Storage classes and the safetensors dtype of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, StDtype>> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** Every global a state-dict pickle may reference, as `module.qualname`. Nothing else is accepted. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Names the source in error messages. */
  readonly file: string;
  /** Resolves a BINPERSID id (for torch: a storage tuple) to a value. Without it BINPERSID is refused. */
  readonly persistentLoad?: (pid: PickleValue) => PickleValue;
}

/** Hard cap on memo indices, so a hostile LONG_BINPUT cannot make a sparse giant table. */
const MAX_MEMO = 1 << 24;

/**
 * Runs the restricted unpickler over `bytes` and returns the pickled value.
 * @throws PickleError for any opcode or global outside the state-dict subset, or malformed input
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PickleValue {
  return new Machine(bytes, opts).run();
}

class Machine {
  private pos = 0;
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly opts: UnpickleOptions) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(msg: string): never {
    throw new PickleError(`${this.opts.file}: ${msg}`);
  }

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length) this.fail(`truncated pickle at byte ${this.pos} (needs ${n} more bytes).`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number { return this.bytes[this.need(1)]!; }
  private u16(): number { return this.view.getUint16(this.need(2), true); }
  private u32(): number { return this.view.getUint32(this.need(4), true); }

  private pop(): PickleValue {
    const v = this.stack.pop();
    if (v === undefined) this.fail(`stack underflow at byte ${this.pos - 1}.`);
    return v;
  }

  private top(): PickleValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined) this.fail(`empty stack at byte ${this.pos - 1}.`);
    return v;
  }

  /** Pops everything down to the last MARK. */
  private popMark(): PickleValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail(`no MARK to pop at byte ${this.pos - 1}.`);
    this.stack = prev;
    return items;
  }

  private text(at: number, n: number): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(at, at + n));
    } catch {
      return this.fail(`invalid UTF-8 string at byte ${at}.`);
    }
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 1024) this.fail(`unterminated GLOBAL name at byte ${this.pos}.`);
    const s = this.text(this.pos, end - this.pos);
    this.pos = end + 1;
    return s;
  }

  run(): PickleValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e) { // STOP
        const v = this.pop();
        if (this.stack.length || this.metastack.length) this.fail(`stack not empty at STOP (byte ${at}).`);
        return v;
      }
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    const s = this.stack;
    switch (op) {
      case 0x80: { // PROTO
        const p = this.u8();
        if (p > 5) this.fail(`unsupported pickle protocol ${p}.`);
        return;
      }
      case 0x95: this.need(8); return; // FRAME: length only, frames are contiguous here
      case 0x28: this.metastack.push(this.stack); this.stack = []; return; // MARK
      case 0x29: s.push([]); return; // EMPTY_TUPLE
      case 0x5d: s.push([]); return; // EMPTY_LIST
      case 0x7d: s.push(new Map()); return; // EMPTY_DICT
      case 0x74: { const items = this.popMark(); this.stack.push(items); return; } // TUPLE
      case 0x85: { const a = this.pop(); s.push([a]); return; } // TUPLE1
      case 0x86: { const b = this.pop(), a = this.pop(); s.push([a, b]); return; } // TUPLE2
      case 0x87: { const c = this.pop(), b = this.pop(), a = this.pop(); s.push([a, b, c]); return; } // TUPLE3
      case 0x73: { const v = this.pop(), k = this.pop(); this.dictOf(this.top(), at).set(k, v); return; } // SETITEM
      case 0x75: { // SETITEMS
        const items = this.popMark();
        if (items.length % 2) this.fail(`SETITEMS with an odd number of items at byte ${at}.`);
        const d = this.dictOf(this.top(), at);
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        return;
      }
      case 0x61: { const v = this.pop(); this.listOf(this.top(), at).push(v); return; } // APPEND
      case 0x65: { // APPENDS (a loop: spreading a huge MARK group into push() overflows the call stack)
        const items = this.popMark();
        const list = this.listOf(this.top(), at);
        for (const v of items) list.push(v);
        return;
      }
      case 0x4a: s.push(this.view.getInt32(this.need(4), true)); return; // BININT
      case 0x4b: s.push(this.u8()); return; // BININT1
      case 0x4d: s.push(this.u16()); return; // BININT2
      case 0x8a: s.push(this.long(this.u8())); return; // LONG1
      case 0x47: s.push(this.view.getFloat64(this.need(8), false)); return; // BINFLOAT (big-endian)
      case 0x58: { const n = this.u32(); s.push(this.text(this.need(n), n)); return; } // BINUNICODE
      case 0x8c: { const n = this.u8(); s.push(this.text(this.need(n), n)); return; } // SHORT_BINUNICODE
      case 0x54: { const n = this.u32(); s.push(this.text(this.need(n), n)); return; } // BINSTRING (py2 str)
      case 0x55: { const n = this.u8(); s.push(this.text(this.need(n), n)); return; } // SHORT_BINSTRING
      case 0x42: { const n = this.u32(); const p = this.need(n); s.push(this.bytes.slice(p, p + n)); return; } // BINBYTES
      case 0x43: { const n = this.u8(); const p = this.need(n); s.push(this.bytes.slice(p, p + n)); return; } // SHORT_BINBYTES
      case 0x88: s.push(true); return; // NEWTRUE
      case 0x89: s.push(false); return; // NEWFALSE
      case 0x4e: s.push(null); return; // NONE
      case 0x63: { const mod = this.line(); const name = this.line(); s.push(this.global(mod, name)); return; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = this.pop(), mod = this.pop();
        if (typeof mod !== 'string' || typeof name !== 'string') this.fail(`STACK_GLOBAL needs two strings at byte ${at}.`);
        s.push(this.global(mod, name));
        return;
      }
      case 0x52: { const args = this.pop(), fn = this.pop(); s.push(this.reduce(fn, args, at)); return; } // REDUCE
      case 0x62: { const state = this.pop(); this.build(this.top(), state, at); return; } // BUILD
      case 0x51: { // BINPERSID
        const pid = this.pop();
        if (!this.opts.persistentLoad) this.fail(`persistent id at byte ${at} but no storage resolver.`);
        s.push(this.opts.persistentLoad(pid));
        return;
      }
      case 0x71: this.put(this.u8()); return; // BINPUT
      case 0x72: this.put(this.u32()); return; // LONG_BINPUT
      case 0x94: this.put(this.memo.size); return; // MEMOIZE
      case 0x68: s.push(this.get(this.u8(), at)); return; // BINGET
      case 0x6a: s.push(this.get(this.u32(), at)); return; // LONG_BINGET
      case 0x30: this.pop(); return; // POP
      case 0x31: this.popMark(); return; // POP_MARK
      case 0x32: s.push(this.top()); return; // DUP
      default:
        this.fail(`opcode 0x${op.toString(16).padStart(2, '0')} (${JSON.stringify(String.fromCharCode(op))}) at byte ${at} is not allowed in a state-dict pickle.`);
    }
  }

  private long(n: number): number | bigint {
    const p = this.need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[p + i]!);
    if (this.bytes[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n); // two's complement
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private put(i: number): void {
    if (i >= MAX_MEMO) this.fail(`memo index ${i} is too large.`);
    this.memo.set(i, this.top());
  }

  private get(i: number, at: number): PickleValue {
    const v = this.memo.get(i);
    if (v === undefined) this.fail(`memo index ${i} read before it was written (byte ${at}).`);
    return v;
  }

  private dictOf(v: PickleValue, at: number): Map<PickleValue, PickleValue> {
    if (!(v instanceof Map)) this.fail(`SETITEM(S) on a non-dict at byte ${at}.`);
    return v;
  }

  private listOf(v: PickleValue, at: number): PickleValue[] {
    if (!Array.isArray(v)) this.fail(`APPEND(S) on a non-list at byte ${at}.`);
    return v;
  }

  private global(module: string, qualname: string): PickleGlobal {
    const full = `${module}.${qualname}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      this.fail(`refusing global "${full}": a state-dict pickle only references ${[...ALLOWED_GLOBALS].slice(0, 3).join(', ')} and torch storage types; this file may try to run code.`);
    }
    return { kind: 'global', module, qualname };
  }

  /** Applies one of the allowed callables. Nothing is ever executed beyond these fixed meanings. */
  private reduce(fn: PickleValue, args: PickleValue, at: number): PickleValue {
    if (!isGlobal(fn) || !Array.isArray(args)) this.fail(`REDUCE needs an allowed global and an argument tuple (byte ${at}).`);
    const full = `${fn.module}.${fn.qualname}`;
    switch (full) {
      case 'collections.OrderedDict':
        if (args.length !== 0) this.fail(`OrderedDict called with arguments at byte ${at}.`);
        return new Map();
      case 'torch._utils._rebuild_parameter':
        if (args.length < 1 || !isTensor(args[0]!)) this.fail(`_rebuild_parameter without a tensor at byte ${at}.`);
        return args[0]!;
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (args.length < 4 || storage === undefined || !isIndex(offset) || !isIndexList(size) || !isIndexList(stride) || size.length !== stride.length) {
          this.fail(`malformed _rebuild_tensor_v2 arguments at byte ${at}.`);
        }
        return { kind: 'tensor', storage, offset, shape: size, stride };
      }
      default:
        return this.fail(`refusing to call "${full}" at byte ${at}.`);
    }
  }

  private build(target: PickleValue, state: PickleValue, at: number): void {
    // OrderedDict state dicts carry `_metadata` (module versions) as instance state: harmless, dropped.
    if (target instanceof Map && (state instanceof Map || state === null)) return;
    this.fail(`BUILD on an unsupported object at byte ${at}.`);
  }
}

function isGlobal(v: PickleValue): v is PickleGlobal {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'global';
}

/** True for a {@link TensorRef}. */
export function isTensor(v: PickleValue | undefined): v is TensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'tensor';
}

/** True for an allowed `torch.*Storage` global. */
export function isStorageGlobal(v: PickleValue | undefined): v is PickleGlobal {
  return v !== undefined && isGlobal(v) && v.module === 'torch' && v.qualname in STORAGE_DTYPES;
}

function isIndex(v: PickleValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isIndexList(v: PickleValue | undefined): v is number[] {
  return Array.isArray(v) && v.every(isIndex);
}
