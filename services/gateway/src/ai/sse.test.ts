import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, encodeSseData, type SseEvent } from './sse.js';

function whole(text: string | Buffer): SseEvent[] {
  const p = new SseParser();
  return [...p.push(Buffer.isBuffer(text) ? text : Buffer.from(text)), ...p.end()];
}

function byteByByte(text: string | Buffer): SseEvent[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...p.push(bytes.subarray(i, i + 1)));
  return [...out, ...p.end()];
}

/** Every split of the input into two pushes gives the same events. */
function everySplit(text: string): void {
  const bytes = Buffer.from(text);
  const expected = whole(bytes);
  for (let i = 0; i <= bytes.length; i++) {
    const p = new SseParser();
    const got = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i)), ...p.end()];
    assert.deepEqual(got, expected, `split at byte ${i}`);
  }
}

// An Anthropic stream as the API sends it (abridged from the Messages streaming reference).
const ANTHROPIC = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Grüße 👋"}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');

test('a whole stream fed at once and byte by byte gives the same events', () => {
  const a = whole(ANTHROPIC);
  assert.equal(a.length, 4);
  assert.deepEqual(a.map((e) => e.event), ['message_start', 'ping', 'content_block_delta', 'message_stop']);
  assert.equal(JSON.parse(a[2]!.data).delta.text, 'Grüße 👋');
  assert.deepEqual(byteByByte(ANTHROPIC), a);
});

test('CRLF, LF and CR line breaks give the same events, also split between CR and LF', () => {
  const lf = 'event: a\ndata: 1\n\ndata: 2\n\n';
  const crlf = lf.replace(/\n/g, '\r\n');
  const cr = lf.replace(/\n/g, '\r');
  const expected = [
    { event: 'a', data: '1', id: null },
    { event: null, data: '2', id: null },
  ];
  for (const t of [lf, crlf, cr]) {
    assert.deepEqual(whole(t), expected);
    assert.deepEqual(byteByByte(t), expected);
    everySplit(t);
  }
  // A CR at the end of one chunk and the LF at the start of the next are one line break, not an empty line.
  const p = new SseParser();
  assert.deepEqual(p.push(Buffer.from('data: x\r')), []);
  assert.deepEqual(p.push(Buffer.from('\ndata: y\r\n')), []);
  assert.deepEqual(p.push(Buffer.from('\r\n')), [{ event: null, data: 'x\ny', id: null }]);
});

test('a multibyte UTF-8 character split across chunks arrives whole', () => {
  const text = 'data: {"t":"€ 日本 🎉"}\n\n';
  const bytes = Buffer.from(text);
  const euro = bytes.indexOf(Buffer.from('€'));
  const p = new SseParser();
  const got = [...p.push(bytes.subarray(0, euro + 1)), ...p.push(bytes.subarray(euro + 1, euro + 2)), ...p.push(bytes.subarray(euro + 2))];
  assert.deepEqual(got, [{ event: null, data: '{"t":"€ 日本 🎉"}', id: null }]);
  everySplit(text);
});

test('multi-line data is joined with \\n; one leading space is stripped, a second one kept', () => {
  assert.deepEqual(whole('data: first\ndata:second\ndata:  third\n\n'), [{ event: null, data: 'first\nsecond\n third', id: null }]);
});

test('comments and unknown fields are ignored; an empty data field still dispatches', () => {
  assert.deepEqual(whole(': keep-alive\nretry: 100\nfoo: bar\ndata\n\n: PROCESSING\n\n'), [{ event: null, data: '', id: null }]);
});

test('a blank line without data dispatches nothing and resets the event type', () => {
  assert.deepEqual(whole('event: a\n\ndata: x\n\n'), [{ event: null, data: 'x', id: null }]);
});

test('ids persist across events; ids with NUL are ignored', () => {
  assert.deepEqual(whole('id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n'), [
    { event: null, data: 'a', id: '7' },
    { event: null, data: 'b', id: '7' },
    { event: null, data: 'c', id: '7' },
  ]);
});

test('a leading BOM is stripped, also when it arrives byte by byte; a later one is data', () => {
  const text = '\uFEFFdata: a\n\ndata: \uFEFFb\n\n';
  assert.deepEqual(whole(text), [
    { event: null, data: 'a', id: null },
    { event: null, data: '\uFEFFb', id: null },
  ]);
  assert.deepEqual(byteByByte(text), whole(text));
});

test('end() dispatches a last event that EOF cut before its blank line', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(Buffer.from('data: {"a":1}\r\n')), []);
  assert.deepEqual(p.end(), [{ event: null, data: '{"a":1}', id: null }]);
  assert.deepEqual(whole('data: {"a":'), [{ event: null, data: '{"a":', id: null }]);
});

test('encodeSseData frames one JSON value as one event the parser reads back', () => {
  const json = JSON.stringify({ text: 'line\nbreak' });
  assert.equal(encodeSseData(json), `data: ${json}\n\n`);
  assert.deepEqual(whole(encodeSseData(json)), [{ event: null, data: json, id: null }]);
});
