// A minimal HTTP/1.1 keep-alive upstream client over node:net, with the callbacks of undici's legacy
// DispatchHandler (onConnect / onHeaders(status, rawHeaders, resume, statusText) / onData → backpressure /
// onComplete / onError), so the proxy handler can use either. It does only what a reverse proxy needs:
// one request per connection at a time (no pipelining), a pool with a connection limit and a keep-alive
// timeout, strict response parsing with size limits, content-length / chunked / close-delimited bodies.
// Errors carry undici's codes (UND_ERR_*, HPE_*) so that errors.ts maps them the same way.
// Why: undici's dispatch path (its request/queue machinery, llhttp in WASM, per-request timers) is about a
// third of the gateway's CPU per request (docs/benchmarks.md); this does the same job with less.
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface H1Handler {
  /** Called once the request is assigned (before any I/O); `abort` cancels it at any point. */
  onConnect(abort: (err?: Error) => void): void;
  /** Optional: the request is being written on a connection (a new one just connected, or a reused one). */
  onRequestSent?(): void;
  /** Final (non-1xx) response head. rawHeaders: flat [name, value, …] as received (latin1 strings). */
  onHeaders(status: number, rawHeaders: string[], resume: () => void, statusText: string): boolean;
  /** false: stop reading from the upstream until `resume` (from onHeaders) is called. `chunk` is the handler's to keep. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
}

export interface H1RequestOptions {
  method: string;
  /** Origin-form request target (`/path?query`). */
  path: string;
  /** Flat [name, value, …]; a `host` header, when absent, is the pool's origin host. */
  headers: readonly string[];
  body?: Buffer | string | Readable | null;
  /** ms from dispatch until the response head is complete; 0 = none. */
  headersTimeout?: number;
  /** ms of silence allowed between body bytes; 0 = none. */
  bodyTimeout?: number;
}

export interface H1PoolOptions {
  /** Most connections open at once (in use + idle + connecting). */
  connections?: number;
  /** An idle connection is closed after this many ms. */
  keepAliveTimeout?: number;
  connectTimeout?: number;
  /** Largest response head (status line + headers) in bytes. */
  maxHeaderSize?: number;
  maxHeaderCount?: number;
  /** Default headersTimeout / bodyTimeout when a request sets none. */
  headersTimeout?: number;
  bodyTimeout?: number;
}

export class H1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'H1Error';
  }
}

/** Buffered request bodies up to this size go out in one write with the head. */
const ONE_WRITE_BODY_MAX = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');
/** Every connection's reads, one at a time (the callbacks run synchronously on this thread). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Buffer#latin1Slice (in Node's Buffer prototype, not in its typings): a one-byte string, no decoding. */
const latin1 = (b: Buffer, start: number, end: number): string => (b as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

// RFC 9110 tchar.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;
// Field-value and reason-phrase bytes: VCHAR, obs-text, SP, HTAB.
const VCHAR = new Uint8Array(256);
for (let c = 32; c < 256; c++) VCHAR[c] = c === 127 ? 0 : 1;
VCHAR[9] = 1;

const INVALID_VALUE = /[\r\n\0]/;
const NON_ASCII = /[^\0-\x7f]/;

/** A body the connection reads from (and must not reuse the connection after, nor send again). */
function isStream(body: Buffer | string | Readable | null): body is Readable {
  return body !== null && typeof body !== 'string' && !Buffer.isBuffer(body);
}

/** Whether the values checkHeaders last passed were all ASCII (names are tokens: ASCII always). */
let checkedAscii = true;

/** What a request head may not contain: header names must be tokens, values free of CR, LF and NUL. */
function checkHeaders(h: readonly string[]): string | null {
  // Table scans, not regexes: a dozen short strings per request, and two regex calls each cost more.
  let high = 0;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (!isToken(name)) return `invalid header name ${JSON.stringify(name)}`;
    const value = h[i + 1]!;
    for (let j = 0; j < value.length; j++) {
      const c = value.charCodeAt(j);
      if (c === 13 || c === 10 || c === 0) return `invalid value for header ${name}`;
      high |= c;
    }
  }
  checkedAscii = high < 128;
  return null;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

const enum St {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  Close,
  Done,
}

/** One in-flight request. */
class Request {
  conn: Conn | null = null;
  done = false;
  /** A reused connection failed before any response byte: the request may be sent again once. */
  retried = false;
  /** A string body's head has only ASCII characters (set by dispatch): head and body go out as one string. */
  asciiHead = false;
  constructor(
    readonly pool: H1Pool,
    readonly opts: H1RequestOptions,
    readonly handler: H1Handler,
    readonly head: string,
    /** A string is sent as UTF-8. */
    readonly body: Buffer | string | Readable | null,
    readonly chunkedBody: boolean,
    readonly headersTimeout: number,
    readonly bodyTimeout: number,
  ) {}

  /** The handler's resume: only for this request, even after its connection moved on to another one. */
  resume = (): void => {
    if (this.conn !== null && !this.done) this.conn.resume();
  };

  abort = (err?: Error): void => {
    if (this.done) return;
    const e = err ?? new H1Error('request aborted', 'UND_ERR_ABORTED');
    if (this.conn !== null) this.conn.destroy(e);
    else {
      this.pool.dequeue(this);
      this.fail(e);
    }
  };

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    if (isStream(this.body)) this.body.destroy();
    this.handler.onError(err);
  }
}

/** One upstream connection and its response parser. */
class Conn {
  readonly socket: Socket;
  req: Request | null = null;
  connected = false;
  /** Since the last response or since connecting, for the keep-alive timeout. */
  idleSince = 0;
  /**
   * How long this connection may sit idle: the pool's keep-alive timeout, or less when the upstream announced
   * its own (`Keep-Alive: timeout=N`), minus a second so that we close it before the upstream does — a request
   * written just as the upstream closes an idle connection fails, and a POST cannot be sent again.
   */
  idleLimit: number;
  /** Timeout bookkeeping (checked by the pool's tick): 0 = none. */
  deadline = 0;
  deadlineCode = '';
  destroyed = false;
  /** Served a request already (a failure before any response byte then may be a stale keep-alive). */
  reused = false;
  // parser
  st = St.Head;
  head: Buffer | null = null;
  remaining = 0;
  sawBytes = false;
  keepAlive = true;
  paused = false;
  status = 0;
  chunkLine = '';
  trailerBytes = 0;
  /** Body bytes still to write for a streamed body with a declared length; -1 when chunked. */
  bodyLeft = -1;

  constructor(readonly pool: H1Pool) {
    this.idleLimit = pool.keepAliveTimeout;
    // Reads land in one shared buffer (`onread`): no per-read allocation and no Readable machinery
    // (push, 'data', nextTick) per response. Everything kept past the call is copied out (see deliver).
    this.socket = connect({ host: pool.host, port: pool.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.onSocketRead } });
    this.socket.on('connect', this.onSocketConnect);
    this.socket.on('end', this.onSocketEnd);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
    if (pool.connectTimeout > 0) {
      this.deadline = performance.now() + pool.connectTimeout;
      this.deadlineCode = 'UND_ERR_CONNECT_TIMEOUT';
    }
  }

  onSocketConnect = (): void => {
    this.connected = true;
    this.deadline = 0;
    this.pool.onConnected(this);
  };

  resume = (): void => {
    if (this.paused && !this.destroyed) {
      this.paused = false;
      this.socket.resume();
    }
  };

  send(req: Request): void {
    this.req = req;
    req.conn = this;
    this.st = St.Head;
    this.head = null;
    this.sawBytes = false;
    this.keepAlive = true;
    this.status = 0;
    this.trailerBytes = 0;
    this.setDeadline(req.headersTimeout, 'UND_ERR_HEADERS_TIMEOUT');
    req.handler.onRequestSent?.();
    const s = this.socket;
    const body = req.body;
    if (body === null) s.write(req.head, 'latin1');
    else if (typeof body === 'string') {
      // Head and text body as one string write (Node encodes it straight into the socket write, no Buffer
      // of ours): only when the head is ASCII, as its latin1 bytes would otherwise change as UTF-8.
      if (req.asciiHead) s.write(req.head + body, 'utf8');
      else {
        const headLength = Buffer.byteLength(req.head, 'latin1');
        const out = Buffer.allocUnsafe(headLength + Buffer.byteLength(body, 'utf8'));
        out.write(req.head, 0, headLength, 'latin1');
        out.write(body, headLength, 'utf8');
        s.write(out);
      }
    } else if (Buffer.isBuffer(body)) {
      if (body.length <= ONE_WRITE_BODY_MAX) {
        // Head and a small body in one buffer, one plain write: a corked pair goes through the stream's
        // writev path (a request object, an array of chunks) that cost a Lambda invoke ~6 µs in a profile.
        const headLength = Buffer.byteLength(req.head, 'latin1');
        const out = Buffer.allocUnsafe(headLength + body.length);
        out.write(req.head, 0, headLength, 'latin1');
        body.copy(out, headLength);
        s.write(out);
      } else {
        s.cork();
        s.write(req.head, 'latin1');
        s.write(body);
        s.uncork();
      }
    } else {
      s.write(req.head, 'latin1');
      this.bodyLeft = req.chunkedBody ? -1 : Number(headerValue(req.opts.headers, 'content-length'));
      this.pipeBody(req, body);
    }
  }

  pipeBody(req: Request, body: Readable): void {
    const s = this.socket;
    const onData = (chunk: Buffer): void => {
      if (this.req !== req || this.destroyed) return;
      if (this.bodyLeft >= 0) {
        this.bodyLeft -= chunk.length;
        if (this.bodyLeft < 0) return this.destroy(new H1Error('request body longer than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
      }
      let ok: boolean;
      if (req.chunkedBody) {
        if (chunk.length === 0) return; // a zero-size chunk would end the body
        // All three writes always happen (a false return only asks us to slow down).
        s.cork();
        s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        s.write(chunk);
        ok = s.write('\r\n', 'latin1');
        s.uncork();
      } else ok = s.write(chunk);
      if (!ok) {
        body.pause();
        s.once('drain', () => body.resume());
      }
    };
    const onEnd = (): void => {
      if (this.req !== req || this.destroyed) return;
      if (this.bodyLeft > 0) return this.destroy(new H1Error('request body shorter than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
      if (req.chunkedBody) s.write('0\r\n\r\n', 'latin1');
    };
    const onError = (err: Error): void => {
      if (this.req === req) this.destroy(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  }

  setDeadline(ms: number, code: string): void {
    if (ms > 0) {
      this.deadline = performance.now() + ms;
      this.deadlineCode = code;
      this.pool.needTick(ms);
    } else this.deadline = 0;
  }

  /** true: keep reading (backpressure pauses the socket itself, in deliver/onHead). */
  onSocketRead = (nread: number, buf: Uint8Array): boolean => {
    this.onSocketData(nread === buf.length ? (buf as Buffer) : (buf as Buffer).subarray(0, nread));
    return true;
  };

  /** `chunk` is READ_BUFFER's: valid only during this call. */
  onSocketData(chunk: Buffer): void {
    const req = this.req;
    if (req === null) {
      // Bytes with no request in flight: the connection cannot be trusted any more.
      this.destroy(new H1Error('unexpected data from upstream', 'HPE_INVALID_CONSTANT'));
      return;
    }
    this.sawBytes = true;
    let off = 0;
    while (off < chunk.length && this.req === req && !this.destroyed) {
      switch (this.st) {
        case St.Head:
          off = this.parseHead(chunk, off);
          break;
        case St.Length: {
          const n = Math.min(this.remaining, chunk.length - off);
          this.remaining -= n;
          const last = this.remaining === 0;
          this.deliver(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n));
          off += n;
          if (last) this.complete(null);
          break;
        }
        case St.Close:
          this.deliver(off === 0 ? chunk : chunk.subarray(off));
          off = chunk.length;
          break;
        case St.ChunkSize:
        case St.ChunkEnd:
        case St.Trailers:
          off = this.parseChunkLine(chunk, off);
          break;
        case St.ChunkData: {
          const n = Math.min(this.remaining, chunk.length - off);
          this.remaining -= n;
          this.deliver(chunk.subarray(off, off + n));
          off += n;
          if (this.remaining === 0) this.st = St.ChunkEnd;
          break;
        }
        case St.Done:
          this.destroy(new H1Error('upstream sent more than the response', 'HPE_INVALID_CONSTANT'));
          return;
      }
    }
  }

  deliver(chunk: Buffer): void {
    const req = this.req!;
    if (req.bodyTimeout > 0) this.setDeadline(req.bodyTimeout, 'UND_ERR_BODY_TIMEOUT');
    if (chunk.length === 0) return;
    // A copy: the handler may keep it (a backpressured write), and the read buffer is reused.
    if (!req.handler.onData(Buffer.from(chunk)) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Returns the offset after what it consumed. */
  parseHead(chunk: Buffer, off: number): number {
    let buf: Buffer;
    let base: number;
    if (this.head === null) {
      buf = chunk;
      base = off;
    } else {
      buf = Buffer.concat([this.head, off === 0 ? chunk : chunk.subarray(off)]);
      base = 0;
    }
    const end = buf.indexOf(CRLF2, base);
    const max = this.pool.maxHeaderSize;
    if (end === -1) {
      if (buf.length - base > max) {
        this.destroy(new H1Error('response head too large', 'UND_ERR_HEADERS_OVERFLOW'));
        return chunk.length;
      }
      // Kept across reads: copied out of the read buffer (a concat result is ours already).
      this.head = this.head === null ? Buffer.from(buf.subarray(base)) : buf;
      return chunk.length;
    }
    if (end + 4 - base > max) {
      this.destroy(new H1Error('response head too large', 'UND_ERR_HEADERS_OVERFLOW'));
      return chunk.length;
    }
    // Where the body starts within `chunk`.
    const consumed = this.head === null ? end + 4 : end + 4 - this.head.length + off;
    this.head = null;
    const err = this.onHead(buf, base, end);
    if (err !== null) {
      this.destroy(new H1Error(err, 'HPE_INVALID_CONSTANT'));
      return chunk.length;
    }
    return consumed;
  }

  /** Parses `buf[start, end)` (status line and headers, without the final CRLFCRLF); null or an error. */
  onHead(buf: Buffer, start: number, end: number): string | null {
    const req = this.req!;
    // Status line: HTTP/1.x SP 3DIGIT [SP reason]
    if (end - start < 12 || buf[start] !== 72 || latin1(buf, start, start + 7) !== 'HTTP/1.') return 'invalid status line';
    const minor = buf[start + 7]!;
    if ((minor !== 48 && minor !== 49) || buf[start + 8] !== 32) return 'invalid status line';
    const d0 = buf[start + 9]! - 48;
    const d1 = buf[start + 10]! - 48;
    const d2 = buf[start + 11]! - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return 'invalid status code';
    const status = d0 * 100 + d1 * 10 + d2;
    let lineEnd = buf.indexOf(13, start + 12);
    if (lineEnd === -1 || lineEnd > end) lineEnd = end;
    let statusText = '';
    if (lineEnd > start + 12) {
      if (buf[start + 12] !== 32) return 'invalid status line';
      for (let i = start + 13; i < lineEnd; i++) if (VCHAR[buf[i]!] === 0) return 'invalid reason phrase';
      statusText = latin1(buf, start + 13, lineEnd);
    }
    if (lineEnd !== end && buf[lineEnd + 1] !== 10) return 'invalid line ending';
    // Header fields.
    const raw: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let hasTE = false;
    let connClose = minor === 48; // HTTP/1.0: close unless told otherwise
    let p = lineEnd + 2;
    const maxCount = this.pool.maxHeaderCount;
    while (p < end) {
      let e = buf.indexOf(13, p);
      if (e === -1 || e > end) e = end;
      if (e !== end && buf[e + 1] !== 10) return 'invalid line ending';
      let colon = -1;
      for (let i = p; i < e; i++) {
        const c = buf[i]!;
        if (c === 58) {
          colon = i;
          break;
        }
        if (TCHAR[c] === 0) return 'invalid header name';
      }
      if (colon <= p) return 'invalid header line';
      let vs = colon + 1;
      let ve = e;
      while (vs < ve && (buf[vs] === 32 || buf[vs] === 9)) vs++;
      while (ve > vs && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--;
      for (let i = vs; i < ve; i++) if (VCHAR[buf[i]!] === 0) return 'invalid header value';
      if (raw.length >= maxCount * 2) return 'too many headers';
      const name = latin1(buf, p, colon);
      const value = latin1(buf, vs, ve);
      raw.push(name, value);
      const nl = name.length;
      if (nl === 14 || nl === 17 || nl === 10) {
        const lower = name.toLowerCase();
        if (lower === 'content-length') {
          if (!/^[0-9]{1,15}$/.test(value)) return 'invalid content-length';
          const n = Number(value);
          if (contentLength !== -1 && contentLength !== n) return 'conflicting content-length';
          contentLength = n;
        } else if (lower === 'transfer-encoding') {
          hasTE = true;
          // The final coding decides the framing (RFC 9112 §6.3).
          const codings = value.toLowerCase().split(',');
          chunked = codings[codings.length - 1]!.trim() === 'chunked';
        } else if (lower === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('close')) connClose = true;
          else if (minor === 48 && v.includes('keep-alive')) connClose = false;
        } else if (lower === 'keep-alive') {
          const hint = keepAliveHintMs(value);
          if (hint !== -1) {
            const limit = Math.min(this.pool.keepAliveTimeout, hint - KEEP_ALIVE_HINT_MARGIN_MS);
            // A hint of a second or less leaves no safe idle time: this connection serves this request only.
            if (limit <= 0) connClose = true;
            else this.idleLimit = limit;
          }
        }
      }
      p = e + 2;
    }
    if (status < 200) {
      // 1xx: informational; 101 (protocol switch) is not something this client can carry on.
      if (status === 101) return 'unexpected 101 response';
      this.st = St.Head;
      return null;
    }
    this.status = status;
    this.keepAlive = !connClose;
    this.deadline = 0;
    const noBody = req.opts.method === 'HEAD' || status === 204 || status === 304;
    if (noBody) this.st = St.Done;
    else if (hasTE) {
      if (chunked) this.st = St.ChunkSize;
      else {
        this.st = St.Close;
        this.keepAlive = false;
      }
      // TE with CL: CL is ignored, and the connection must not be reused (RFC 9112 §6.3).
      if (contentLength !== -1) this.keepAlive = false;
      this.chunkLine = '';
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      this.st = contentLength === 0 ? St.Done : St.Length;
    } else {
      this.st = St.Close;
      this.keepAlive = false;
    }
    if (req.bodyTimeout > 0 && this.st !== St.Done) this.setDeadline(req.bodyTimeout, 'UND_ERR_BODY_TIMEOUT');
    if (!req.handler.onHeaders(status, raw, req.resume, statusText) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    if (this.st === St.Done && this.req === req) this.complete(null);
    return null;
  }

  /** Chunk-size line, the CRLF after chunk data, and trailer lines; returns the new offset. */
  parseChunkLine(chunk: Buffer, off: number): number {
    const nl = chunk.indexOf(10, off);
    const piece = latin1(chunk, off, nl === -1 ? chunk.length : nl + 1);
    if (this.chunkLine.length + piece.length > 8192 || (this.st === St.Trailers && (this.trailerBytes += piece.length) > this.pool.maxHeaderSize)) {
      this.destroy(new H1Error('chunk framing line too long', 'HPE_INVALID_CONSTANT'));
      return chunk.length;
    }
    this.chunkLine += piece;
    if (nl === -1) return chunk.length;
    const line = this.chunkLine;
    this.chunkLine = '';
    if (line.length < 2 || line.charCodeAt(line.length - 2) !== 13) {
      this.destroy(new H1Error('invalid chunk framing', 'HPE_INVALID_CONSTANT'));
      return chunk.length;
    }
    if (this.st === St.ChunkEnd) {
      if (line.length !== 2) this.destroy(new H1Error('invalid chunk end', 'HPE_INVALID_CONSTANT'));
      else this.st = St.ChunkSize;
    } else if (this.st === St.ChunkSize) {
      const semi = line.indexOf(';');
      const hex = line.slice(0, semi === -1 ? line.length - 2 : semi).trimEnd();
      if (!/^[0-9A-Fa-f]{1,12}$/.test(hex)) {
        this.destroy(new H1Error('invalid chunk size', 'HPE_INVALID_CONSTANT'));
        return chunk.length;
      }
      const size = parseInt(hex, 16);
      if (size === 0) this.st = St.Trailers;
      else {
        this.remaining = size;
        this.st = St.ChunkData;
      }
    } else if (line.length === 2) {
      // End of trailers (trailers are not forwarded).
      this.complete(null);
    }
    return nl + 1;
  }

  complete(trailers: string[] | null): void {
    const req = this.req!;
    this.req = null;
    this.deadline = 0;
    req.done = true;
    req.conn = null;
    this.reused = true;
    this.st = St.Done;
    // The whole response is in: backpressure from its last chunk no longer matters to this connection.
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    const reusable = this.keepAlive && !isStream(req.body);
    if (!reusable) this.destroy(null);
    req.handler.onComplete(trailers);
    if (reusable && !this.destroyed) this.pool.release(this);
  }

  onSocketEnd = (): void => {
    if (this.req !== null && this.st === St.Close) {
      this.complete(null);
      return;
    }
    this.destroy(this.req === null ? null : new H1Error('upstream closed the connection', 'UND_ERR_SOCKET'));
  };

  onSocketError = (err: Error): void => {
    this.destroy(err);
  };

  onSocketClose = (): void => {
    this.destroy(this.req === null ? null : new H1Error('upstream closed the connection', 'UND_ERR_SOCKET'));
  };

  /** Closes the connection; the request in flight (if any) fails with `err` (or is retried once, see below). */
  destroy(err: Error | null): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
    this.pool.forget(this);
    const req = this.req;
    this.req = null;
    if (req === null) {
      if (!this.connected && err !== null) this.pool.connectFailed(err);
      return;
    }
    req.conn = null;
    // A kept-alive connection the upstream closed just as we reused it: nothing of the response came, so an
    // idempotent request (RFC 9110 §9.2.2; with a body we still hold) can go again, once, on a new
    // connection. A POST may have been processed: its failure goes to the caller, whose retry policy decides.
    const code = (err as { code?: string } | null)?.code;
    if (
      this.reused &&
      !this.sawBytes &&
      !req.retried &&
      !req.done &&
      IDEMPOTENT.has(req.opts.method) &&
      !isStream(req.body) &&
      (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')
    ) {
      req.retried = true;
      this.pool.enqueueFront(req);
      return;
    }
    req.fail(err ?? new H1Error('connection closed', 'UND_ERR_SOCKET'));
  }

  /** Timeouts, from the pool's tick. */
  check(now: number): void {
    if (this.deadline !== 0 && now >= this.deadline) {
      const code = this.deadlineCode;
      const msg = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timed out' : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'upstream response head timed out' : 'upstream body timed out';
      // A paused body (client backpressure) is not the upstream's silence.
      if (code === 'UND_ERR_BODY_TIMEOUT' && this.paused) {
        this.deadline = now + (this.req?.bodyTimeout ?? 0);
        return;
      }
      this.destroy(new H1Error(msg, code));
    }
  }
}

function headerValue(h: readonly string[], name: string): string | undefined {
  for (let i = 0; i < h.length; i += 2) if (h[i]!.length === name.length && h[i]!.toLowerCase() === name) return h[i + 1];
  return undefined;
}

/** Closed this long before the upstream's announced keep-alive timeout (undici's threshold too). */
const KEEP_ALIVE_HINT_MARGIN_MS = 1000;

/** `timeout=N` of a Keep-Alive header (RFC 2068 §19.7.1.1, seconds) in ms; -1 when absent or malformed. */
export function keepAliveHintMs(value: string): number {
  const m = /(?:^|[,;\s])timeout\s*=\s*"?(\d{1,9})"?/i.exec(value);
  return m === null ? -1 : Number(m[1]) * 1000;
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Keep-alive connections to one origin (`http://host:port`). */
export class H1Pool {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly maxConnections: number;
  readonly keepAliveTimeout: number;
  readonly connectTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** Every open or connecting connection. */
  readonly #all = new Set<Conn>();
  /** Idle, connected: the most recently used last (reused first: warm, least likely closed by the upstream). */
  readonly #idle: Conn[] = [];
  #connecting = 0;
  readonly #queue: Request[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #tickMs = 1000;
  #closed = false;

  constructor(origin: string, o: H1PoolOptions = {}) {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new Error(`h1-client: only http: origins (${origin})`);
    this.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port === '' ? 80 : Number(u.port);
    this.hostHeader = u.host;
    this.maxConnections = o.connections ?? 256;
    this.keepAliveTimeout = o.keepAliveTimeout ?? 30_000;
    this.connectTimeout = o.connectTimeout ?? 10_000;
    this.maxHeaderSize = o.maxHeaderSize ?? 64 * 1024;
    this.maxHeaderCount = o.maxHeaderCount ?? 256;
    this.headersTimeout = o.headersTimeout ?? 300_000;
    this.bodyTimeout = o.bodyTimeout ?? 300_000;
    this.needTick(Math.min(this.keepAliveTimeout, this.connectTimeout));
  }

  get connections(): number {
    return this.#all.size;
  }

  /** Sends a request; the handler hears everything, including errors (never thrown). */
  dispatch(opts: H1RequestOptions, handler: H1Handler): boolean {
    const body = opts.body ?? null;
    const headers = opts.headers;
    let err = this.#closed ? 'pool closed' : checkHeaders(headers);
    if (err === null && (opts.path.charCodeAt(0) !== 47 || INVALID_VALUE.test(opts.path) || opts.path.includes(' '))) err = 'invalid request path';
    if (err === null && !isToken(opts.method)) err = 'invalid method';
    let head = `${opts.method} ${opts.path} HTTP/1.1\r\n`;
    let hasHost = false;
    let declared: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const lower = name.length === 4 || name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
      if (lower === 'host') hasHost = true;
      else if (lower === 'content-length') {
        declared = headers[i + 1];
        continue;
      } else if (lower === 'transfer-encoding' || lower === 'connection') continue; // framing is ours
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    if (!hasHost) head += `host: ${this.hostHeader}\r\n`;
    const buf = body;
    let chunked = false;
    if (err === null) {
      if (buf === null) {
        if (declared !== undefined && declared !== '0') err = 'content-length without a body';
        else if (METHODS_WITH_BODY.has(opts.method)) head += 'content-length: 0\r\n';
      } else if (typeof buf === 'string' || Buffer.isBuffer(buf)) {
        const length = typeof buf === 'string' ? Buffer.byteLength(buf, 'utf8') : buf.length;
        if (declared !== undefined && Number(declared) !== length) err = 'content-length does not match the body';
        else head += `content-length: ${length}\r\n`;
      } else if (declared !== undefined) {
        if (!/^[0-9]{1,15}$/.test(declared)) err = 'invalid content-length';
        else head += `content-length: ${declared}\r\n`;
      } else {
        chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
    head += '\r\n';
    const req = new Request(this, opts, handler, head, buf, chunked, opts.headersTimeout ?? this.headersTimeout, opts.bodyTimeout ?? this.bodyTimeout);
    // The header values were scanned by checkHeaders (`checkedAscii`); the host header is the URL's (ASCII).
    if (typeof buf === 'string') req.asciiHead = err === null && checkedAscii && !NON_ASCII.test(opts.path);
    handler.onConnect(req.abort);
    if (req.done) return true;
    if (err !== null) {
      req.fail(new H1Error(err, err === 'pool closed' ? 'UND_ERR_CLOSED' : err.startsWith('content-length') ? 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' : 'UND_ERR_INVALID_ARG'));
      return true;
    }
    this.#assign(req);
    return true;
  }

  #assign(req: Request): void {
    const c = this.#takeIdle();
    if (c !== undefined) {
      c.send(req);
      return;
    }
    this.#queue.push(req);
    this.#grow();
  }

  /** Opens connections for queued requests, within the limit. */
  #grow(): void {
    while (this.#connecting < this.#queue.length && this.#all.size < this.maxConnections) {
      this.#connecting++;
      this.#all.add(new Conn(this));
    }
  }

  /** The most recently used idle connection still inside its idle limit; older ones past it are closed. */
  #takeIdle(): Conn | undefined {
    let c = this.#idle.pop();
    if (c === undefined) return undefined;
    const now = performance.now();
    while (c !== undefined && now - c.idleSince >= c.idleLimit) {
      c.destroy(null);
      c = this.#idle.pop();
    }
    return c;
  }

  enqueueFront(req: Request): void {
    this.#queue.unshift(req);
    const c = this.#takeIdle();
    if (c !== undefined) this.release(c);
    else this.#grow();
  }

  dequeue(req: Request): void {
    const i = this.#queue.indexOf(req);
    if (i !== -1) this.#queue.splice(i, 1);
  }

  onConnected(c: Conn): void {
    this.#connecting--;
    this.release(c);
  }

  /** A connection is free: the next queued request, or the idle list. */
  release(c: Conn): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      c.send(next);
      return;
    }
    c.idleSince = performance.now();
    // The tick runs often enough for this connection's limit (an upstream's short keep-alive hint).
    if (c.idleLimit < this.keepAliveTimeout) this.needTick(c.idleLimit);
    this.#idle.push(c);
  }

  forget(c: Conn): void {
    if (!this.#all.delete(c)) return;
    if (!c.connected) this.#connecting--;
    const i = this.#idle.indexOf(c);
    if (i !== -1) this.#idle.splice(i, 1);
    // A connection that served requests went away: requests still waiting get a new one.
    if (c.connected && !this.#closed && this.#queue.length > 0) this.#grow();
  }

  /** A connect failed: the requests it was opened for fail with its error (no retry loop on a down upstream). */
  connectFailed(err: Error): void {
    while (this.#queue.length > this.#connecting) this.#queue.shift()!.fail(err);
  }

  needTick(ms: number): void {
    const want = Math.max(10, Math.min(1000, Math.floor(ms / 4)));
    if (this.#timer !== null && want >= this.#tickMs) return;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#tickMs = want;
    this.#timer = setInterval(this.#tick, want);
    this.#timer.unref();
  }

  #tick = (): void => {
    const now = performance.now();
    for (const c of this.#all) {
      if (c.req !== null || !c.connected) c.check(now);
      else if (now - c.idleSince >= c.idleLimit) c.destroy(null);
    }
  };

  /** Stops accepting requests; closes idle connections now and busy ones when their response completes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const c of [...this.#idle]) c.destroy(null);
    while (this.#all.size > 0 || this.#queue.length > 0) await new Promise((r) => setTimeout(r, 10));
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  /** Fails everything in flight and closes every connection. */
  destroy(err: Error = new H1Error('pool destroyed', 'UND_ERR_DESTROYED')): void {
    this.#closed = true;
    for (const r of this.#queue.splice(0)) r.fail(err);
    for (const c of [...this.#all]) c.destroy(err);
    if (this.#timer !== null) clearInterval(this.#timer);
  }
}
