import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { H1Pool, keepAliveHintMs, type H1Handler, type H1RequestOptions } from './h1-client.js';

interface Result {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request through the pool, collected; rejects with the error the handler got. */
function request(pool: H1Pool, opts: Partial<H1RequestOptions> = {}, hooks: Partial<H1Handler> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let statusText = '';
    const headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    pool.dispatch(
      { method: 'GET', path: '/', headers: [], ...opts },
      {
        onConnect: (abort) => hooks.onConnect?.(abort),
        onHeaders(s, raw, resume, text) {
          status = s;
          statusText = text;
          for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
          return hooks.onHeaders ? hooks.onHeaders(s, raw, resume, text) : true;
        },
        onData(c) {
          chunks.push(Buffer.from(c));
          return hooks.onData ? hooks.onData(c) : true;
        },
        onComplete: () => resolve({ status, statusText, headers, body: Buffer.concat(chunks) }),
        onError: reject,
      },
    );
  });
}

/** Polls `cond` every 10 ms until it holds; rejects after `timeoutMs`. */
async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string; sockets: Set<Socket> }> {
  const server = createHttpServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  closers.push(() => server.closeAllConnections());
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

/** A raw TCP server that answers every request with `reply` (bytes), optionally closing after it. */
async function rawServer(reply: (n: number) => string | Buffer, close = false): Promise<{ origin: string; accepted: () => number }> {
  let accepted = 0;
  let n = 0;
  const server: NetServer = createNetServer((s) => {
    accepted++;
    s.on('error', () => undefined);
    s.on('data', (d) => {
      if (!d.includes('\r\n\r\n')) return;
      s.write(reply(n++));
      if (close) s.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted: () => accepted };
}

function pool(origin: string, o: ConstructorParameters<typeof H1Pool>[1] = {}): H1Pool {
  const p = new H1Pool(origin, o);
  closers.push(() => p.destroy());
  return p;
}

describe('h1-client against real servers', { timeout: 30_000 }, () => {
  test('content-length responses on one kept-alive connection, headers as sent', async () => {
    const { origin, server } = await httpServer((req, res) => {
      res.setHeader('X-Echo-Path', req.url ?? '');
      res.setHeader('x-host', req.headers.host ?? '');
      res.end('hello');
    });
    let connections = 0;
    server.on('connection', () => connections++);
    const p = pool(origin);
    for (let i = 0; i < 3; i++) {
      const r = await request(p, { path: `/a/${i}?q=1`, headers: ['x-one', '1'] });
      assert.equal(r.status, 200);
      assert.equal(r.statusText, 'OK');
      assert.equal(r.body.toString(), 'hello');
      assert.equal(r.headers['x-echo-path'], `/a/${i}?q=1`);
      assert.equal(r.headers['x-host'], new URL(origin).host);
    }
    assert.equal(connections, 1);
  });

  test('chunked response with trailers, and a close-delimited one', async () => {
    const { origin } = await httpServer((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-t' });
      res.write('a'.repeat(10));
      setTimeout(() => {
        res.write('b'.repeat(70_000));
        res.addTrailers({ 'x-t': '1' });
        res.end();
      }, 5);
    });
    const r = await request(pool(origin));
    assert.equal(r.body.length, 70_010);
    assert.equal(r.body.toString().slice(0, 11), 'aaaaaaaaaab');
    const raw = await rawServer(() => 'HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nuntil the end', true);
    const p = pool(raw.origin);
    const c = await request(p);
    assert.equal(c.body.toString(), 'until the end');
    assert.equal(p.connections, 0, 'a close-delimited response ends its connection');
  });

  test('request bodies: buffer with content-length, stream chunked, stream with declared length', async () => {
    const { origin } = await httpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => res.end(`${req.method} ${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${Buffer.concat(parts).toString()}`));
    });
    const p = pool(origin);
    assert.equal((await request(p, { method: 'POST', body: Buffer.from('xyz') })).body.toString(), 'POST 3 - xyz');
    assert.equal((await request(p, { method: 'POST' })).body.toString(), 'POST 0 - ');
    assert.equal((await request(p, { method: 'PUT', body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) })).body.toString(), 'PUT - chunked abcd');
    assert.equal(
      (await request(p, { method: 'PUT', headers: ['content-length', '4'], body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) })).body.toString(),
      'PUT 4 - abcd',
    );
    await assert.rejects(request(p, { method: 'POST', headers: ['content-length', '5'], body: Buffer.from('xyz') }), { code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' });
  });

  test('string bodies go as UTF-8 with their byte length, with an ASCII head and with a latin1 one; the connection is reused', async () => {
    const seen: { length: string | undefined; tag: string | undefined; body: Buffer }[] = [];
    const { sockets, origin } = await httpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        seen.push({ length: req.headers['content-length'], tag: req.headers['x-tag'] as string | undefined, body: Buffer.concat(parts) });
        res.end('ok');
      });
    });
    const p = pool(origin);
    const text = '{"é":"€😀","q":"\\"x\\""}';
    assert.equal((await request(p, { method: 'POST', headers: ['x-tag', 'plain'], body: text })).body.toString(), 'ok');
    // A header value with a latin1 byte (0xE9): sent as that one byte, the body still as UTF-8.
    assert.equal((await request(p, { method: 'POST', headers: ['x-tag', 'caf\u00e9'], body: text })).body.toString(), 'ok');
    await assert.rejects(request(p, { method: 'POST', headers: ['content-length', String(text.length)], body: text }), { code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' });
    const bytes = Buffer.from(text, 'utf8');
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.equal(s.length, String(bytes.length));
      assert.deepEqual(s.body, bytes);
    }
    assert.equal(seen[0]!.tag, 'plain');
    assert.equal(seen[1]!.tag, 'caf\u00e9', 'node reads header bytes as latin1');
    assert.equal(sockets.size, 1, 'both on one kept-alive connection');
  });

  test('a large streamed body arrives intact, chunked and with a declared length, under socket backpressure', async () => {
    const { origin } = await httpServer((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        n += d.length;
        h.update(d);
      });
      req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
    });
    const parts = Array.from({ length: 128 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const want = createHash('sha256');
    for (const p of parts) want.update(p);
    const digest = want.digest('hex');
    const p = pool(origin);
    const chunked = await request(p, { method: 'PUT', body: Readable.from(parts) });
    assert.equal(chunked.body.toString(), `${8 * 1024 * 1024} ${digest}`);
    const declared = await request(p, { method: 'PUT', headers: ['content-length', String(8 * 1024 * 1024)], body: Readable.from(parts) });
    assert.equal(declared.body.toString(), `${8 * 1024 * 1024} ${digest}`);
  });

  test('HEAD, 204 and 304 have no body even when they announce a length', async () => {
    const { origin } = await httpServer((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
      else res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const p = pool(origin);
    for (const [method, path, status] of [['HEAD', '/', 200], ['GET', '/204', 204], ['GET', '/304', 304], ['GET', '/', 200]] as const) {
      const r = await request(p, { method, path });
      assert.equal(r.status, status);
      assert.equal(r.body.length, method === 'GET' && status === 200 ? 5 : 0);
    }
  });

  test('1xx responses are skipped before the final one', async () => {
    const raw = await rawServer(() => 'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok');
    const r = await request(pool(raw.origin));
    assert.equal(r.status, 201);
    assert.equal(r.body.toString(), 'ok');
  });

  test('backpressure: no onData after false until resume', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const { origin } = await httpServer((_req, res) => res.end(big));
    let resume: () => void = () => undefined;
    let calls = 0;
    let paused = false;
    let dataWhilePaused = 0;
    const done = request(
      pool(origin),
      {},
      {
        onHeaders: (_s, _h, r) => {
          resume = r;
          return true;
        },
        onData: () => {
          if (paused) dataWhilePaused++;
          calls++;
          if (calls === 1) {
            paused = true;
            setTimeout(() => {
              paused = false;
              resume();
            }, 100);
            return false;
          }
          return true;
        },
      },
    );
    const r = await done;
    assert.equal(r.body.length, big.length);
    // Bytes already read from the socket in the same read are still delivered; later reads are not.
    assert.ok(dataWhilePaused <= 1, `${dataWhilePaused} chunks delivered while paused`);
  });

  test('strict parsing: malformed heads fail with a bad-response code, an oversized head with overflow', async () => {
    const bad = [
      'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n',
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nbad name: 1\r\ncontent-length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nx: 1\r\n folded\r\ncontent-length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\nx: 1\r\n\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nx: a\x01b\r\ncontent-length: 0\r\n\r\n',
    ];
    for (const reply of bad) {
      const raw = await rawServer(() => reply);
      await assert.rejects(request(pool(raw.origin)), { code: 'HPE_INVALID_CONSTANT' }, JSON.stringify(reply));
    }
    const huge = await rawServer(() => `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(2000)}\r\ncontent-length: 0\r\n\r\n`);
    await assert.rejects(request(pool(huge.origin, { maxHeaderSize: 1024 })), { code: 'UND_ERR_HEADERS_OVERFLOW' });
    const many = await rawServer(() => `HTTP/1.1 200 OK\r\n${'x: 1\r\n'.repeat(20)}content-length: 0\r\n\r\n`);
    await assert.rejects(request(pool(many.origin, { maxHeaderCount: 10 })), { code: 'HPE_INVALID_CONSTANT' });
    const short = await rawServer(() => 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', true);
    await assert.rejects(request(pool(short.origin)), { code: 'UND_ERR_SOCKET' });
  });

  test('reads share one buffer: a head split across reads parses, and body chunks kept uncopied stay intact', async () => {
    // Two connections answer at once, in pieces: the head split inside a header, the body in three
    // writes. The handlers keep every chunk as given (no copy): the client must hand out its own bytes.
    const pieces = (tag: string): Buffer[] => [
      Buffer.from(`HTTP/1.1 200 OK\r\nx-tag: ${tag}`),
      // Shrinking pieces: a later read does not overwrite all of an earlier one's bytes.
      Buffer.from(`${tag}\r\ncontent-length: 3000\r\n\r\n${tag.repeat(1500)}`),
      Buffer.from(tag.repeat(1000)),
      Buffer.from(tag.repeat(500)),
    ];
    const server: NetServer = createNetServer((s) => {
      s.on('error', () => undefined);
      s.once('data', (d) => {
        const tag = /x-want: (\w)/.exec(d.toString())![1]!;
        let i = 0;
        const next = (): void => {
          s.write(pieces(tag)[i++]!);
          if (i < 4) setTimeout(next, 15);
        };
        next();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const p = pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const kept = (tag: string): Promise<{ tag: string; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let got = '';
        p.dispatch(
          { method: 'GET', path: '/', headers: ['x-want', tag] },
          {
            onConnect: () => undefined,
            onHeaders: (_s, raw) => {
              got = raw[raw.indexOf('x-tag') + 1]!;
              return true;
            },
            onData: (c) => (chunks.push(c), true),
            onComplete: () => resolve({ tag: got, body: Buffer.concat(chunks) }),
            onError: reject,
          },
        );
      });
    const [a, b] = await Promise.all([kept('a'), kept('b')]);
    assert.equal(a.tag, 'aa');
    assert.equal(b.tag, 'bb');
    assert.equal(a.body.toString(), 'a'.repeat(3000));
    assert.equal(b.body.toString(), 'b'.repeat(3000));
  });

  test('a header value with CR/LF is refused before anything is sent', async () => {
    const raw = await rawServer(() => 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    await assert.rejects(request(pool(raw.origin), { headers: ['x-a', 'b\r\nx-injected: 1'] }), { code: 'UND_ERR_INVALID_ARG' });
    await assert.rejects(request(pool(raw.origin), { headers: ['bad name', 'b'] }), { code: 'UND_ERR_INVALID_ARG' });
    assert.equal(raw.accepted(), 0);
  });

  test('connection limit: 6 concurrent requests over at most 2 connections', async () => {
    let open = 0;
    let peak = 0;
    const { origin, server } = await httpServer((_req, res) => setTimeout(() => res.end('x'), 30));
    server.on('connection', (s) => {
      open++;
      peak = Math.max(peak, open);
      s.on('close', () => open--);
    });
    const p = pool(origin, { connections: 2 });
    const rs = await Promise.all(Array.from({ length: 6 }, () => request(p)));
    assert.equal(rs.length, 6);
    assert.equal(peak, 2);
  });

  test('idle connections close after the keep-alive timeout', async () => {
    const { origin, sockets } = await httpServer((_req, res) => res.end('x'));
    const p = pool(origin, { keepAliveTimeout: 100 });
    await request(p);
    assert.equal(p.connections, 1);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(p.connections, 0);
    assert.equal(sockets.size, 0);
  });

  test("the upstream's Keep-Alive timeout hint: an idle connection is closed by the pool a second before the upstream's limit", async () => {
    // Node's http server announces `Keep-Alive: timeout=5` and closes idle connections then: a request written
    // on such a connection as the upstream closes it fails (a POST cannot be sent again), so the pool gives up
    // an idle connection at hint − 1 s, whatever its own (longer) keep-alive timeout. This upstream announces
    // 2 s and never closes anything itself, so whatever closes the connection is the pool.
    const up = await rawServer(() => 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=2\r\ncontent-length: 1\r\n\r\nx');
    const p = pool(up.origin, { keepAliveTimeout: 30_000 });
    await request(p);
    await request(p);
    assert.equal(up.accepted(), 1, 'reused within the hint');
    const idleFrom = performance.now();
    await waitUntil(() => p.connections === 0, 5_000);
    const idleMs = performance.now() - idleFrom;
    assert.ok(idleMs >= 990, `closed after ${idleMs.toFixed(0)} ms idle: not before hint − 1 s`);
    const third = await request(p);
    assert.equal(third.status, 200);
    assert.equal(up.accepted(), 2, 'the next request goes on a new connection');
  });

  test("a connection past the hint's limit is not reused even before the pool's timer closes it", async () => {
    // The request path checks the idle time itself: the timer may run late on a busy thread.
    const up = await rawServer(() => 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=2\r\ncontent-length: 1\r\n\r\nx');
    const p = pool(up.origin, { keepAliveTimeout: 30_000 });
    await request(p);
    // Block the thread past the limit: no timer can run meanwhile.
    const until = performance.now() + 1_050;
    while (performance.now() < until);
    await request(p);
    assert.equal(up.accepted(), 2);
  });

  test('a Keep-Alive hint of one second or less: the connection is not reused; a malformed hint is ignored', async () => {
    const short = await rawServer(() => 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 1\r\n\r\nx');
    const p = pool(short.origin);
    await request(p);
    await request(p);
    assert.equal(short.accepted(), 2);
    const odd = await rawServer(() => 'HTTP/1.1 200 OK\r\nkeep-alive: max=5, timeout=soon\r\ncontent-length: 1\r\n\r\nx');
    const q = pool(odd.origin);
    await request(q);
    await request(q);
    assert.equal(odd.accepted(), 1);
    assert.equal(keepAliveHintMs('timeout=5'), 5000);
    assert.equal(keepAliveHintMs('max=100, timeout=15'), 15_000);
    assert.equal(keepAliveHintMs('Timeout = "7"'), 7000);
    assert.equal(keepAliveHintMs('max=5'), -1);
    assert.equal(keepAliveHintMs('xtimeout=5'), -1);
  });

  test('headers timeout, connect refused, abort in flight', async () => {
    const { origin } = await httpServer(() => undefined); // never answers
    const t0 = Date.now();
    await assert.rejects(request(pool(origin), { headersTimeout: 150 }), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    const took = Date.now() - t0;
    assert.ok(took >= 140 && took < 2_000, `timed out after ${took} ms`);

    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = pool(`http://127.0.0.1:${port}`);
    await assert.rejects(request(down), { code: 'ECONNREFUSED' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(down.connections, 0, 'no reconnect loop after a refused connect');

    const p = pool(origin);
    const gone = new Error('client went away');
    await assert.rejects(
      request(p, {}, { onConnect: (abort) => setTimeout(() => abort(gone), 50) }),
      (e) => e === gone,
    );
    assert.equal(p.connections, 0, 'the aborted request took its connection down');
  });

  test('an idle connection the upstream closed is dropped from the pool', async () => {
    // Answers, then closes the connection 20 ms later without saying so (no Connection: close).
    let accepted = 0;
    const server = createNetServer((s) => {
      accepted++;
      s.on('error', () => undefined);
      s.on('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        setTimeout(() => s.destroy(), 20);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const p = pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.equal((await request(p)).body.toString(), 'ok');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(p.connections, 0);
    assert.equal((await request(p)).body.toString(), 'ok');
    assert.equal(accepted, 2);
  });

  test('a reused connection closed under a request: an idempotent one goes again once, a POST fails', async () => {
    // Answers the first request of each connection; closes the connection when a second one arrives on it
    // (what a keep-alive timeout racing with a reuse looks like from the client).
    let accepted = 0;
    const server = createNetServer((s) => {
      accepted++;
      let n = 0;
      s.on('error', () => undefined);
      s.on('data', () => {
        if (n++ === 0) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else s.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const p = pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.equal((await request(p)).body.toString(), 'ok');
    assert.equal((await request(p)).body.toString(), 'ok', 'GET retried on a new connection');
    assert.equal(accepted, 2);
    await assert.rejects(request(p, { method: 'POST', body: Buffer.from('x') }), { code: 'UND_ERR_SOCKET' });
    assert.equal(accepted, 2, 'the POST was not sent again');
  });
});
