/**
 * CommandMessage and the protocol's number tables. This file is the ONE place that holds the
 * wire numbers of MessageType and ControlType and the JSON member names, so they can be
 * re-pointed in one edit if a capture from a real autocore-server shows other values.
 */
import { IpcError, type InvalidMessageInfo } from './errors.ts';
import { currentTimecode, isU32, nextTransactionId } from './ids.ts';

/**
 * Semantic meaning of a message; also the frame header's type byte.
 *
 * @example
 * ```ts
 * MessageType.Request; // 1
 * messageTypeName(MessageType.Broadcast); // 'Broadcast'
 * ```
 */
export const MessageType = {
  NoOp: 0,
  Request: 1,
  Response: 2,
  Broadcast: 3,
  Control: 4,
  Read: 5,
  Write: 6,
  Subscribe: 7,
  Unsubscribe: 8,
  Heartbeat: 9,
} as const;
/** A MessageType wire number. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
/** A MessageType variant name. */
export type MessageTypeName = keyof typeof MessageType;

/**
 * Control message subtypes, carried in `control_type` of Control messages.
 *
 * @example
 * ```ts
 * const reg = CommandMessage.control(ControlType.Register, 'press1', { name: 'press1' });
 * ```
 */
export const ControlType = {
  NoOp: 0,
  Initialize: 1,
  Finalize: 2,
  Register: 3,
  RegisterAck: 4,
  Configure: 5,
  Status: 6,
} as const;
/** A ControlType wire number. */
export type ControlType = (typeof ControlType)[keyof typeof ControlType];
/** A ControlType variant name. */
export type ControlTypeName = keyof typeof ControlType;

const MESSAGE_TYPE_NAMES: readonly MessageTypeName[] = invert(MessageType);
const CONTROL_TYPE_NAMES: readonly ControlTypeName[] = invert(ControlType);

function invert<K extends string>(table: Record<K, number>): K[] {
  const out: K[] = [];
  for (const name of Object.keys(table) as K[]) out[table[name]] = name;
  return out;
}

/**
 * The variant name of a MessageType number, or undefined.
 * @example
 * ```ts
 * messageTypeName(2); // 'Response'
 * ```
 */
export function messageTypeName(value: number): MessageTypeName | undefined {
  return MESSAGE_TYPE_NAMES[value];
}

/**
 * The variant name of a ControlType number, or undefined.
 * @example
 * ```ts
 * controlTypeName(3); // 'Register'
 * ```
 */
export function controlTypeName(value: number): ControlTypeName | undefined {
  return CONTROL_TYPE_NAMES[value];
}

/** True for a byte that names a MessageType. */
export function isMessageType(value: number): value is MessageType {
  return MESSAGE_TYPE_NAMES[value] !== undefined;
}

/** Accepts a MessageType as its number or its exact variant name; undefined otherwise. */
export function parseMessageType(value: unknown): MessageType | undefined {
  if (typeof value === 'number') return isMessageType(value) ? value : undefined;
  if (typeof value === 'string' && Object.hasOwn(MessageType, value)) {
    return MessageType[value as MessageTypeName];
  }
  return undefined;
}

/** Accepts a ControlType as its number or its exact variant name; undefined otherwise. */
export function parseControlType(value: unknown): ControlType | undefined {
  if (typeof value === 'number') {
    return CONTROL_TYPE_NAMES[value] === undefined ? undefined : (value as ControlType);
  }
  if (typeof value === 'string' && Object.hasOwn(ControlType, value)) {
    return ControlType[value as ControlTypeName];
  }
  return undefined;
}

/** Message types that ask for exactly one Response. */
export function expectsReply(type: number): boolean {
  return (
    type === MessageType.Request ||
    type === MessageType.Read ||
    type === MessageType.Write ||
    type === MessageType.Subscribe ||
    type === MessageType.Unsubscribe ||
    type === MessageType.Control
  );
}

/** Request, Read and Write: the types a module serves for its domain. */
export function isRequestType(type: number): boolean {
  return type === MessageType.Request || type === MessageType.Read || type === MessageType.Write;
}

/**
 * The domain of `topic`: everything before its first `.` (all of it when there is none).
 *
 * @example
 * ```ts
 * domainOf('press1.set_speed'); // 'press1'
 * ```
 */
export function domainOf(topic: string): string {
  const dot = topic.indexOf('.');
  return dot < 0 ? topic : topic.slice(0, dot);
}

/** The members of a CommandMessage as they travel in JSON (snake_case). */
export interface CommandMessageWire {
  transaction_id: number;
  timecode: number;
  topic: string;
  message_type: number;
  data: unknown;
  crc: number;
  success: boolean;
  error_message: string;
  control_type?: number;
}

/** Fields accepted by the {@link CommandMessage} constructor; all but `topic` have defaults. */
export interface CommandMessageInit {
  /** Defaults to 0 (no reply expected). */
  transactionId?: number;
  /** Defaults to {@link currentTimecode}(). */
  timecode?: number;
  topic: string;
  /** Defaults to NoOp. */
  messageType?: MessageType;
  /** Defaults to null. */
  data?: unknown;
  /** Defaults to 0 (no checksum). */
  crc?: number;
  /** Defaults to false. */
  success?: boolean;
  /** Defaults to "". */
  errorMessage?: string;
  /** Only meaningful on Control messages. */
  controlType?: ControlType;
}

/**
 * The unified message of all IPC communication, with the members of mechutil's
 * `CommandMessage` in TypeScript casing. `toJSON()` gives the snake_case wire form.
 *
 * @example
 * ```ts
 * const req = CommandMessage.request('press1.set_speed', { rpm: 1200 });
 * const ok = req.intoResponse({ accepted: true });
 * const bad = req.intoErrorResponse('rpm out of range');
 * req.domain;   // 'press1'
 * req.subtopic; // 'set_speed'
 * ```
 */
export class CommandMessage {
  transactionId: number;
  timecode: number;
  topic: string;
  messageType: MessageType;
  data: unknown;
  crc: number;
  success: boolean;
  errorMessage: string;
  controlType: ControlType | undefined;

  constructor(init: CommandMessageInit) {
    this.transactionId = init.transactionId ?? 0;
    this.timecode = init.timecode ?? currentTimecode();
    this.topic = init.topic;
    this.messageType = init.messageType ?? MessageType.NoOp;
    this.data = init.data ?? null;
    this.crc = init.crc ?? 0;
    this.success = init.success ?? false;
    this.errorMessage = init.errorMessage ?? '';
    this.controlType = init.controlType;
  }

  /** A Request for `topic` with a fresh transaction id. */
  static request(topic: string, data: unknown = null): CommandMessage {
    return CommandMessage.of(MessageType.Request, topic, data);
  }

  /** A Read of the value at `topic`, with a fresh transaction id. */
  static read(topic: string, data: unknown = null): CommandMessage {
    return CommandMessage.of(MessageType.Read, topic, data);
  }

  /** A Write of `data` to `topic`, with a fresh transaction id. */
  static write(topic: string, data: unknown): CommandMessage {
    return CommandMessage.of(MessageType.Write, topic, data);
  }

  /** A Broadcast of `data` on `topic` (transaction id 0: no reply). */
  static broadcast(topic: string, data: unknown): CommandMessage {
    return new CommandMessage({ topic, messageType: MessageType.Broadcast, data, success: true });
  }

  /** A Subscribe to a topic pattern, with a fresh transaction id. */
  static subscribe(pattern: string): CommandMessage {
    return CommandMessage.of(MessageType.Subscribe, pattern, null);
  }

  /** An Unsubscribe of a topic pattern, with a fresh transaction id. */
  static unsubscribe(pattern: string): CommandMessage {
    return CommandMessage.of(MessageType.Unsubscribe, pattern, null);
  }

  /** A Control message; `topic` is the module's name. */
  static control(controlType: ControlType, topic: string, data: unknown = null): CommandMessage {
    const msg = CommandMessage.of(MessageType.Control, topic, data);
    msg.controlType = controlType;
    return msg;
  }

  /** A Heartbeat; transaction id 0 makes it one-way. */
  static heartbeat(transactionId: number = nextTransactionId()): CommandMessage {
    return new CommandMessage({ transactionId, topic: '', messageType: MessageType.Heartbeat });
  }

  private static of(type: MessageType, topic: string, data: unknown): CommandMessage {
    return new CommandMessage({
      transactionId: nextTransactionId(),
      topic,
      messageType: type,
      data,
    });
  }

  /** The domain: `topic` up to the first `.` (the whole topic when there is none). */
  get domain(): string {
    return domainOf(this.topic);
  }

  /** Everything after the first `.` of `topic` ("" when there is none). */
  get subtopic(): string {
    const dot = this.topic.indexOf('.');
    return dot < 0 ? '' : this.topic.slice(dot + 1);
  }

  /** A successful Response: same transaction id and topic. */
  intoResponse(data: unknown = null): CommandMessage {
    return new CommandMessage({
      transactionId: this.transactionId,
      topic: this.topic,
      messageType: MessageType.Response,
      data,
      success: true,
    });
  }

  /** A failed Response: same transaction id and topic, `errorMessage` set. */
  intoErrorResponse(errorMessage: string, data: unknown = null): CommandMessage {
    return new CommandMessage({
      transactionId: this.transactionId,
      topic: this.topic,
      messageType: MessageType.Response,
      data,
      success: false,
      errorMessage,
    });
  }

  /** The snake_case wire object (used by JSON.stringify). */
  toJSON(): CommandMessageWire {
    const wire: CommandMessageWire = {
      transaction_id: this.transactionId,
      timecode: this.timecode,
      topic: this.topic,
      message_type: this.messageType,
      data: this.data === undefined ? null : this.data,
      crc: this.crc,
      success: this.success,
      error_message: this.errorMessage,
    };
    if (this.messageType === MessageType.Control) wire.control_type = this.controlType ?? 0;
    return wire;
  }

  /**
   * Builds a CommandMessage from a parsed JSON value, validating it as PROTOCOL.md section 2
   * says. Throws an IpcError: ERR_FRAMING for faults that make the stream untrustworthy (not an
   * object, missing or unknown `message_type`), ERR_INVALID_MESSAGE for faults of this message
   * alone (with `invalid` holding what could be read, so it can be answered).
   */
  static fromJSON(value: unknown, maxDepth = DEFAULT_MAX_DEPTH): CommandMessage {
    return fromWire(value, maxDepth, -1);
  }
}

/** Default JSON nesting limit of a payload; the envelope object is depth 1. */
export const DEFAULT_MAX_DEPTH = 64;

/** @internal Validation shared by the frame decoder and the WebSocket text form. */
export function fromWire(value: unknown, maxDepth: number, headerType: number): CommandMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IpcError('ERR_FRAMING', `payload is not a JSON object (got ${describe(value)})`);
  }
  const o = value as Record<string, unknown>;
  const rawType = o.message_type;
  if (rawType === undefined) throw new IpcError('ERR_FRAMING', 'message_type is missing');
  const messageType = parseMessageType(rawType);
  if (messageType === undefined) {
    throw new IpcError('ERR_FRAMING', `message_type ${describe(rawType)} names no MessageType`);
  }
  if (headerType >= 0 && messageType !== headerType) {
    throw new IpcError(
      'ERR_FRAMING',
      `message_type ${messageType} differs from the header's type byte ${headerType}`,
    );
  }

  const txid = o.transaction_id;
  const topic = o.topic;
  // Missing optional members take their defaults; present ones must have the right type
  // (null included: it is a type mismatch, except for `data`).
  const timecode = o.timecode === undefined ? 0 : o.timecode;
  const crc = o.crc === undefined ? 0 : o.crc;
  const success = o.success === undefined ? false : o.success;
  const errorMessage = o.error_message === undefined ? '' : o.error_message;
  const data = o.data === undefined ? null : o.data;
  let controlType: ControlType | undefined;
  let fault: string | undefined;
  if (txid === undefined) fault = 'transaction_id is missing';
  else if (!isU32(txid)) fault = `transaction_id must be a u32 integer (got ${describe(txid)})`;
  else if (typeof topic !== 'string') fault = `topic must be a string (got ${describe(topic)})`;
  else if (typeof timecode !== 'number' || !Number.isInteger(timecode)) {
    fault = `timecode must be an integer (got ${describe(timecode)})`;
  } else if (!isU32(crc)) fault = `crc must be a u32 integer (got ${describe(crc)})`;
  else if (typeof success !== 'boolean') fault = `success must be a boolean (got ${describe(success)})`;
  else if (typeof errorMessage !== 'string') {
    fault = `error_message must be a string (got ${describe(errorMessage)})`;
  } else if (messageType === MessageType.Control) {
    const rawControl = o.control_type === undefined ? 0 : o.control_type;
    controlType = parseControlType(rawControl);
    if (controlType === undefined) fault = `control_type ${describe(rawControl)} names no ControlType`;
  }
  // The envelope is depth 1; every member counts, known or not.
  if (fault === undefined && nestsDeeper(o, maxDepth - 1)) fault = `JSON nesting deeper than ${maxDepth}`;
  if (fault !== undefined) throw invalidMessage(fault, messageType, txid, topic);

  const msg = new CommandMessage({
    transactionId: txid as number,
    timecode: timecode as number,
    topic: topic as string,
    messageType,
    data,
    crc: crc as number,
    success: success as boolean,
    errorMessage: errorMessage as string,
  });
  msg.controlType = controlType;
  return msg;
}

function invalidMessage(detail: string, messageType: number, txid: unknown, topic: unknown): IpcError {
  const info: InvalidMessageInfo = { messageType };
  if (isU32(txid)) info.transactionId = txid;
  if (typeof topic === 'string') info.topic = topic;
  return new IpcError('ERR_INVALID_MESSAGE', detail, { invalid: info });
}

/**
 * True when the container `v` holds containers more than `left` levels below it.
 * Walking the parsed value is far cheaper than scanning the bytes, and stops at depth `left`.
 */
function nestsDeeper(v: object, left: number): boolean {
  if (left < 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i];
      if (typeof e === 'object' && e !== null && nestsDeeper(e, left - 1)) return true;
    }
    return false;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const e = o[k];
    if (typeof e === 'object' && e !== null && nestsDeeper(e, left - 1)) return true;
  }
  return false;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return typeof v;
}

/** Module names: 1-64 characters of `[A-Za-z0-9_-]`. */
export const MODULE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Domain reserved for the server itself. */
export const SYSTEM_DOMAIN = 'system';

/**
 * Registration sent by a module when it connects (Control/Register `data`).
 *
 * @example
 * ```ts
 * const reg: ModuleRegistration = { name: 'press1', version: '1.0.0', capabilities: ['press1.start'] };
 * ```
 */
export interface ModuleRegistration {
  name: string;
  version: string;
  capabilities: string[];
  /** Shared secret, when the server authenticates; never logged. */
  token?: string;
}

/** RegisterAck `data` sent by the server on success. */
export interface RegisterAckData {
  server: string;
  version: string;
  heartbeat_ms: number;
  max_payload: number;
}

/**
 * Validates Register `data`; throws ERR_INVALID_MESSAGE naming the fault.
 *
 * @example
 * ```ts
 * parseRegistration({ name: 'press1' }); // { name: 'press1', version: '', capabilities: [] }
 * ```
 */
export function parseRegistration(data: unknown): ModuleRegistration {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new IpcError('ERR_INVALID_MESSAGE', 'Invalid registration: data must be an object');
  }
  const d = data as Record<string, unknown>;
  const name = d.name;
  if (typeof name !== 'string' || !MODULE_NAME_PATTERN.test(name) || name === SYSTEM_DOMAIN) {
    throw new IpcError('ERR_INVALID_MESSAGE', `Invalid module name: ${String(name)}`);
  }
  const version = d.version ?? '';
  if (typeof version !== 'string') {
    throw new IpcError('ERR_INVALID_MESSAGE', 'Invalid registration: version must be a string');
  }
  const caps = d.capabilities ?? [];
  if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string')) {
    throw new IpcError(
      'ERR_INVALID_MESSAGE',
      'Invalid registration: capabilities must be an array of strings',
    );
  }
  const reg: ModuleRegistration = { name, version, capabilities: caps as string[] };
  if (typeof d.token === 'string') reg.token = d.token;
  return reg;
}
