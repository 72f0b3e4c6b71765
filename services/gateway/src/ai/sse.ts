// Server-sent events (text/event-stream) framing, as providers stream their answers: a byte-by-byte safe
// parser following the WHATWG event-stream rules, and the encoder for the OpenAI chunks the gateway sends.
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The `event:` field; null when the event had none (the "message" type). */
  event: string | null;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen on the stream (ids persist across events, as the spec says), or null. */
  id: string | null;
}

const LF = 10;
const CR = 13;

/**
 * Incremental event-stream parser. Bytes may arrive split anywhere: inside a UTF-8 sequence (the
 * StringDecoder holds partial characters), inside a line, or between the CR and LF of one line break.
 * Only the incomplete line and the event being built are kept between pushes.
 */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  /** Text of the line not yet terminated. */
  private partial = '';
  /** The previous chunk ended with CR: an LF starting the next one belongs to the same line break. */
  private skipLf = false;
  /** Until the first character: a leading BOM is dropped. */
  private atStart = true;
  private eventType = '';
  private data = '';
  private hasData = false;
  private lastId: string | null = null;

  push(bytes: Buffer): SseEvent[] {
    return this.feed(this.decoder.write(bytes));
  }

  /**
   * End of stream. Like the official SDKs' decoders (and unlike a browser EventSource), a last line and
   * event that were not terminated by a line break and blank line are still dispatched: some servers end
   * at EOF, and a truncated JSON payload fails where the caller parses it.
   */
  end(): SseEvent[] {
    const out = this.feed(this.decoder.end());
    if (this.partial.length > 0) {
      this.line(this.partial, out);
      this.partial = '';
    }
    this.dispatch(out);
    return out;
  }

  private feed(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (text.length === 0) return out;
    if (this.atStart) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.length === 0) return out;
      this.atStart = false;
    }
    let start = 0;
    if (this.skipLf) {
      this.skipLf = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = this.partial.length > 0 ? this.partial + text.slice(start, i) : text.slice(start, i);
      this.partial = '';
      this.line(line, out);
      if (c === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) this.partial += text.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return; // comment (keep-alives such as OpenRouter's ": PROCESSING")
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        break; // `retry` and unknown fields: nothing a translator needs
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.hasData) out.push({ event: this.eventType === '' ? null : this.eventType, data: this.data, id: this.lastId });
    this.eventType = '';
    this.data = '';
    this.hasData = false;
  }
}

/** One SSE event carrying `json` (JSON text has no raw line breaks, so one `data:` line suffices). */
export function encodeSseData(json: string): string {
  return `data: ${json}\n\n`;
}
